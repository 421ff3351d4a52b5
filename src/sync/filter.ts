// Filters (Client-Server API "Filtering"): the Filter object a client uploads or passes inline to /sync, checked
// against the spec's schema, and the matching rules every section of /sync applies: rooms/not_rooms,
// types/not_types with `*` wildcards, senders/not_senders, contains_url, limits, and event_fields.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { errorPath } from '../jsonSchemaErrors.ts';
import type { JsonObject, JsonValue } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import { splitFieldPath } from '../protocol/fieldPath.ts';

export interface EventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

export interface RoomEventFilter extends EventFilter {
  rooms?: string[];
  not_rooms?: string[];
  contains_url?: boolean;
  lazy_load_members?: boolean;
  include_redundant_members?: boolean;
  unread_thread_notifications?: boolean;
}

export interface RoomFilter {
  rooms?: string[];
  not_rooms?: string[];
  include_leave?: boolean;
  ephemeral?: RoomEventFilter;
  state?: RoomEventFilter;
  timeline?: RoomEventFilter;
  account_data?: RoomEventFilter;
}

export interface Filter {
  event_fields?: string[];
  event_format?: 'client' | 'federation';
  presence?: EventFilter;
  account_data?: EventFilter;
  room?: RoomFilter;
}

const strings = { type: 'array', items: { type: 'string' } };
const userIds = { type: 'array', items: { type: 'string', pattern: '^@' } };
const roomIds = { type: 'array', items: { type: 'string', pattern: '^!' } };
// The spec: "The maximum number of events to return, must be an integer greater than 0."
const eventFilterProperties = { limit: { type: 'integer', minimum: 1 }, types: strings, not_types: strings, senders: userIds, not_senders: userIds };
const eventFilterSchema = { type: 'object', properties: eventFilterProperties };
const roomEventFilterSchema = {
  type: 'object',
  properties: {
    ...eventFilterProperties,
    rooms: roomIds,
    not_rooms: roomIds,
    contains_url: { type: 'boolean' },
    lazy_load_members: { type: 'boolean' },
    include_redundant_members: { type: 'boolean' },
    unread_thread_notifications: { type: 'boolean' },
  },
};

/** The spec's Filter schema (definitions/sync_filter.yaml); unknown keys are allowed, as there. */
const FILTER_SCHEMA = {
  type: 'object',
  properties: {
    event_fields: strings,
    event_format: { enum: ['client', 'federation'] },
    presence: eventFilterSchema,
    account_data: eventFilterSchema,
    room: {
      type: 'object',
      properties: {
        rooms: roomIds,
        not_rooms: roomIds,
        include_leave: { type: 'boolean' },
        ephemeral: roomEventFilterSchema,
        state: roomEventFilterSchema,
        timeline: roomEventFilterSchema,
        account_data: roomEventFilterSchema,
      },
    },
  },
};

const ajv = new Ajv({ allErrors: false, strict: false });
const validateFilter: ValidateFunction = ajv.compile(FILTER_SCHEMA);

export class InvalidFilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFilterError';
  }
}

/** The value as a Filter, or InvalidFilterError naming the first problem. */
export function parseFilter(value: unknown): Filter {
  if (!isJsonObject(value)) throw new InvalidFilterError('The filter must be a JSON object');
  if (!validateFilter(value)) {
    const error = (validateFilter.errors ?? [])[0] as ErrorObject;
    throw new InvalidFilterError(`filter${errorPath(error) ? `.${errorPath(error)}` : ''}: ${error.message ?? 'is invalid'}`);
  }
  return value as Filter;
}

const patterns = new Map<string, RegExp>();

/** `*` matches any sequence of characters; everything else literally. */
export function matchesPattern(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  let re = patterns.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    if (patterns.size > 1000) patterns.clear();
    patterns.set(pattern, re);
  }
  return re.test(value);
}

/** What a filter looks at in an event. */
export interface Filterable {
  type: string;
  /** Absent for ephemeral events, which have none: senders/not_senders do not apply to them. */
  sender?: string;
  roomId?: string;
  content?: JsonValue;
}

export function matchesEventFilter(filter: EventFilter | RoomEventFilter | undefined, event: Filterable): boolean {
  if (!filter) return true;
  if (filter.not_types?.some((p) => matchesPattern(p, event.type))) return false;
  if (filter.types && !filter.types.some((p) => matchesPattern(p, event.type))) return false;
  if (event.sender !== undefined) {
    if (filter.not_senders?.includes(event.sender)) return false;
    if (filter.senders && !filter.senders.includes(event.sender)) return false;
  }
  const f = filter as RoomEventFilter;
  if (event.roomId !== undefined && !matchesRoom(f, event.roomId)) return false;
  if (f.contains_url !== undefined) {
    const has = isJsonObject(event.content) && typeof event.content['url'] === 'string';
    if (has !== f.contains_url) return false;
  }
  return true;
}

export function matchesRoom(filter: { rooms?: string[]; not_rooms?: string[] } | undefined, roomId: string): boolean {
  if (!filter) return true;
  if (filter.not_rooms?.includes(roomId)) return false;
  if (filter.rooms && !filter.rooms.includes(roomId)) return false;
  return true;
}

/**
 * True when the filter lets no event through whatever the events are: `types` is [], a `not_types` pattern is only
 * `*`s, `limit` is 0, or (for room events) `rooms` is []. A long poll need not wake for a stream only such a filter reads.
 */
export function excludesEveryEvent(filter: EventFilter | RoomEventFilter | undefined): boolean {
  if (!filter) return false;
  return (
    filter.limit === 0 ||
    filter.types?.length === 0 ||
    (filter.not_types?.some((p) => /^\*+$/.test(p)) ?? false) ||
    (filter as RoomEventFilter).rooms?.length === 0
  );
}

/** The events that pass, at most `limit` of them (the newest, for a list in chronological order). */
export function applyEventFilter<T extends Filterable>(filter: EventFilter | undefined, events: readonly T[]): T[] {
  const passing = events.filter((e) => matchesEventFilter(filter, e));
  return filter?.limit !== undefined && passing.length > filter.limit ? passing.slice(passing.length - filter.limit) : passing;
}

/** For plain JSON events (account data, presence, ephemeral): type, sender and content read from the event. */
export function filterableJson(event: JsonObject, roomId?: string): Filterable {
  const sender = typeof event['sender'] === 'string' ? event['sender'] : undefined;
  return {
    type: typeof event['type'] === 'string' ? event['type'] : '',
    ...(sender !== undefined ? { sender } : {}),
    ...(roomId !== undefined ? { roomId } : {}),
    ...(event['content'] !== undefined ? { content: event['content'] } : {}),
  };
}

export function filterJsonEvents(filter: EventFilter | RoomEventFilter | undefined, events: readonly JsonObject[], roomId?: string): JsonObject[] {
  if (!filter) return [...events];
  const passing = events.filter((e) => matchesEventFilter(filter, filterableJson(e, roomId)));
  return filter.limit !== undefined && passing.length > filter.limit ? passing.slice(passing.length - filter.limit) : passing;
}

/** Only the listed fields of an event (event_fields); an absent or empty list keeps everything. */
export function pickEventFields(event: JsonObject, fields: readonly string[] | undefined): JsonObject {
  if (!fields || fields.length === 0) return event;
  const out: JsonObject = {};
  for (const field of fields) {
    const path = splitFieldPath(field);
    let source: JsonValue | undefined = event;
    for (const key of path) source = isJsonObject(source) ? source[key] : undefined;
    if (source === undefined) continue;
    let target = out;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (!isJsonObject(next)) target[key] = {};
      target = target[key] as JsonObject;
    }
    target[path[path.length - 1] as string] = source;
  }
  return out;
}
