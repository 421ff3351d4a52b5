// The published room directory: listing published rooms (GET/POST /publicRooms) with search, room type filter and
// pagination, and publishing or unpublishing a room (/directory/list/room/{roomId}).
//
// Order: most joined members first, then room id, so the order is stable between requests while membership is.
// Pagination tokens are opaque to clients: `o<offset>` into that order (next_batch and prev_batch alike; which
// token is given sets the direction). The listing is computed from the published rooms' current state on every
// request: cheap for the directories a single server publishes (see BENCHMARKS.md), not for hundreds of thousands.
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import { redactContent } from '../protocol/redaction.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { Queryable } from '../storage/database.ts';
import type { StoredEvent } from '../storage/events.ts';
import { PostgresRoomDirectoryStore, type PublishedRoomRow, type RoomDirectoryStore } from '../storage/directory.ts';
import type { RoomAliases } from './aliases.ts';
import { RoomError, roomForbidden, roomInvalidParam, roomNotFound } from './errors.ts';

/** One room as the directory shows it (spec: PublishedRoomsChunk). */
export interface PublishedRoom {
  room_id: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  avatar_url?: string;
  join_rule?: string;
  room_type?: string;
}

export interface PublicRoomsQuery {
  limit?: number;
  since?: string;
  filter?: { generic_search_term?: string; room_types?: (string | null)[] };
  include_all_networks?: boolean;
  third_party_instance_id?: string;
}

export interface PublicRoomsPage {
  chunk: PublishedRoom[];
  next_batch?: string;
  prev_batch?: string;
  total_room_count_estimate: number;
}

/** Rooms per page when the client gives no limit, and the most a page may hold. */
export const MAX_PUBLIC_ROOMS_LIMIT = 500;

const SEARCHED_TYPES = ['m.room.name', 'm.room.topic', 'm.room.canonical_alias'];
const DESCRIBED_TYPES = [
  ...SEARCHED_TYPES,
  'm.room.create',
  'm.room.avatar',
  'm.room.join_rules',
  'm.room.history_visibility',
  'm.room.guest_access',
];

export interface RoomDirectoryOptions {
  db: Queryable;
  aliases: RoomAliases;
}

export class RoomDirectory {
  readonly store: RoomDirectoryStore;
  private readonly aliases: RoomAliases;

  constructor(opts: RoomDirectoryOptions) {
    this.store = new PostgresRoomDirectoryStore(opts.db);
    this.aliases = opts.aliases;
  }

  /** GET /directory/list/room/{roomId}; 404 M_NOT_FOUND for an unknown room. */
  async visibility(roomId: string): Promise<'public' | 'private'> {
    const published = await this.store.isPublished(roomId);
    if (published === null) throw roomNotFound('Room not found');
    return published ? 'public' : 'private';
  }

  /**
   * PUT /directory/list/room/{roomId}: room admins only, meaning joined members with the power to change the
   * canonical alias (the room's published face), or server admins. 404 for an unknown room, 403 otherwise.
   */
  async setVisibility(userId: string, roomId: string, visibility: 'public' | 'private', serverAdmin: boolean): Promise<void> {
    if ((await this.store.isPublished(roomId)) === null) throw roomNotFound('Room not found');
    if (!serverAdmin && !(await this.aliases.canSendState(userId, roomId, 'm.room.canonical_alias'))) {
      throw roomForbidden('Only room admins may change whether the room is published in the directory');
    }
    if (!(await this.store.setPublished(roomId, visibility === 'public'))) throw roomNotFound('Room not found');
  }

  /** One page of the directory. Other networks (appservice directories) are not kept, so they list no rooms. */
  async publicRooms(query: PublicRoomsQuery): Promise<PublicRoomsPage> {
    if (query.include_all_networks === true && query.third_party_instance_id !== undefined) {
      throw roomInvalidParam('third_party_instance_id can only be used when include_all_networks is false');
    }
    const limit = query.limit ?? MAX_PUBLIC_ROOMS_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 0) throw roomInvalidParam('limit must be a non-negative integer');
    const offset = query.since !== undefined ? parseSince(query.since) : 0;
    if (query.third_party_instance_id !== undefined) return { chunk: [], total_room_count_estimate: 0 };

    // Rooms nobody is joined to are left out (no one there to let anyone in). Filters read only the state they
    // need from every candidate; the page's rooms are then described in full.
    let candidates = await this.store.publishedRooms();
    const types = query.filter?.room_types;
    const term = query.filter?.generic_search_term?.trim().toLowerCase();
    const byType = types !== undefined && types.length > 0;
    if (byType || term) {
      // PDUs are canonical JSON: an ASCII term without characters JSON escapes appears in the PDU text as typed.
      const prefilter = term && /^[\x20-\x7e]*$/.test(term) && !/["\\]/.test(term) ? term : undefined;
      const [created, searched] = await Promise.all([
        byType ? this.store.stateOf('published', ['m.room.create']) : undefined,
        term ? this.store.stateOf('published', SEARCHED_TYPES, prefilter) : undefined,
      ]);
      candidates = candidates.filter((row) => {
        if (byType && !types.includes(describe(row, created?.get(row.roomId)).room_type ?? null)) return false;
        if (term) {
          const room = describe(row, searched?.get(row.roomId));
          if (![room.name, room.topic, room.canonical_alias, room.room_id].some((v) => v !== undefined && v.toLowerCase().includes(term))) return false;
        }
        return true;
      });
    }

    const page = Math.min(limit, MAX_PUBLIC_ROOMS_LIMIT);
    const pageRows = candidates.slice(offset, offset + page);
    const state = await this.store.stateOf(pageRows.map((r) => r.roomId), DESCRIBED_TYPES);
    const chunk = pageRows.map((row) => describe(row, state.get(row.roomId)));
    const out: PublicRoomsPage = { chunk, total_room_count_estimate: candidates.length };
    if (page > 0 && offset + page < candidates.length) out.next_batch = `o${offset + page}`;
    if (offset > 0) out.prev_batch = `o${Math.max(0, offset - page)}`;
    return out;
  }
}

function parseSince(since: string): number {
  const match = /^o(0|[1-9][0-9]{0,8})$/.exec(since);
  if (!match) throw new RoomError(400, 'M_INVALID_PARAM', 'since is not a pagination token from this server');
  return Number(match[1]);
}

/** A published room as the directory shows it, from the state events given (redacted ones as redacted). */
function describe(row: PublishedRoomRow, state: ReadonlyMap<string, StoredEvent> | undefined): PublishedRoom {
  const version = getRoomVersion(row.version);
  const content = (type: string): JsonObject => {
    const event = state?.get(type);
    const c = event?.pdu['content'];
    if (!event || !isJsonObject(c)) return {};
    return event.redactedBy !== null && version ? redactContent(type, c, version) : c;
  };
  const text = (type: string, key: string): string | undefined => {
    const v = content(type)[key];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const room: PublishedRoom = {
    room_id: row.roomId,
    num_joined_members: row.joinedMembers,
    world_readable: content('m.room.history_visibility')['history_visibility'] === 'world_readable',
    guest_can_join: content('m.room.guest_access')['guest_access'] === 'can_join',
  };
  const fields: [keyof PublishedRoom, string, string][] = [
    ['name', 'm.room.name', 'name'],
    ['topic', 'm.room.topic', 'topic'],
    ['canonical_alias', 'm.room.canonical_alias', 'alias'],
    ['avatar_url', 'm.room.avatar', 'url'],
    ['join_rule', 'm.room.join_rules', 'join_rule'],
    ['room_type', 'm.room.create', 'type'],
  ];
  for (const [key, type, contentKey] of fields) {
    const v = text(type, contentKey);
    if (v !== undefined) (room as unknown as Record<string, unknown>)[key] = v;
  }
  return room;
}
