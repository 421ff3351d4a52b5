// Properties of state resolution over random forks of a room: each branch applies only events the auth rules
// allow on that branch, as a real server would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { JsonObject } from '../../src/protocol/json.ts';
import type { RoomEvent, StateKey } from '../../src/protocol/events.ts';
import { stateKey } from '../../src/protocol/events.ts';
import { authTypesForEvent, checkAuth } from '../../src/protocol/authRules.ts';
import type { RoomVersion } from '../../src/protocol/roomVersions.ts';
import type { EventSource, StateMap } from '../../src/protocol/stateResolution.ts';
import { resolveState, splitStates } from '../../src/protocol/stateResolution.ts';
import { ALICE, BOB, CHARLIE, EVELYN, ZARA, version } from '../helpers/roomEvents.ts';

const PEOPLE = [ALICE, BOB, CHARLIE, ZARA, EVELYN];
const LEVELS = [0, 25, 50, 75, 100];

class Branch {
  readonly state: Map<StateKey, RoomEvent>;
  readonly events: Map<string, RoomEvent>;
  readonly rv: RoomVersion;
  readonly roomId: string;
  head: RoomEvent | undefined;
  ts: { n: number };

  constructor(rv: RoomVersion, events: Map<string, RoomEvent>, ts: { n: number }, state = new Map<StateKey, RoomEvent>(), head?: RoomEvent) {
    this.rv = rv;
    this.roomId = rv.roomIdFromCreateEvent ? '!create' : '!room:a.test';
    this.events = events;
    this.ts = ts;
    this.state = state;
    this.head = head;
  }

  fork(): Branch {
    return new Branch(this.rv, this.events, this.ts, new Map(this.state), this.head);
  }

  /** Builds the event on this branch and applies it if the auth rules allow it here. */
  try(type: string, sender: string, key: string, content: JsonObject, force = false): void {
    const n = ++this.ts.n;
    const auth = authTypesForEvent({ type, sender, state_key: key, content }, this.rv)
      .map((k) => this.state.get(stateKey(k.type, k.stateKey))?.event_id)
      .filter((x): x is string => x !== undefined);
    const e: RoomEvent = {
      event_id: type === 'm.room.create' && this.rv.roomIdFromCreateEvent ? '$create' : `$e${n}:a.test`,
      room_id: this.roomId,
      sender,
      type,
      state_key: key,
      content,
      auth_events: auth,
      prev_events: this.head ? [this.head.event_id] : [],
      depth: (this.head?.depth ?? 0) + 1,
      // Coarse timestamps so that ties (broken by event id) happen.
      origin_server_ts: Math.floor(n / 3),
    };
    if (!force && !checkAuth(e, this.state, this.rv).allowed) return;
    this.events.set(e.event_id, e);
    this.state.set(stateKey(type, key), e);
    this.head = e;
  }

  stateMap(): Map<StateKey, string> {
    return new Map([...this.state].map(([k, e]) => [k, e.event_id]));
  }
}

type Action = [branch: number, kind: number, actor: number, target: number, value: number];

function buildForks(versionId: string, branchCount: number, actions: Action[]) {
  const rv = version(versionId);
  const events = new Map<string, RoomEvent>();
  const base = new Branch(rv, events, { n: 0 });
  base.try('m.room.create', ALICE, '', rv.implicitRoomCreator ? {} : { creator: ALICE }, true);
  base.try('m.room.member', ALICE, ALICE, { membership: 'join' });
  base.try('m.room.power_levels', ALICE, '', { users: rv.privilegedCreators ? { [BOB]: 50 } : { [ALICE]: 100, [BOB]: 50 } });
  base.try('m.room.join_rules', ALICE, '', { join_rule: 'public' });
  base.try('m.room.member', BOB, BOB, { membership: 'join' });
  base.try('m.room.member', CHARLIE, CHARLIE, { membership: 'join' });
  const branches = Array.from({ length: branchCount }, () => base.fork());
  for (const [b, kind, a, t, v] of actions) {
    const branch = branches[b % branchCount] as Branch;
    const actor = PEOPLE[a % PEOPLE.length] as string;
    const target = PEOPLE[t % PEOPLE.length] as string;
    switch (kind) {
      case 0:
        branch.try('m.room.topic', actor, '', { topic: `t${v}` });
        break;
      case 1: {
        const current = branch.state.get(stateKey('m.room.power_levels', ''))?.content['users'] as JsonObject;
        const level = LEVELS[v % LEVELS.length] as number;
        if (rv.privilegedCreators && target === ALICE) break;
        branch.try('m.room.power_levels', actor, '', { users: { ...current, [target]: level } });
        break;
      }
      case 2:
        branch.try('m.room.member', actor, actor, { membership: 'join' });
        break;
      case 3:
        branch.try('m.room.member', actor, actor, { membership: 'leave' });
        break;
      case 4:
        branch.try('m.room.member', actor, target, { membership: 'leave' });
        break;
      case 5:
        branch.try('m.room.member', actor, target, { membership: 'ban' });
        break;
      case 6:
        branch.try('m.room.join_rules', actor, '', { join_rule: v % 2 ? 'invite' : 'public' });
        break;
      default:
        branch.try('m.room.member', actor, target, { membership: 'invite' });
    }
  }
  return { events, stateSets: branches.map((b) => b.stateMap()) };
}

const plainSource = (events: Map<string, RoomEvent>): EventSource => ({ getEvent: (id) => Promise.resolve(events.get(id)) });

/** A source that answers auth chains itself (as storage with a chain index would). */
const indexedSource = (events: Map<string, RoomEvent>): EventSource => ({
  getEvent: (id) => Promise.resolve(events.get(id)),
  getAuthChain: (ids) => {
    const seen = new Set<string>();
    const stack = [...ids];
    while (stack.length > 0) {
      for (const a of events.get(stack.pop() as string)?.auth_events ?? []) {
        if (!seen.has(a)) {
          seen.add(a);
          stack.push(a);
        }
      }
    }
    return Promise.resolve(seen);
  },
});

const arbitraryForks = fc.record({
  branches: fc.integer({ min: 2, max: 3 }),
  actions: fc.array(
    fc.tuple(fc.nat(2), fc.nat(7), fc.nat(4), fc.nat(4), fc.nat(9)).map((t): Action => t),
    { minLength: 1, maxLength: 60, size: 'max' },
  ),
});

for (const v of ['1', '2', '11', '12']) {
  test(`v${v}: resolution does not depend on the order of the state sets, nor on who computes the auth chains`, async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryForks, async ({ branches, actions }) => {
        const { events, stateSets } = buildForks(v, branches, actions);
        const a = await resolveState(v, stateSets, plainSource(events));
        const b = await resolveState(v, [...stateSets].reverse(), plainSource(events));
        const c = await resolveState(v, stateSets, indexedSource(events));
        assert.deepEqual(sorted(b), sorted(a));
        assert.deepEqual(sorted(c), sorted(a));
      }),
      { numRuns: 60 },
    );
  });

  test(`v${v}: the unconflicted state is kept, and every resolved event is a real state event of that key`, async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryForks, async ({ branches, actions }) => {
        const { events, stateSets } = buildForks(v, branches, actions);
        const resolved = await resolveState(v, stateSets, plainSource(events));
        const { unconflicted } = splitStates(stateSets);
        for (const [k, id] of unconflicted) assert.equal(resolved.get(k), id);
        for (const [k, id] of resolved) {
          const e = events.get(id);
          assert.ok(e && e.state_key !== undefined && stateKey(e.type, e.state_key) === k);
        }
        // Resolving a state with itself changes nothing.
        const again = await resolveState(v, [resolved, resolved], plainSource(events));
        assert.deepEqual(sorted(again), sorted(resolved));
      }),
      { numRuns: 60 },
    );
  });
}

function sorted(m: StateMap): [string, string][] {
  return [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}
