import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import type { RoomEvent, StateKey } from '../../src/protocol/events.ts';
import { stateKey } from '../../src/protocol/events.ts';
import { resolveState, splitStates } from '../../src/protocol/stateResolution.ts';
import type { NamedEvent } from '../helpers/roomEvents.ts';
import { ALICE, BOB, CHARLIE, EVELYN, LinearRoom, mapSource, resolveDag } from '../helpers/roomEvents.ts';

const PL = stateKey('m.room.power_levels', '');
const JR = stateKey('m.room.join_rules', '');
const TOPIC = stateKey('m.room.topic', '');
const member = (u: string) => stateKey('m.room.member', u);

const topic = (id: string, sender: string): NamedEvent => ({ id, type: 'm.room.topic', sender, state_key: '', content: { topic: id } });
const power = (id: string, sender: string, content: JsonObject): NamedEvent => ({ id, type: 'm.room.power_levels', sender, state_key: '', content });
const mem = (id: string, sender: string, target: string, membership: string): NamedEvent => ({
  id,
  type: 'm.room.member',
  sender,
  state_key: target,
  content: { membership },
});

// The classic cases run in every v2 family: v2 itself, v11 (the last v2 version) and v12 (v2.1). Creators are not
// listed in power levels in v12 (they have infinite power), so alice's 100 is dropped there.
const V2_FAMILY = ['2', '11', '12'];
const users = (v: string, rest: JsonObject): JsonObject => (v === '12' ? rest : { [ALICE]: 100, ...rest });

describe('state resolution v2 / v2.1: classic scenarios', () => {
  for (const v of V2_FAMILY) {
    test(`v${v}: ban against a concurrent power level change: the ban wins and bob's power change is dropped`, async () => {
      const { stateAtEnd } = await resolveDag(
        v,
        [
          power('PA', ALICE, { users: users(v, { [BOB]: 50 }) }),
          mem('MA', ALICE, ALICE, 'join'),
          mem('MB', ALICE, BOB, 'ban'),
          power('PB', BOB, { users: users(v, { [BOB]: 50 }) }),
        ],
        [
          ['END', 'MB', 'MA', 'PA', 'START'],
          ['END', 'PB', 'PA'],
        ],
      );
      assert.equal(stateAtEnd.get(PL), 'PA');
      assert.equal(stateAtEnd.get(member(ALICE)), 'MA');
      assert.equal(stateAtEnd.get(member(BOB)), 'MB');
    });

    test(`v${v}: join rule evasion: a join concurrent with closing the room is rejected`, async () => {
      const { stateAtEnd } = await resolveDag(
        v,
        [
          { id: 'JR', type: 'm.room.join_rules', sender: ALICE, state_key: '', content: { join_rule: 'invite' } },
          mem('ME', EVELYN, EVELYN, 'join'),
        ],
        [
          ['END', 'JR', 'START'],
          ['END', 'ME', 'START'],
        ],
      );
      assert.equal(stateAtEnd.get(JR), 'JR');
      assert.equal(stateAtEnd.has(member(EVELYN)), false);
    });

    test(`v${v}: off-topic power levels: a chain of delegated power level changes survives`, async () => {
      const { stateAtEnd } = await resolveDag(
        v,
        [
          power('PA', ALICE, { users: users(v, { [BOB]: 50 }) }),
          power('PB', BOB, { users: users(v, { [BOB]: 50, [CHARLIE]: 50 }) }),
          power('PC', CHARLIE, { users: users(v, { [BOB]: 50, [CHARLIE]: 0 }) }),
        ],
        [
          ['END', 'PC', 'PB', 'PA', 'START'],
          ['END', 'PA'],
        ],
      );
      assert.equal(stateAtEnd.get(PL), 'PC');
    });

    test(`v${v}: topic basic: the demotion wins and the demoted user's topic is dropped`, async () => {
      const { stateAtEnd } = await resolveDag(
        v,
        [
          topic('T1', ALICE),
          power('PA1', ALICE, { users: users(v, { [BOB]: 50 }) }),
          topic('T2', ALICE),
          power('PA2', ALICE, { users: users(v, { [BOB]: 0 }) }),
          power('PB', BOB, { users: users(v, { [BOB]: 50 }) }),
          topic('T3', BOB),
        ],
        [
          ['END', 'PA2', 'T2', 'PA1', 'T1', 'START'],
          ['END', 'T3', 'PB', 'PA1'],
        ],
      );
      assert.equal(stateAtEnd.get(PL), 'PA2');
      assert.equal(stateAtEnd.get(TOPIC), 'T2');
    });

    test(`v${v}: topic reset: the banned user's topic loses to the older topic`, async () => {
      const { stateAtEnd } = await resolveDag(
        v,
        [topic('T1', ALICE), power('PA', ALICE, { users: users(v, { [BOB]: 50 }) }), topic('T2', BOB), mem('MB', ALICE, BOB, 'ban')],
        [
          ['END', 'MB', 'T2', 'PA', 'T1', 'START'],
          ['END', 'T1'],
        ],
      );
      assert.equal(stateAtEnd.get(TOPIC), 'T1');
      assert.equal(stateAtEnd.get(member(BOB)), 'MB');
      assert.equal(stateAtEnd.get(PL), 'PA');
    });

    test(`v${v}: topic: a later topic on top of a resolved fork wins`, async () => {
      const { stateAtEnd } = await resolveDag(
        v,
        [
          topic('T1', ALICE),
          power('PA1', ALICE, { users: users(v, { [BOB]: 50 }) }),
          topic('T2', ALICE),
          power('PA2', ALICE, { users: users(v, { [BOB]: 0 }) }),
          power('PB', BOB, { users: users(v, { [BOB]: 50 }) }),
          topic('T3', BOB),
          { id: 'MZ1', type: 'm.room.message', sender: CHARLIE, content: { body: 'hi' } },
          topic('T4', ALICE),
        ],
        [
          ['END', 'T4', 'MZ1', 'PA2', 'T2', 'PA1', 'T1', 'START'],
          ['END', 'MZ1', 'T3', 'PB', 'PA1'],
        ],
      );
      assert.equal(stateAtEnd.get(TOPIC), 'T4');
      assert.equal(stateAtEnd.get(PL), 'PA2');
    });

    test(`v${v}: mainline sort: the topic whose power levels are later on the mainline wins, not the later timestamp`, async () => {
      // T3 is older than T4 by timestamp, but it cites PA2 (mainline position 0) while T4 cites PB, which is not
      // on the mainline and reaches it only at PA1 (position 1): T4 is applied first, T3 last.
      const { stateAtEnd } = await resolveDag(
        v,
        [
          topic('T1', ALICE),
          power('PA1', ALICE, { users: users(v, { [BOB]: 50 }) }),
          topic('T2', ALICE),
          power('PA2', ALICE, { users: users(v, { [BOB]: 50 }), events: { 'm.room.power_levels': 100 } }),
          power('PB', BOB, { users: users(v, { [BOB]: 50 }) }),
          topic('T3', BOB),
          topic('T4', ALICE),
        ],
        [
          ['END', 'T3', 'PA2', 'T2', 'PA1', 'T1', 'START'],
          ['END', 'T4', 'PB', 'PA1'],
        ],
      );
      assert.equal(stateAtEnd.get(TOPIC), 'T3');
      assert.equal(stateAtEnd.get(PL), 'PA2');
    });
  }

  test('the same scenario resolves the same whatever the order of the state sets', async () => {
    const { events, stateAtEnd } = await resolveDag(
      '11',
      [topic('T1', ALICE), power('PA', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }), topic('T2', BOB), mem('MB', ALICE, BOB, 'ban')],
      [
        ['END', 'MB', 'T2', 'PA', 'T1', 'START'],
        ['END', 'T1'],
      ],
    );
    // Rebuild the two states at END's prev events from the events themselves and resolve them both ways round.
    const stateAfter = (names: string[]) => {
      const m = new Map<StateKey, string>();
      for (const n of names) {
        const e = events.get(`$${n}`) as RoomEvent;
        if (e.state_key !== undefined) m.set(stateKey(e.type, e.state_key), e.event_id);
      }
      return m;
    };
    const base = ['CREATE', 'IMA', 'IPOWER', 'IJR', 'IMB', 'IMC', 'IMZ'];
    const s1 = stateAfter([...base, 'T1', 'PA', 'T2', 'MB']);
    const s2 = stateAfter([...base, 'T1']);
    const source = mapSource(events);
    const a = await resolveState('11', [s1, s2], source);
    const b = await resolveState('11', [s2, s1], source);
    assert.deepEqual(a, b);
    assert.deepEqual(new Map([...a].map(([k, id]) => [k, id.slice(1)])), stateAtEnd);
  });
});

describe('state resolution: building blocks', () => {
  test('splitStates: a key present everywhere with one value is unconflicted; missing somewhere is conflicted', () => {
    const k1 = stateKey('a', '');
    const k2 = stateKey('b', '');
    const k3 = stateKey('c', '');
    const { unconflicted, conflicted } = splitStates([
      new Map([
        [k1, '$1'],
        [k2, '$2'],
        [k3, '$3'],
      ]),
      new Map([
        [k1, '$1'],
        [k2, '$2b'],
      ]),
    ]);
    assert.deepEqual([...unconflicted], [[k1, '$1']]);
    assert.deepEqual(conflicted.get(k2), new Set(['$2', '$2b']));
    assert.deepEqual(conflicted.get(k3), new Set(['$3']));
  });

  test('no conflict: the state is returned without loading a single event', async () => {
    const room = new LinearRoom('11');
    room.setMember(ALICE, 'join');
    const state = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
    const source = mapSource(room.events);
    const resolved = await resolveState('11', [state, new Map(state)], source);
    assert.deepEqual(resolved, state);
    assert.equal(source.loads, 0);
  });

  test('a state event that cannot be loaded is an error, not a silent omission', async () => {
    const room = new LinearRoom('11');
    room.setMember(ALICE, 'join');
    const state = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
    const other = new Map(state);
    other.set(TOPIC, '$missing');
    await assert.rejects(resolveState('11', [state, other], mapSource(room.events)), /\$missing/);
  });

  test('a rejected auth event is not used in the iterative auth checks (v2.1, which starts from nothing)', async () => {
    // Bob's join is in both states (unconflicted), his topic in one. v2.1 checks the topic against an empty state,
    // so bob's membership comes from the topic's own auth events: usable unless the join was rejected.
    const room = new LinearRoom('12');
    room.setMember(ALICE, 'join');
    room.setPowerLevels({ users: { [BOB]: 50 } });
    room.setJoinRule('public');
    const bobJoin = room.setMember(BOB, 'join');
    const base = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
    const bobTopic = room.send({ type: 'm.room.topic', sender: BOB, state_key: '', content: { topic: 'bob' } });
    const s1 = new Map(base);
    s1.set(TOPIC, bobTopic.event_id);
    const ok = await resolveState('12', [s1, base], mapSource(room.events));
    assert.equal(ok.get(TOPIC), bobTopic.event_id);
    const dropped = await resolveState('12', [s1, base], mapSource(room.events, new Set([bobJoin.event_id])));
    assert.equal(dropped.has(TOPIC), false);
    assert.equal(dropped.get(member(BOB)), bobJoin.event_id, 'the unconflicted state is still put back');
  });
});

describe('state resolution v1 (room version 1)', () => {
  function forkRoom() {
    const room = new LinearRoom('1');
    room.setMember(ALICE, 'join');
    room.setPowerLevels({ users: { [ALICE]: 100, [BOB]: 50 } });
    room.setJoinRule('public');
    room.setMember(BOB, 'join');
    const base = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
    const withEvent = (...es: RoomEvent[]) => {
      const m = new Map(base);
      for (const e of es) m.set(stateKey(e.type, e.state_key ?? ''), e.event_id);
      return m;
    };
    return { room, base, withEvent };
  }

  test('other conflicts: the event with the highest depth that passes auth wins', async () => {
    const { room, withEvent } = forkRoom();
    const low = room.apply(room.build({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 'low' } }));
    const high = room.apply(room.build({ type: 'm.room.topic', sender: BOB, state_key: '', content: { topic: 'high' } }));
    assert.ok(high.depth > low.depth);
    const resolved = await resolveState('1', [withEvent(low), withEvent(high)], mapSource(room.events));
    assert.equal(resolved.get(TOPIC), high.event_id);
  });

  test('other conflicts: a deeper event that fails auth loses to a shallower one that passes', async () => {
    const { room, withEvent } = forkRoom();
    const low = room.apply(room.build({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 'low' } }));
    // Charlie never joined: his topic fails auth against the resolved state.
    const high = room.apply(room.build({ type: 'm.room.topic', sender: CHARLIE, state_key: '', content: { topic: 'high' } }));
    const resolved = await resolveState('1', [withEvent(low), withEvent(high)], mapSource(room.events));
    assert.equal(resolved.get(TOPIC), low.event_id);
  });

  test('power levels: the shallowest is taken, and a deeper one only if it passes auth on top of it', async () => {
    const { room, withEvent } = forkRoom();
    const pa = room.apply(room.build({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 10 } } }));
    // Bob raises himself to 100: not allowed on top of PA, so PA stays.
    const greedy = room.apply(room.build({ type: 'm.room.power_levels', sender: BOB, state_key: '', content: { users: { [ALICE]: 100, [BOB]: 100 } } }));
    const r1 = await resolveState('1', [withEvent(pa), withEvent(greedy)], mapSource(room.events));
    assert.equal(r1.get(PL), pa.event_id);
    // Bob gives charlie 20: allowed on top of PA, so the deeper event wins.
    const fair = room.apply(room.build({ type: 'm.room.power_levels', sender: BOB, state_key: '', content: { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 20 } } }));
    const r2 = await resolveState('1', [withEvent(pa), withEvent(fair)], mapSource(room.events));
    assert.equal(r2.get(PL), fair.event_id);
  });

  test('memberships are resolved after power levels and checked against them', async () => {
    const { room } = forkRoom();
    room.setMember(CHARLIE, 'join');
    const charlieJoin = room.state.get(member(CHARLIE))?.event_id;
    const base = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
    // Fork 1: alice demotes bob. Fork 2: bob (50, kick level 50) kicks charlie.
    const demote = room.apply(room.build({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: { [ALICE]: 100 } } }));
    const kick = room.apply(room.member(CHARLIE, 'leave', BOB));
    const s1 = new Map(base);
    s1.set(PL, demote.event_id);
    const s2 = new Map(base);
    s2.set(member(CHARLIE), kick.event_id);
    const resolved = await resolveState('1', [s1, s2], mapSource(room.events));
    assert.equal(resolved.get(PL), demote.event_id);
    assert.equal(resolved.get(member(CHARLIE)), charlieJoin, 'the kick fails against the demotion');
    // Without the demotion the kick stands.
    const s1b = new Map(base);
    s1b.set(TOPIC, room.send({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 't' } }).event_id);
    const kept = await resolveState('1', [s1b, s2], mapSource(room.events));
    assert.equal(kept.get(member(CHARLIE)), kick.event_id);
  });
});

describe('state resolution v2.1 (room version 12) against v2 (room version 11)', () => {
  test('starting the iterative auth checks from an empty state changes the outcome', async () => {
    // Bob (power 50 in PA) changes the join rule; alice's later P2 demotes him and is in both state sets. In v2
    // bob's change is checked against the unconflicted P2 and fails; in v2.1 it is checked against its own auth
    // events (PA) and passes, after which the unconflicted P2 is put back.
    const run = async (v: string) => {
      const room = new LinearRoom(v);
      const u = (rest: JsonObject): JsonObject => (v === '12' ? rest : { [ALICE]: 100, ...rest });
      room.setMember(ALICE, 'join');
      room.setPowerLevels({ users: u({}) });
      const ijr = room.setJoinRule('public');
      room.setMember(BOB, 'join');
      room.setPowerLevels({ users: u({ [BOB]: 50 }) });
      const jrb = room.build({ type: 'm.room.join_rules', sender: BOB, state_key: '', content: { join_rule: 'invite' } });
      room.events.set(jrb.event_id, jrb);
      const p2 = room.setPowerLevels({ users: u({ [BOB]: 0 }) });
      const base = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
      const s1 = new Map(base);
      s1.set(JR, jrb.event_id);
      const resolved = await resolveState(v, [s1, base], mapSource(room.events));
      assert.equal(resolved.get(PL), p2.event_id);
      return resolved.get(JR) === jrb.event_id ? 'bob' : resolved.get(JR) === ijr.event_id ? 'initial' : 'other';
    };
    assert.equal(await run('11'), 'initial');
    assert.equal(await run('12'), 'bob');
  });

  test('the conflicted state subgraph brings in the power levels between two conflicted ones', async () => {
    // P1 -> P2 -> P3 by auth events. State 1 has P1, state 2 has P3; both contain a topic authorised by P2, so P2
    // is in every auth chain and not in the auth difference. Bob's P3 is only valid on top of P2 (which raised
    // him to 75): v2 never sees P2 and rejects P3; v2.1 adds P2 through the subgraph and accepts P3.
    const run = async (v: string) => {
      const room = new LinearRoom(v);
      const u = (rest: JsonObject): JsonObject => (v === '12' ? rest : { [ALICE]: 100, ...rest });
      room.setMember(ALICE, 'join');
      room.setPowerLevels({ users: u({}) });
      room.setJoinRule('public');
      room.setMember(BOB, 'join');
      room.setMember(CHARLIE, 'join');
      const p1 = room.setPowerLevels({ users: u({ [BOB]: 50 }) });
      room.setPowerLevels({ users: u({ [BOB]: 75 }) });
      const tx = room.send({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 'x' } });
      const p3 = room.setPowerLevels({ users: u({ [BOB]: 75, [CHARLIE]: 75 }) }, BOB);
      const s2 = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
      const s1 = new Map(s2);
      s1.set(PL, p1.event_id);
      assert.equal(s1.get(TOPIC), tx.event_id);
      const resolved = await resolveState(v, [s1, s2], mapSource(room.events));
      return resolved.get(PL) === p3.event_id ? 'P3' : resolved.get(PL) === p1.event_id ? 'P1' : 'other';
    };
    assert.equal(await run('11'), 'P1');
    assert.equal(await run('12'), 'P3');
  });

  test('v12: a creator outranks everyone in the power ordering, even with no power levels entry', async () => {
    // Alice and bob, both at 100 in v11, change the join rule at once; bob's event is older. v11 orders by
    // timestamp, so alice's is applied last and stands. In v12 alice is the creator with infinite power, so hers
    // is ordered first and bob's, applied last, stands.
    const run = async (v: string) => {
      const room = new LinearRoom(v);
      room.setMember(ALICE, 'join');
      room.setPowerLevels({ users: v === '12' ? { [BOB]: 100 } : { [ALICE]: 100, [BOB]: 100 } });
      room.setJoinRule('public');
      room.setMember(BOB, 'join');
      const base = new Map([...room.state].map(([k, e]) => [k, e.event_id]));
      const bobs = room.build({ type: 'm.room.join_rules', sender: BOB, state_key: '', content: { join_rule: 'invite' }, origin_server_ts: 1 });
      const alices = room.build({ type: 'm.room.join_rules', sender: ALICE, state_key: '', content: { join_rule: 'knock' }, origin_server_ts: 2 });
      room.events.set(bobs.event_id, bobs);
      room.events.set(alices.event_id, alices);
      const s1 = new Map(base);
      s1.set(JR, bobs.event_id);
      const s2 = new Map(base);
      s2.set(JR, alices.event_id);
      const resolved = await resolveState(v, [s1, s2], mapSource(room.events));
      return resolved.get(JR) === bobs.event_id ? 'bob' : 'alice';
    };
    assert.equal(await run('11'), 'alice');
    assert.equal(await run('12'), 'bob');
  });
});
