// Builders for room events in protocol tests: a linear room (auth rules) and a DAG of named events (state
// resolution). Event ids are synthetic; auth events are chosen with `authTypesForEvent` from the state before.
import type { JsonObject } from '../../src/protocol/json.ts';
import type { RoomEvent, StateKey } from '../../src/protocol/events.ts';
import { stateKey } from '../../src/protocol/events.ts';
import type { RoomVersion } from '../../src/protocol/roomVersions.ts';
import { getRoomVersion } from '../../src/protocol/roomVersions.ts';
import { authTypesForEvent } from '../../src/protocol/authRules.ts';
import type { EventSource, ResolveOptions, StateMap } from '../../src/protocol/stateResolution.ts';
import { resolveState } from '../../src/protocol/stateResolution.ts';

export const ALICE = '@alice:a.test';
export const BOB = '@bob:b.test';
export const CHARLIE = '@charlie:c.test';
export const ZARA = '@zara:z.test';
export const EVELYN = '@evelyn:e.test';

export interface EventSpec {
  type: string;
  sender: string;
  state_key?: string;
  content?: JsonObject;
  /** Defaults to a fresh `$eN:<sender's server>`. */
  id?: string;
  prev_events?: string[];
  /** Defaults to the auth event selection over the current state. */
  auth_events?: string[];
  redacts?: string;
  origin_server_ts?: number;
  pdu?: JsonObject;
}

export function version(id: string): RoomVersion {
  const rv = getRoomVersion(id);
  if (!rv) throw new Error(`no room version ${id}`);
  return rv;
}

const serverOf = (user: string) => user.slice(user.indexOf(':') + 1);

/** A room built one event after another; `state` is the current state, as `checkAuth` wants it. */
export class LinearRoom {
  readonly version: RoomVersion;
  readonly roomId: string;
  readonly create: RoomEvent;
  readonly state = new Map<StateKey, RoomEvent>();
  readonly events = new Map<string, RoomEvent>();
  #n = 0;
  #last: string[] = [];
  #depth = 0;

  constructor(versionId: string, creator = ALICE, createContent: JsonObject = {}) {
    this.version = version(versionId);
    const v12 = this.version.roomIdFromCreateEvent;
    this.roomId = v12 ? '!roomcreate' : `!room:${serverOf(creator)}`;
    const content: JsonObject = { room_version: versionId, ...(this.version.implicitRoomCreator ? {} : { creator }), ...createContent };
    this.create = this.send({ type: 'm.room.create', sender: creator, state_key: '', content, id: v12 ? '$roomcreate' : undefined });
  }

  build(spec: EventSpec): RoomEvent {
    const id = spec.id ?? `$e${++this.#n}:${serverOf(spec.sender)}`;
    const content = spec.content ?? {};
    const auth =
      spec.auth_events ??
      authTypesForEvent({ type: spec.type, sender: spec.sender, state_key: spec.state_key, content }, this.version)
        .map((k) => this.state.get(stateKey(k.type, k.stateKey))?.event_id)
        .filter((x): x is string => x !== undefined);
    const event: RoomEvent = {
      event_id: id,
      room_id: this.roomId,
      sender: spec.sender,
      type: spec.type,
      content,
      auth_events: auth,
      prev_events: spec.prev_events ?? this.#last,
      depth: this.#depth + 1,
      origin_server_ts: spec.origin_server_ts ?? 1_000 + this.#n,
    };
    if (spec.state_key !== undefined) event.state_key = spec.state_key;
    if (spec.redacts !== undefined) event.redacts = spec.redacts;
    if (spec.pdu !== undefined) event.pdu = spec.pdu;
    return event;
  }

  /** Adds an event without checking it. */
  apply(event: RoomEvent): RoomEvent {
    this.events.set(event.event_id, event);
    if (event.state_key !== undefined) this.state.set(stateKey(event.type, event.state_key), event);
    this.#last = [event.event_id];
    this.#depth = event.depth;
    return event;
  }

  send(spec: EventSpec): RoomEvent {
    return this.apply(this.build(spec));
  }

  member(target: string, membership: string, sender = target, extra: JsonObject = {}): RoomEvent {
    return this.build({ type: 'm.room.member', sender, state_key: target, content: { membership, ...extra } });
  }

  setMember(target: string, membership: string, sender = target, extra: JsonObject = {}): RoomEvent {
    return this.apply(this.member(target, membership, sender, extra));
  }

  setPowerLevels(content: JsonObject, sender = ALICE): RoomEvent {
    return this.send({ type: 'm.room.power_levels', sender, state_key: '', content });
  }

  setJoinRule(joinRule: string, extra: JsonObject = {}, sender = ALICE): RoomEvent {
    return this.send({ type: 'm.room.join_rules', sender, state_key: '', content: { join_rule: joinRule, ...extra } });
  }
}

/** Alice's room: she created it, joined, holds power 100; join rule `public` unless given. */
export function aliceRoom(versionId: string, joinRule = 'public', users: JsonObject = {}): LinearRoom {
  const room = new LinearRoom(versionId);
  room.setMember(ALICE, 'join');
  const v12 = room.version.privilegedCreators;
  room.setPowerLevels({ users: v12 ? { ...users } : { [ALICE]: 100, ...users } });
  room.setJoinRule(joinRule);
  return room;
}

// ---------------------------------------------------------------------------------------------------------------
// DAGs of named events for state resolution, in the style of the classic state resolution test cases.

export interface NamedEvent {
  id: string;
  type: string;
  sender: string;
  state_key?: string;
  content?: JsonObject;
}

/** The classic initial room: CREATE, alice joins, power levels, public join rule, bob, charlie and zara join. */
export function initialEvents(rv: RoomVersion): NamedEvent[] {
  return [
    { id: 'CREATE', type: 'm.room.create', sender: ALICE, state_key: '', content: rv.implicitRoomCreator ? {} : { creator: ALICE } },
    { id: 'IMA', type: 'm.room.member', sender: ALICE, state_key: ALICE, content: { membership: 'join' } },
    {
      id: 'IPOWER',
      type: 'm.room.power_levels',
      sender: ALICE,
      state_key: '',
      content: { users: rv.privilegedCreators ? {} : { [ALICE]: 100 } },
    },
    { id: 'IJR', type: 'm.room.join_rules', sender: ALICE, state_key: '', content: { join_rule: 'public' } },
    { id: 'IMB', type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join' } },
    { id: 'IMC', type: 'm.room.member', sender: CHARLIE, state_key: CHARLIE, content: { membership: 'join' } },
    { id: 'IMZ', type: 'm.room.member', sender: ZARA, state_key: ZARA, content: { membership: 'join' } },
    { id: 'START', type: 'm.room.message', sender: ZARA, content: { body: 'start' } },
    { id: 'END', type: 'm.room.message', sender: ZARA, content: { body: 'end' } },
  ];
}

export interface DagResult {
  /** The state before END, with event ids shortened back to the names given (`$PA` → `PA`). */
  stateAtEnd: Map<StateKey, string>;
  events: Map<string, RoomEvent>;
  source: EventSource;
}

/** Event source over a map, counting loads (for tests that care about laziness). */
export function mapSource(events: ReadonlyMap<string, RoomEvent>, rejected: ReadonlySet<string> = new Set()): EventSource & { loads: number } {
  const source = {
    loads: 0,
    getEvent(id: string) {
      source.loads++;
      return Promise.resolve(events.get(id));
    },
    isRejected(id: string) {
      return rejected.has(id);
    },
  };
  return source;
}

/**
 * Builds the DAG: the initial events in a line ending at START, then `edges` (each list from newest to oldest, as
 * in the classic test cases: `['END', 'MB', 'MA', 'PA', 'START']`). Walks the events in topological order,
 * resolving the states after each event's prev events to get the state before it, and returns the state before END.
 * Timestamps follow declaration order. In v12 the create event id is `$CREATE` and the room id `!CREATE`.
 */
export async function resolveDag(
  versionId: string,
  specs: NamedEvent[],
  edges: string[][],
  options: ResolveOptions = {},
): Promise<DagResult> {
  const rv = version(versionId);
  const initial = initialEvents(rv);
  const all = [...initial.filter((e) => e.id !== 'END'), ...specs, ...initial.filter((e) => e.id === 'END')];
  const byName = new Map(all.map((e) => [e.id, e]));
  const order = new Map(all.map((e, i) => [e.id, i]));
  const prevs = new Map<string, Set<string>>();
  const link = (chain: string[]) => {
    for (let i = 0; i + 1 < chain.length; i++) {
      const [a, b] = [chain[i] as string, chain[i + 1] as string];
      if (!prevs.has(a)) prevs.set(a, new Set());
      prevs.get(a)?.add(b);
    }
  };
  link(initial.filter((e) => e.id !== 'END').map((e) => e.id).reverse());
  for (const chain of edges) link(chain);

  const roomId = rv.roomIdFromCreateEvent ? '!CREATE' : '!room:a.test';
  const events = new Map<string, RoomEvent>();
  const stateAfter = new Map<string, Map<StateKey, string>>();
  const stateBefore = new Map<string, Map<StateKey, string>>();
  const source = mapSource(events);
  const visited = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    if (visited.has(name)) return;
    visited.add(name);
    const ps = [...(prevs.get(name) ?? [])].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
    for (const p of ps) await visit(p);
    const spec = byName.get(name);
    if (!spec) throw new Error(`no event named ${name}`);
    let before: Map<StateKey, string>;
    if (ps.length === 0) before = new Map();
    else if (ps.length === 1) before = new Map(stateAfter.get(ps[0] as string));
    else before = await resolveState(rv, ps.map((p) => stateAfter.get(p) as StateMap), source, options);
    stateBefore.set(name, before);
    const content = spec.content ?? {};
    const auth = authTypesForEvent({ type: spec.type, sender: spec.sender, state_key: spec.state_key, content }, rv)
      .map((k) => before.get(stateKey(k.type, k.stateKey)))
      .filter((x): x is string => x !== undefined);
    const event: RoomEvent = {
      event_id: `$${name}`,
      room_id: roomId,
      sender: spec.sender,
      type: spec.type,
      content,
      auth_events: spec.type === 'm.room.create' ? [] : auth,
      prev_events: ps.map((p) => `$${p}`),
      depth: 1 + Math.max(0, ...ps.map((p) => events.get(`$${p}`)?.depth ?? 0)),
      origin_server_ts: 1_000 + (order.get(name) ?? 0),
    };
    if (spec.state_key !== undefined) event.state_key = spec.state_key;
    events.set(event.event_id, event);
    const after = new Map(before);
    if (spec.state_key !== undefined) after.set(stateKey(spec.type, spec.state_key), event.event_id);
    stateAfter.set(name, after);
  };
  await visit('END');
  const end = stateBefore.get('END') ?? new Map<StateKey, string>();
  return { stateAtEnd: new Map([...end].map(([k, id]) => [k, id.slice(1)])), events, source };
}
