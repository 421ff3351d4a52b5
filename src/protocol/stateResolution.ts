// State resolution (spec v1.19, "Room versions"): v1 for room version 1, v2 for versions 2–11, v2.1 for 12.
// Events are loaded lazily through an `EventSource` that the caller backs with storage.
import { createHash } from 'node:crypto';
import type { RoomEvent, StateKey } from './events.ts';
import { stateKey } from './events.ts';
import type { RoomVersion } from './roomVersions.ts';
import { getRoomVersion } from './roomVersions.ts';
import type { AuthOptions } from './authRules.ts';
import { checkAuth, userPowerLevel } from './authRules.ts';

/** A room state: `stateKey(type, state_key)` → event id. */
export type StateMap = ReadonlyMap<StateKey, string>;

/** Where state resolution gets events from. Everything is asked for lazily and at most once per resolution. */
export interface EventSource {
  /** The event, or undefined if it is not known (unknown auth chain events are skipped; unknown state events throw). */
  getEvent(eventId: string): Promise<RoomEvent | undefined>;
  /**
   * The union of the auth chains of the given events, the events themselves not included. Optional: without it the
   * chain is walked through `getEvent`. Storage with an auth chain index should provide it.
   */
  getAuthChain?(eventIds: readonly string[]): Promise<Iterable<string>>;
  /** Whether the event was rejected (rejected auth events are not used in iterative auth checks). Default: never. */
  isRejected?(eventId: string): boolean | Promise<boolean>;
}

export type ResolveOptions = AuthOptions;

/**
 * Resolves several states of one room into one. `stateSets` map state keys to event ids; the result does too.
 * Signature-dependent auth rules (restricted joins, third party invites) use `options.verifier`; events in a
 * resolution were accepted before, so a caller may pass a verifier that trusts them.
 */
export async function resolveState(
  roomVersion: RoomVersion | string,
  stateSets: readonly StateMap[],
  source: EventSource,
  options: ResolveOptions = {},
): Promise<Map<StateKey, string>> {
  const rv = typeof roomVersion === 'string' ? getRoomVersion(roomVersion) : roomVersion;
  if (!rv) throw new Error(`unknown room version ${String(roomVersion)}`);
  const { unconflicted, conflicted } = splitStates(stateSets);
  if (conflicted.size === 0) return new Map(unconflicted);
  const events = new EventCache(source);
  if (rv.stateResolution === 'v1') return resolveV1(rv, unconflicted, conflicted, events, options);
  return resolveV2(rv, stateSets, unconflicted, conflicted, events, options);
}

/** The unconflicted state map and the conflicted state set (grouped by key). */
export function splitStates(stateSets: readonly StateMap[]): {
  unconflicted: Map<StateKey, string>;
  conflicted: Map<StateKey, Set<string>>;
} {
  const unconflicted = new Map<StateKey, string>();
  const conflicted = new Map<StateKey, Set<string>>();
  const keys = new Set<StateKey>();
  for (const s of stateSets) for (const k of s.keys()) keys.add(k);
  for (const key of keys) {
    const ids = new Set<string>();
    let missing = false;
    for (const s of stateSets) {
      const id = s.get(key);
      if (id === undefined) missing = true;
      else ids.add(id);
    }
    const [only] = ids;
    if (!missing && ids.size === 1 && only !== undefined) unconflicted.set(key, only);
    else conflicted.set(key, ids);
  }
  return { unconflicted, conflicted };
}

class EventCache {
  readonly #source: EventSource;
  readonly #events = new Map<string, Promise<RoomEvent | undefined>>();
  readonly #rejected = new Map<string, boolean>();

  constructor(source: EventSource) {
    this.#source = source;
  }

  get(id: string): Promise<RoomEvent | undefined> {
    let found = this.#events.get(id);
    if (!found) {
      found = this.#source.getEvent(id);
      this.#events.set(id, found);
    }
    return found;
  }

  async require(id: string): Promise<RoomEvent> {
    const event = await this.get(id);
    if (!event) throw new Error(`state resolution: event ${id} is not known`);
    return event;
  }

  async isRejected(id: string): Promise<boolean> {
    const known = this.#rejected.get(id);
    if (known !== undefined) return known;
    const rejected = (await this.#source.isRejected?.(id)) ?? false;
    this.#rejected.set(id, rejected);
    return rejected;
  }

  /** Union of the auth chains of `ids` (not including them). */
  async authChain(ids: readonly string[]): Promise<Set<string>> {
    if (this.#source.getAuthChain) return new Set(await this.#source.getAuthChain(ids));
    const seen = new Set<string>();
    let frontier = [...ids];
    while (frontier.length > 0) {
      const loaded = await Promise.all(frontier.map((id) => this.get(id)));
      const next: string[] = [];
      for (const event of loaded) {
        for (const a of event?.auth_events ?? []) {
          if (!seen.has(a)) {
            seen.add(a);
            next.push(a);
          }
        }
      }
      frontier = next;
    }
    return seen;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// v2 and v2.1

function isPowerEvent(e: RoomEvent): boolean {
  if (e.state_key === undefined) return false;
  if (e.type === 'm.room.power_levels' || e.type === 'm.room.join_rules') return true;
  if (e.type !== 'm.room.member') return false;
  const m = e.content['membership'];
  return (m === 'leave' || m === 'ban') && e.sender !== e.state_key;
}

async function resolveV2(
  rv: RoomVersion,
  stateSets: readonly StateMap[],
  unconflicted: Map<StateKey, string>,
  conflicted: Map<StateKey, Set<string>>,
  events: EventCache,
  options: ResolveOptions,
): Promise<Map<StateKey, string>> {
  const conflictedIds = new Set<string>();
  for (const ids of conflicted.values()) for (const id of ids) conflictedIds.add(id);

  // Auth difference: the union of every state's full auth chain minus their intersection. A state's full auth
  // chain includes its own events (the states' events are in the conflicted or unconflicted set either way).
  const chains = await Promise.all(
    stateSets.map(async (s) => {
      const ids = [...s.values()];
      const chain = await events.authChain(ids);
      for (const id of ids) chain.add(id);
      return chain;
    }),
  );
  const full = new Set(conflictedIds);
  for (const chain of chains) {
    for (const id of chain) if (!chains.every((c) => c.has(id))) full.add(id);
  }
  if (rv.stateResolution === 'v2.1') for (const id of await conflictedSubgraph(conflictedIds, events)) full.add(id);

  // A conflicted state event must be known; an auth chain event that is not is left out, as nothing can check it.
  const fullEvents = new Map<string, RoomEvent>();
  for (const id of full) {
    const e = conflictedIds.has(id) ? await events.require(id) : await events.get(id);
    if (e && e.state_key !== undefined) fullEvents.set(id, e);
  }
  const roomCreate = rv.roomIdFromCreateEvent ? await roomCreateEvent(fullEvents, unconflicted, events) : undefined;

  // Step 1: power events and the parts of their auth chains in the full conflicted set.
  // (The union of their auth chains is the auth chain of them all: one walk, however many power events.)
  const powerIds = new Set<string>();
  for (const [id, e] of fullEvents) if (isPowerEvent(e)) powerIds.add(id);
  for (const a of await events.authChain([...powerIds])) if (fullEvents.has(a)) powerIds.add(a);
  const sortedPower = await reverseTopologicalPowerOrder(powerIds, fullEvents, events, rv, roomCreate);

  // Step 2: iterative auth checks from the unconflicted state (v2) or from nothing (v2.1).
  const start = rv.stateResolution === 'v2.1' ? new Map<StateKey, string>() : new Map(unconflicted);
  const partial = await iterativeAuthChecks(rv, start, sortedPower, events, options, roomCreate);

  // Step 3 and 4: the rest in mainline order of the resolved power levels, checked on top.
  const rest = [...fullEvents.keys()].filter((id) => !powerIds.has(id));
  const plId = partial.get(stateKey('m.room.power_levels', ''));
  const sortedRest = await mainlineOrder(rest, plId, events);
  const resolved = await iterativeAuthChecks(rv, partial, sortedRest, events, options, roomCreate);

  // Step 5: the unconflicted state wins.
  for (const [k, id] of unconflicted) resolved.set(k, id);
  return resolved;
}

/** v12: the create event is not an auth event; it is the event whose id is the room id with `$`. */
async function roomCreateEvent(
  fullEvents: Map<string, RoomEvent>,
  unconflicted: Map<StateKey, string>,
  events: EventCache,
): Promise<RoomEvent | undefined> {
  const createId = unconflicted.get(stateKey('m.room.create', ''));
  if (createId) return events.get(createId);
  const any = fullEvents.values().next().value;
  return any ? events.get(`$${any.room_id.slice(1)}`) : undefined;
}

/**
 * v2.1 conflicted state subgraph: every event on an auth_events path from one conflicted event to another,
 * endpoints included, i.e. events reachable from the conflicted set that can themselves reach it.
 */
async function conflictedSubgraph(conflictedIds: Set<string>, events: EventCache): Promise<Set<string>> {
  const reachable = await events.authChain([...conflictedIds]);
  const reaches = new Map<string, boolean>();
  const visit = async (id: string): Promise<boolean> => {
    const known = reaches.get(id);
    if (known !== undefined) return known;
    // Mark first: auth graphs are acyclic, but a malformed one must not loop forever.
    reaches.set(id, conflictedIds.has(id));
    let result = conflictedIds.has(id);
    const e = await events.get(id);
    for (const a of e?.auth_events ?? []) {
      if (reachable.has(a) && (await visit(a))) result = true;
    }
    reaches.set(id, result);
    return result;
  };
  const out = new Set<string>();
  for (const id of reachable) if (await visit(id)) out.add(id);
  for (const id of conflictedIds) out.add(id);
  return out;
}

async function authEventOfType(e: RoomEvent, type: string, events: EventCache): Promise<RoomEvent | undefined> {
  for (const id of e.auth_events) {
    const a = await events.get(id);
    if (a?.type === type && a.state_key === '') return a;
  }
  return undefined;
}

/** The sender's power level as the event's own auth events give it (for the reverse topological power ordering). */
async function senderPowerLevel(e: RoomEvent, events: EventCache, rv: RoomVersion, roomCreate: RoomEvent | undefined): Promise<number> {
  const pl = await authEventOfType(e, 'm.room.power_levels', events);
  const create = roomCreate ?? (await authEventOfType(e, 'm.room.create', events));
  return userPowerLevel(e.sender, create, pl, rv);
}

interface Ranked {
  id: string;
  power: number;
  ts: number;
}

/** Kahn's algorithm over the auth DAG restricted to `ids`, always taking the smallest candidate. */
async function reverseTopologicalPowerOrder(
  ids: Set<string>,
  fullEvents: Map<string, RoomEvent>,
  events: EventCache,
  rv: RoomVersion,
  roomCreate: RoomEvent | undefined,
): Promise<string[]> {
  const ranked = new Map<string, Ranked>();
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const id of ids) {
    const e = fullEvents.get(id);
    if (!e) continue;
    ranked.set(id, { id, power: await senderPowerLevel(e, events, rv, roomCreate), ts: e.origin_server_ts });
    let count = 0;
    for (const a of new Set(e.auth_events)) {
      if (!ids.has(a) || !fullEvents.has(a)) continue;
      count++;
      const list = dependents.get(a);
      if (list) list.push(id);
      else dependents.set(a, [id]);
    }
    pending.set(id, count);
  }
  const less = (x: Ranked, y: Ranked) =>
    x.power !== y.power ? x.power > y.power : x.ts !== y.ts ? x.ts < y.ts : x.id < y.id;
  const heap = new MinHeap<Ranked>(less);
  for (const [id, count] of pending) if (count === 0) heap.push(ranked.get(id) as Ranked);
  const out: string[] = [];
  for (let next = heap.pop(); next; next = heap.pop()) {
    out.push(next.id);
    for (const d of dependents.get(next.id) ?? []) {
      const left = (pending.get(d) ?? 0) - 1;
      pending.set(d, left);
      if (left === 0) heap.push(ranked.get(d) as Ranked);
    }
  }
  return out;
}

/** Sorts by mainline position (furthest from the resolved power levels first), then origin_server_ts, then id. */
async function mainlineOrder(ids: string[], powerLevelsId: string | undefined, events: EventCache): Promise<string[]> {
  const mainline = new Map<string, number>();
  for (let id = powerLevelsId, i = 0; id !== undefined && !mainline.has(id); i++) {
    mainline.set(id, i);
    const e = await events.get(id);
    id = e ? (await authEventOfType(e, 'm.room.power_levels', events))?.event_id : undefined;
  }
  const memo = new Map<string, number>();
  const position = async (e: RoomEvent): Promise<number> => {
    const walked: string[] = [];
    let result = Infinity;
    for (let cur: RoomEvent | undefined = e; cur; ) {
      const known = memo.get(cur.event_id);
      if (known !== undefined) {
        result = known;
        break;
      }
      walked.push(cur.event_id);
      const pl = await authEventOfType(cur, 'm.room.power_levels', events);
      if (!pl) break;
      const at = mainline.get(pl.event_id);
      if (at !== undefined) {
        result = at;
        break;
      }
      if (walked.includes(pl.event_id)) break;
      cur = pl;
    }
    for (const id of walked) memo.set(id, result);
    return result;
  };
  const keyed = await Promise.all(
    ids.map(async (id) => {
      const e = await events.require(id);
      return { id, pos: await position(e), ts: e.origin_server_ts };
    }),
  );
  keyed.sort((x, y) => (x.pos !== y.pos ? (y.pos > x.pos ? 1 : -1) : x.ts !== y.ts ? x.ts - y.ts : x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return keyed.map((k) => k.id);
}

/**
 * Applies each event that the auth rules allow against the state so far; keys the state lacks come from the
 * event's own (non-rejected) auth events, and in v12 the create event comes from the room id.
 */
async function iterativeAuthChecks(
  rv: RoomVersion,
  start: Map<StateKey, string>,
  ordered: readonly string[],
  events: EventCache,
  options: ResolveOptions,
  roomCreate: RoomEvent | undefined,
): Promise<Map<StateKey, string>> {
  const state = new Map(start);
  for (const id of ordered) {
    const e = await events.require(id);
    if (e.state_key === undefined) continue;
    const fromAuth = new Map<StateKey, RoomEvent>();
    for (const a of e.auth_events) {
      const ae = await events.get(a);
      if (ae?.state_key !== undefined && !(await events.isRejected(a))) fromAuth.set(stateKey(ae.type, ae.state_key), ae);
    }
    const needed = new Map<StateKey, RoomEvent>(fromAuth);
    for (const key of [
      stateKey('m.room.create', ''),
      stateKey('m.room.power_levels', ''),
      stateKey('m.room.join_rules', ''),
      stateKey('m.room.member', e.sender),
      ...(e.type === 'm.room.member' ? [stateKey('m.room.member', e.state_key)] : []),
      ...authKeysFromContent(e),
    ]) {
      const current = state.get(key);
      if (current !== undefined) {
        const ce = await events.get(current);
        if (ce) needed.set(key, ce);
      }
    }
    if (roomCreate && !needed.has(stateKey('m.room.create', ''))) needed.set(stateKey('m.room.create', ''), roomCreate);
    if (checkAuth(e, needed, rv, options).allowed) state.set(stateKey(e.type, e.state_key), id);
  }
  return state;
}

/** The extra auth keys a membership's content names (third party invite token, authorising user). */
function authKeysFromContent(e: RoomEvent): StateKey[] {
  if (e.type !== 'm.room.member') return [];
  const keys: StateKey[] = [];
  const via = e.content['join_authorised_via_users_server'];
  if (typeof via === 'string') keys.push(stateKey('m.room.member', via));
  const tpi = e.content['third_party_invite'];
  const signed = tpi && typeof tpi === 'object' && !Array.isArray(tpi) ? tpi['signed'] : undefined;
  const token = signed && typeof signed === 'object' && !Array.isArray(signed) ? signed['token'] : undefined;
  if (typeof token === 'string') keys.push(stateKey('m.room.third_party_invite', token));
  return keys;
}

class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  push(item: T): void {
    const a = this.#items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.#less(a[i] as T, a[parent] as T)) break;
      [a[i], a[parent]] = [a[parent] as T, a[i] as T];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#less(a[l] as T, a[m] as T)) m = l;
        if (r < a.length && this.#less(a[r] as T, a[m] as T)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as T, a[i] as T];
        i = m;
      }
    }
    return top;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// v1 (room version 1)

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

async function resolveV1(
  rv: RoomVersion,
  unconflicted: Map<StateKey, string>,
  conflicted: Map<StateKey, Set<string>>,
  events: EventCache,
  options: ResolveOptions,
): Promise<Map<StateKey, string>> {
  const resolved = new Map<StateKey, RoomEvent>();
  for (const [k, id] of unconflicted) {
    const e = await events.get(id);
    if (e) resolved.set(k, e);
  }
  const allowedIn = (e: RoomEvent) => checkAuth(e, resolved, rv, options).allowed;
  const load = async (ids: Set<string>) =>
    (await Promise.all([...ids].map((id) => events.require(id)))).map((e) => ({ e, hash: sha1(e.event_id) }));

  // Power levels, then join rules, then memberships: ascending depth, then descending sha1(event_id); the first
  // is taken, each next one while it passes auth in the state so far.
  const byDepthAsc = (x: { e: RoomEvent; hash: string }, y: { e: RoomEvent; hash: string }) =>
    x.e.depth !== y.e.depth ? x.e.depth - y.e.depth : x.hash < y.hash ? 1 : x.hash > y.hash ? -1 : 0;
  const authTypes = ['m.room.power_levels', 'm.room.join_rules', 'm.room.member'];
  // Keys in a fixed order, so that the result does not depend on the order the state sets came in.
  const keys = [...conflicted.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const type of authTypes) {
    for (const [k, ids] of keys) {
      if (!k.startsWith(`${type}\u0000`)) continue;
      const list = (await load(ids)).sort(byDepthAsc);
      const [first, ...others] = list;
      if (!first) continue;
      resolved.set(k, first.e);
      for (const { e } of others) {
        if (!allowedIn(e)) break;
        resolved.set(k, e);
      }
    }
  }
  // Everything else: the highest depth, then lowest sha1(event_id), that passes auth; if none does, the last tried.
  for (const [k, ids] of keys) {
    if (authTypes.some((t) => k.startsWith(`${t}\u0000`))) continue;
    const list = (await load(ids)).sort((x, y) => -byDepthAsc(x, y));
    const pick = list.find(({ e }) => allowedIn(e)) ?? list[list.length - 1];
    if (pick) resolved.set(k, pick.e);
  }
  return new Map([...resolved].map(([k, e]) => [k, e.event_id]));
}
