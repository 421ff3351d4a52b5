// State resolution of a fork with about 1,000 conflicted events: what one merge of two long-diverged branches costs
// (all events in memory, so this is the algorithm's cost, not storage's).
import type { BenchRow } from '../run.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import type { RoomEvent, StateKey } from '../../src/protocol/events.ts';
import { stateKey } from '../../src/protocol/events.ts';
import { authTypesForEvent } from '../../src/protocol/authRules.ts';
import type { RoomVersion } from '../../src/protocol/roomVersions.ts';
import { getRoomVersion } from '../../src/protocol/roomVersions.ts';
import type { EventSource, StateMap } from '../../src/protocol/stateResolution.ts';
import { resolveState, splitStates } from '../../src/protocol/stateResolution.ts';

export interface StateResolutionBenchOptions {
  /** Timed resolutions per figure; the median is reported. */
  readonly rounds?: number;
  /** Room versions to resolve in (one row each). */
  readonly roomVersions?: readonly string[];
}

const SERVER = 'bench.example.org';
const ADMIN_A = `@alice:${SERVER}`;
const ADMIN_B = `@bob:${SERVER}`;
const user = (i: number) => `@user${i}:${SERVER}`;

/** One branch of the room: a current state and a head, sharing the event map with the others. */
class Branch {
  readonly state: Map<StateKey, RoomEvent>;
  head: RoomEvent | undefined;
  readonly #dag: Dag;

  constructor(dag: Dag, state = new Map<StateKey, RoomEvent>(), head?: RoomEvent) {
    this.#dag = dag;
    this.state = state;
    this.head = head;
  }

  fork(): Branch {
    return new Branch(this.#dag, new Map(this.state), this.head);
  }

  send(type: string, sender: string, key: string, content: JsonObject): RoomEvent {
    const rv = this.#dag.version;
    const auth = authTypesForEvent({ type, sender, state_key: key, content }, rv)
      .map((k) => this.state.get(stateKey(k.type, k.stateKey))?.event_id)
      .filter((x): x is string => x !== undefined);
    const n = this.#dag.events.size;
    const id = type === 'm.room.create' && rv.roomIdFromCreateEvent ? '$benchcreate' : `$ev${n}:${SERVER}`;
    const event: RoomEvent = {
      event_id: id,
      room_id: this.#dag.roomId,
      sender,
      type,
      state_key: key,
      content,
      auth_events: auth,
      prev_events: this.head ? [this.head.event_id] : [],
      depth: (this.head?.depth ?? 0) + 1,
      origin_server_ts: 1_700_000_000_000 + n,
    };
    this.#dag.events.set(id, event);
    this.state.set(stateKey(type, key), event);
    this.head = event;
    return event;
  }

  stateMap(): StateMap {
    return new Map([...this.state].map(([k, e]) => [k, e.event_id]));
  }
}

class Dag {
  readonly events = new Map<string, RoomEvent>();
  readonly version: RoomVersion;
  readonly roomId: string;

  constructor(version: RoomVersion) {
    this.version = version;
    this.roomId = version.roomIdFromCreateEvent ? '!benchcreate' : `!bench:${SERVER}`;
  }
}

/**
 * A room with 200 members, then two branches of ~450 state events each by two admins: 400 custom state keys set
 * on both sides, 50 members leaving on each side, 5 power level changes on each side. The conflicted state set
 * holds ~1,000 events and the inner power level changes land in the auth difference.
 */
export function buildForkedRoom(versionId: string): { stateSets: StateMap[]; source: EventSource; conflicted: number } {
  const rv = getRoomVersion(versionId);
  if (!rv) throw new Error(`unknown room version ${versionId}`);
  const dag = new Dag(rv);
  const base = new Branch(dag);
  base.send('m.room.create', ADMIN_A, '', rv.implicitRoomCreator ? { room_version: rv.id } : { room_version: rv.id, creator: ADMIN_A });
  base.send('m.room.member', ADMIN_A, ADMIN_A, { membership: 'join' });
  const admins = (extra: JsonObject = {}): JsonObject => ({
    users: rv.privilegedCreators ? { [ADMIN_B]: 100, ...extra } : { [ADMIN_A]: 100, [ADMIN_B]: 100, ...extra },
  });
  base.send('m.room.power_levels', ADMIN_A, '', admins());
  base.send('m.room.join_rules', ADMIN_A, '', { join_rule: 'public' });
  base.send('m.room.member', ADMIN_B, ADMIN_B, { membership: 'join' });
  for (let i = 0; i < 200; i++) base.send('m.room.member', user(i), user(i), { membership: 'join' });

  const branches = [base.fork(), base.fork()];
  branches.forEach((branch, side) => {
    const admin = side === 0 ? ADMIN_A : ADMIN_B;
    for (let i = 0; i < 450; i++) {
      if (i % 90 === 0) branch.send('m.room.power_levels', admin, '', admins({ [user(side * 100 + i / 90)]: 10 + i / 90 }));
      if (i < 400) branch.send('org.example.setting', admin, `k${i}`, { side, value: i });
      else {
        const leaver = user(side * 50 + (i - 400));
        branch.send('m.room.member', leaver, leaver, { membership: 'leave' });
      }
    }
  });
  const stateSets = branches.map((b) => b.stateMap());
  const { conflicted } = splitStates(stateSets);
  let count = 0;
  for (const ids of conflicted.values()) count += ids.size;
  const source: EventSource = { getEvent: (id) => Promise.resolve(dag.events.get(id)) };
  return { stateSets, source, conflicted: count };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export async function benchStateResolution(options: StateResolutionBenchOptions = {}): Promise<BenchRow[]> {
  const rounds = options.rounds ?? 9;
  const rows: BenchRow[] = [];
  for (const v of options.roomVersions ?? ['11', '12']) {
    const { stateSets, source, conflicted } = buildForkedRoom(v);
    await resolveState(v, stateSets, source); // warm-up
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      await resolveState(v, stateSets, source);
      times.push(performance.now() - t0);
    }
    const algo = getRoomVersion(v)?.stateResolution ?? '?';
    rows.push({
      name: `state resolution ${algo} (room v${v}), ${conflicted} conflicted events`,
      value: median(times),
      unit: 'ms',
      note: `median of ${rounds}, events in memory`,
    });
  }
  return rows;
}
