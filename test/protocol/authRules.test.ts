import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import type { RoomEvent } from '../../src/protocol/events.ts';
import { stateKey } from '../../src/protocol/events.ts';
import type { AuthOptions, AuthResult } from '../../src/protocol/authRules.ts';
import {
  authTypesForEvent,
  checkAuth,
  checkAuthAgainstAuthEvents,
  checkAuthEvents,
  parsePowerLevel,
  userPowerLevel,
} from '../../src/protocol/authRules.ts';
import type { LinearRoom } from '../helpers/roomEvents.ts';
import { ALICE, BOB, CHARLIE, EVELYN, aliceRoom, version, LinearRoom as Room } from '../helpers/roomEvents.ts';

const ALL = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'];
const from = (n: number) => ALL.filter((v) => Number(v) >= n);
const upTo = (n: number) => ALL.filter((v) => Number(v) <= n);

function assertAllowed(result: AuthResult): void {
  assert.deepEqual(result, { allowed: true });
}
function assertRejected(result: AuthResult, reason?: RegExp): void {
  assert.equal(result.allowed, false, 'expected a rejection');
  if (reason && !result.allowed) assert.match(result.reason, reason);
}
const check = (room: LinearRoom, event: RoomEvent, options?: AuthOptions) => checkAuth(event, room.state, room.version, options);
/** Users map for alice's power levels: v12 creators may not be listed. */
const users = (room: LinearRoom, rest: JsonObject): JsonObject => (room.version.privilegedCreators ? rest : { [ALICE]: 100, ...rest });
const trustAll: AuthOptions = { verifier: { isSignedBy: () => true, verifyThirdPartyInvite: () => true } };

describe('m.room.create', () => {
  for (const v of ALL) {
    test(`v${v}: a well-formed create event is allowed; one with prev_events is rejected`, () => {
      const room = new Room(v);
      const create = room.events.values().next().value as RoomEvent;
      assertAllowed(check(room, create));
      assertRejected(check(room, { ...create, prev_events: ['$x:a.test'] }), /prev_events/);
    });
  }

  for (const v of upTo(11)) {
    test(`v${v}: a room_id on another server than the sender's is rejected`, () => {
      const room = new Room(v);
      assertAllowed(check(room, room.create));
      assertRejected(check(room, { ...room.create, room_id: '!room:elsewhere.test' }), /room_id domain/);
    });
  }

  for (const v of ['1', '6', '11', '12']) {
    test(`v${v}: content.room_version must be a known version`, () => {
      const room = new Room(v);
      assertAllowed(check(room, { ...room.create, content: { ...room.create.content, room_version: '9' } }));
      assertRejected(check(room, { ...room.create, content: { ...room.create.content, room_version: 'nope' } }), /room_version/);
    });
  }

  for (const v of upTo(10)) {
    test(`v${v}: content.creator is required`, () => {
      const room = new Room(v);
      assertAllowed(check(room, room.create));
      const { creator: _creator, ...rest } = room.create.content;
      assertRejected(check(room, { ...room.create, content: rest }), /creator/);
    });
  }

  test('v11: content.creator is no longer required (the creator is the sender)', () => {
    const room = new Room('11');
    assert.equal(room.create.content['creator'], undefined);
    assertAllowed(check(room, room.create));
  });

  test('v12: a create event carrying a room_id on the wire is rejected', () => {
    const room = new Room('12');
    assertAllowed(check(room, { ...room.create, pdu: { type: 'm.room.create' } }));
    assertRejected(check(room, { ...room.create, pdu: { type: 'm.room.create', room_id: '!x:a.test' } }), /room_id/);
  });

  test('v12: additional_creators must be a list of valid user ids; v11 ignores it', () => {
    const room = new Room('12');
    const withCreators = (extra: JsonObject) => ({ ...room.create, content: { ...room.create.content, ...extra } });
    assertAllowed(check(room, withCreators({ additional_creators: [BOB, CHARLIE] })));
    assertRejected(check(room, withCreators({ additional_creators: [BOB, 'not-a-user'] })), /additional_creators/);
    assertRejected(check(room, withCreators({ additional_creators: BOB })), /additional_creators/);
    const v11 = new Room('11');
    assertAllowed(check(v11, { ...v11.create, content: { ...v11.create.content, additional_creators: 'ignored' } }));
  });
});

describe('the auth_events list (checkAuthEvents)', () => {
  for (const v of ['1', '11']) {
    test(`v${v}: the selected auth events are allowed; duplicates, extras, rejected, foreign and missing create are not`, () => {
      const room = aliceRoom(v);
      const topic = room.build({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 'x' } });
      const authEvents = topic.auth_events.map((id) => room.events.get(id) as RoomEvent);
      assertAllowed(checkAuthEvents(topic, authEvents, room.version));
      assertAllowed(checkAuthAgainstAuthEvents(topic, authEvents, room.version));
      const create = room.create;
      const joinRules = room.state.get(stateKey('m.room.join_rules', '')) as RoomEvent;
      const otherPl = { ...(room.state.get(stateKey('m.room.power_levels', '')) as RoomEvent), event_id: '$otherpl:a.test' };
      assertRejected(checkAuthEvents(topic, [...authEvents, otherPl], room.version), /duplicate/);
      assertRejected(checkAuthEvents(topic, [...authEvents, joinRules], room.version), /unexpected/);
      assertRejected(checkAuthEvents(topic, authEvents, room.version, { isRejected: (id) => id === create.event_id }), /rejected/);
      const foreign = authEvents.map((e) => (e.type === 'm.room.create' ? { ...e, room_id: '!other:a.test' } : e));
      assertRejected(checkAuthEvents(topic, foreign, room.version), /another room/);
      assertRejected(checkAuthEvents(topic, authEvents.filter((e) => e.type !== 'm.room.create'), room.version), /no m.room.create/);
    });
  }

  test('v12: the create event is implied by the room id and may not be listed; the room id must be its id', () => {
    const room = aliceRoom('12');
    const topic = room.build({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 'x' } });
    const authEvents = topic.auth_events.map((id) => room.events.get(id) as RoomEvent);
    assert.ok(!authEvents.some((e) => e.type === 'm.room.create'));
    assertAllowed(checkAuthEvents(topic, authEvents, room.version, { createEvent: room.create }));
    assertAllowed(checkAuthAgainstAuthEvents(topic, authEvents, room.version, { createEvent: room.create }));
    assertRejected(checkAuthEvents(topic, [...authEvents, room.create], room.version, { createEvent: room.create }), /unexpected/);
    assertRejected(checkAuthEvents(topic, authEvents, room.version), /create event/);
    assertRejected(checkAuthEvents({ ...topic, room_id: '!elsewhere' }, authEvents, room.version, { createEvent: room.create }), /create event/);
    assertRejected(checkAuthEvents(topic, authEvents, room.version, { createEvent: room.create, isRejected: (id) => id === room.create.event_id }), /rejected/);
    // checkAuth makes the same room id check against the create event in the state.
    assertAllowed(check(room, topic));
    assertRejected(check(room, { ...topic, room_id: '!elsewhere' }), /create event/);
  });
});

describe('authTypesForEvent', () => {
  test('v11: create, power levels and sender; memberships add the target and join rules', () => {
    const keys = authTypesForEvent({ type: 'm.room.member', sender: BOB, state_key: CHARLIE, content: { membership: 'invite' } }, '11');
    assert.deepEqual(keys, [
      { type: 'm.room.create', stateKey: '' },
      { type: 'm.room.power_levels', stateKey: '' },
      { type: 'm.room.member', stateKey: BOB },
      { type: 'm.room.member', stateKey: CHARLIE },
      { type: 'm.room.join_rules', stateKey: '' },
    ]);
    assert.deepEqual(authTypesForEvent({ type: 'm.room.create', sender: ALICE, state_key: '', content: {} }, '11'), []);
    const leave = authTypesForEvent({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'leave' } }, '11');
    assert.ok(!leave.some((k) => k.type === 'm.room.join_rules'));
  });

  test('v12: never the create event', () => {
    const keys = authTypesForEvent({ type: 'm.room.message', sender: BOB, content: {} }, '12');
    assert.deepEqual(keys, [
      { type: 'm.room.power_levels', stateKey: '' },
      { type: 'm.room.member', stateKey: BOB },
    ]);
  });

  test('third party invites add the invite named by the token; restricted joins (v8+) the authorising user', () => {
    const invite = authTypesForEvent(
      { type: 'm.room.member', sender: BOB, state_key: CHARLIE, content: { membership: 'invite', third_party_invite: { signed: { token: 'tok' } } } },
      '11',
    );
    assert.ok(invite.some((k) => k.type === 'm.room.third_party_invite' && k.stateKey === 'tok'));
    const join = { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join', join_authorised_via_users_server: ALICE } };
    assert.ok(authTypesForEvent(join, '8').some((k) => k.type === 'm.room.member' && k.stateKey === ALICE));
    assert.ok(!authTypesForEvent(join, '7').some((k) => k.type === 'm.room.member' && k.stateKey === ALICE));
  });
});

describe('m.federate', () => {
  for (const v of ['1', '3', '6', '11', '12']) {
    test(`v${v}: a room that does not federate rejects senders from other servers`, () => {
      const room = new Room(v, ALICE, { 'm.federate': false });
      room.setMember(ALICE, 'join');
      room.setJoinRule('public');
      assertAllowed(check(room, room.member('@alice2:a.test', 'join')));
      assertRejected(check(room, room.member(BOB, 'join')), /not federated/);
    });
  }
});

describe('m.room.aliases', () => {
  for (const v of upTo(5)) {
    test(`v${v}: allowed only for the sender's own server as state_key, even from a non-member`, () => {
      const room = aliceRoom(v);
      const aliases = (sender: string, key?: string) => room.build({ type: 'm.room.aliases', sender, state_key: key, content: { aliases: [] } });
      assertAllowed(check(room, aliases(BOB, 'b.test')));
      assertRejected(check(room, aliases(BOB, 'a.test')), /aliases/);
      assertRejected(check(room, aliases(BOB)), /state_key/);
    });
  }
  for (const v of from(6)) {
    test(`v${v}: no special case: a member with power may send it, a non-member may not`, () => {
      const room = aliceRoom(v);
      const aliases = (sender: string, key: string) => room.build({ type: 'm.room.aliases', sender, state_key: key, content: { aliases: [] } });
      assertAllowed(check(room, aliases(ALICE, 'b.test')));
      assertRejected(check(room, aliases(BOB, 'b.test')), /not joined/);
    });
  }
});

describe('m.room.member: join', () => {
  for (const v of ALL) {
    test(`v${v}: the creator's first join right after the create event is allowed; someone else's is not`, () => {
      const room = new Room(v);
      assertAllowed(check(room, room.member(ALICE, 'join')));
      assertRejected(check(room, room.member(BOB, 'join')));
    });
  }

  test('v1–v10 take the creator from content.creator, v11+ from the sender', () => {
    for (const v of ['10', '11']) {
      const room = new Room(v, ALICE, { creator: BOB });
      const aliceFirst = check(room, room.member(ALICE, 'join'));
      const bobFirst = check(room, room.member(BOB, 'join'));
      if (v === '10') {
        assertRejected(aliceFirst);
        assertAllowed(bobFirst);
      } else {
        assertAllowed(aliceFirst);
        assertRejected(bobFirst);
      }
    }
  });

  test('a member event needs a state_key and a membership; an unknown membership is rejected', () => {
    const room = aliceRoom('11');
    const e = room.member(BOB, 'join');
    assertRejected(check(room, { ...e, content: {} }), /membership/);
    const { state_key: _k, ...noKey } = e;
    assertRejected(check(room, noKey), /state_key/);
    assertRejected(check(room, room.member(BOB, 'dance')), /unknown membership/);
  });

  for (const v of ALL) {
    test(`v${v}: public: anyone may join themselves, nobody on behalf of another, and not when banned`, () => {
      const room = aliceRoom(v);
      assertAllowed(check(room, room.member(BOB, 'join')));
      assertRejected(check(room, room.member(BOB, 'join', ALICE)), /behalf/);
      room.setMember(BOB, 'ban', ALICE);
      assertRejected(check(room, room.member(BOB, 'join')), /banned/);
    });

    test(`v${v}: invite: only invited (or joined) users may join`, () => {
      const room = aliceRoom(v, 'invite');
      assertRejected(check(room, room.member(BOB, 'join')), /invite/);
      room.setMember(BOB, 'invite', ALICE);
      assertAllowed(check(room, room.member(BOB, 'join')));
    });

    test(`v${v}: an unknown join rule lets nobody in`, () => {
      const room = aliceRoom(v, 'private');
      assertRejected(check(room, room.member(BOB, 'join')), /private/);
    });
  }

  for (const v of from(7)) {
    test(`v${v}: knock: joining needs an invite`, () => {
      const room = aliceRoom(v, 'knock');
      assertRejected(check(room, room.member(BOB, 'join')));
      room.setMember(BOB, 'invite', ALICE);
      assertAllowed(check(room, room.member(BOB, 'join')));
    });
  }
  test('v6: knock is an unknown join rule: even an invited user cannot join', () => {
    const room = aliceRoom('6', 'knock');
    room.setMember(BOB, 'invite', ALICE);
    assertRejected(check(room, room.member(BOB, 'join')), /knock/);
  });

  const restrictedCases: [string, string][] = [
    ...from(8).map((v): [string, string] => [v, 'restricted']),
    ...from(10).map((v): [string, string] => [v, 'knock_restricted']),
  ];
  for (const [v, rule] of restrictedCases) {
    test(`v${v}: ${rule}: a join authorised by a joined user who may invite is allowed`, () => {
      const room = aliceRoom(v, rule, { [CHARLIE]: 0 });
      room.setMember(CHARLIE, 'invite', ALICE);
      room.setMember(CHARLIE, 'join');
      const via = (user: string) => room.member(BOB, 'join', BOB, { join_authorised_via_users_server: user });
      assertAllowed(check(room, via(ALICE), trustAll));
      // Without the authorising server's signature the join is rejected (and without a verifier at all).
      assertRejected(check(room, via(ALICE), { verifier: { isSignedBy: (_e, server) => server !== 'a.test' } }), /signed/);
      assertRejected(check(room, via(ALICE)), /signed/);
      // No authoriser, or one who is not in the room, is rejected.
      assertRejected(check(room, room.member(BOB, 'join'), trustAll), /join_authorised_via_users_server/);
      assertRejected(check(room, via(EVELYN), trustAll), /may not invite/);
      // An invited user needs no authoriser.
      room.setMember(BOB, 'invite', ALICE);
      assertAllowed(check(room, room.member(BOB, 'join'), trustAll));
    });

    test(`v${v}: ${rule}: a joined authoriser without invite power cannot authorise`, () => {
      const room = aliceRoom(v, rule, { [CHARLIE]: 0 });
      room.setPowerLevels({ users: users(room, { [CHARLIE]: 0 }), invite: 50 });
      room.setMember(CHARLIE, 'invite', ALICE);
      room.setMember(CHARLIE, 'join');
      assertRejected(check(room, room.member(BOB, 'join', BOB, { join_authorised_via_users_server: CHARLIE }), trustAll), /may not invite/);
    });
  }
  test('v7: restricted is an unknown join rule; v9: knock_restricted is', () => {
    const v7 = aliceRoom('7', 'restricted');
    assertRejected(check(v7, v7.member(BOB, 'join', BOB, { join_authorised_via_users_server: ALICE }), trustAll));
    const v9 = aliceRoom('9', 'knock_restricted');
    assertRejected(check(v9, v9.member(BOB, 'join', BOB, { join_authorised_via_users_server: ALICE }), trustAll));
  });
});

describe('m.room.member: invite', () => {
  for (const v of ['1', '6', '10', '11', '12']) {
    test(`v${v}: a joined member with the invite level may invite; not a joined or banned target`, () => {
      const room = aliceRoom(v);
      assertAllowed(check(room, room.member(BOB, 'invite', ALICE)));
      room.setMember(CHARLIE, 'join');
      assertRejected(check(room, room.member(CHARLIE, 'invite', ALICE)), /already join/);
      room.setMember(EVELYN, 'ban', ALICE);
      assertRejected(check(room, room.member(EVELYN, 'invite', ALICE)), /already ban/);
    });

    test(`v${v}: a non-member or a member below the invite level may not invite`, () => {
      const room = aliceRoom(v);
      assertRejected(check(room, room.member(CHARLIE, 'invite', BOB)), /not joined/);
      room.setMember(BOB, 'join');
      assertAllowed(check(room, room.member(CHARLIE, 'invite', BOB)));
      room.setPowerLevels({ users: users(room, {}), invite: 50 });
      assertRejected(check(room, room.member(CHARLIE, 'invite', BOB)), /may not invite/);
    });
  }

  for (const v of ['1', '11', '12']) {
    test(`v${v}: third party invites: allowed with a matching signature, every other case rejected`, () => {
      const room = aliceRoom(v);
      room.setMember(BOB, 'join');
      room.send({
        type: 'm.room.third_party_invite',
        sender: ALICE,
        state_key: 'tok',
        content: { display_name: 'c…', key_validity_url: 'https://id.test', public_key: 'K1', public_keys: [{ public_key: 'K2' }] },
      });
      const signed = (extra: JsonObject = {}) => ({ mxid: CHARLIE, token: 'tok', signatures: { 'id.test': { 'ed25519:0': 'sig' } }, ...extra });
      const invite = (tpi: JsonObject, sender = ALICE, target = CHARLIE) => room.member(target, 'invite', sender, { third_party_invite: tpi });
      const seen: string[][] = [];
      const verifier: AuthOptions = {
        verifier: {
          verifyThirdPartyInvite: (s, keys) => {
            seen.push([...keys]);
            return (s['signatures'] as JsonObject)['id.test'] !== undefined;
          },
        },
      };
      assertAllowed(check(room, invite({ display_name: 'c', signed: signed() }), verifier));
      assert.deepEqual(seen[0], ['K1', 'K2']);
      // Bad signature, or no verifier at all.
      assertRejected(check(room, invite({ signed: signed({ signatures: { 'evil.test': {} } }) }), verifier), /signature/);
      assertRejected(check(room, invite({ signed: signed() })), /signature/);
      assertRejected(check(room, invite({ display_name: 'c' }), verifier), /signed/);
      assertRejected(check(room, invite({ signed: { mxid: CHARLIE } }), verifier), /mxid or token/);
      assertRejected(check(room, invite({ signed: signed({ mxid: EVELYN }) }), verifier), /mxid/);
      assertRejected(check(room, invite({ signed: signed({ token: 'other' }) }), verifier), /no m.room.third_party_invite/);
      assertRejected(check(room, invite({ signed: signed() }, BOB), verifier), /did not send/);
      room.setMember(CHARLIE, 'ban', ALICE);
      assertRejected(check(room, invite({ signed: signed() }), verifier), /banned/);
    });
  }
});

describe('m.room.member: leave and kick', () => {
  for (const v of ['1', '7', '11', '12']) {
    test(`v${v}: leaving yourself needs to be invited or joined`, () => {
      const room = aliceRoom(v);
      assertRejected(check(room, room.member(BOB, 'leave')), /not in the room/);
      room.setMember(BOB, 'invite', ALICE);
      assertAllowed(check(room, room.member(BOB, 'leave')));
      room.setMember(BOB, 'join');
      assertAllowed(check(room, room.member(BOB, 'leave')));
    });

    test(`v${v}: kicking needs the kick level and a target below the sender; unbanning needs the ban level`, () => {
      const room = aliceRoom(v, 'public', { [BOB]: 50, [CHARLIE]: 50 });
      room.setMember(BOB, 'join');
      room.setMember(CHARLIE, 'join');
      assertAllowed(check(room, room.member(BOB, 'leave', ALICE)));
      assertRejected(check(room, room.member(CHARLIE, 'leave', BOB)), /kick/);
      assertRejected(check(room, room.member(CHARLIE, 'leave', EVELYN)), /not joined/);
      room.setPowerLevels({ users: users(room, { [BOB]: 50, [CHARLIE]: 10 }), ban: 60 });
      assertAllowed(check(room, room.member(CHARLIE, 'leave', BOB)));
      room.setMember(CHARLIE, 'ban', ALICE);
      assertRejected(check(room, room.member(CHARLIE, 'leave', BOB)), /unban/);
      assertAllowed(check(room, room.member(CHARLIE, 'leave', ALICE)));
    });
  }

  test('v7+: a knocking user may withdraw the knock; in v6 knock is not a membership at all', () => {
    const room = aliceRoom('7', 'knock');
    room.setMember(BOB, 'knock');
    assertAllowed(check(room, room.member(BOB, 'leave')));
    const v6 = aliceRoom('6', 'knock');
    assertRejected(check(v6, v6.member(BOB, 'knock')), /unknown membership/);
  });
});

describe('m.room.member: ban', () => {
  for (const v of ['1', '11', '12']) {
    test(`v${v}: banning needs the ban level, a lower target and membership`, () => {
      const room = aliceRoom(v, 'public', { [BOB]: 50, [CHARLIE]: 50 });
      room.setMember(BOB, 'join');
      assertAllowed(check(room, room.member(EVELYN, 'ban', ALICE)));
      assertAllowed(check(room, room.member(EVELYN, 'ban', BOB)));
      assertRejected(check(room, room.member(CHARLIE, 'ban', BOB)), /ban the target/);
      assertRejected(check(room, room.member(BOB, 'ban', CHARLIE)), /not joined/);
      room.setPowerLevels({ users: users(room, { [BOB]: 50 }), ban: 51 });
      assertRejected(check(room, room.member(EVELYN, 'ban', BOB)), /ban the target/);
    });
  }
});

describe('m.room.member: knock', () => {
  for (const v of from(7)) {
    test(`v${v}: knocking is for rooms with the knock rule, for yourself, when not already in`, () => {
      const room = aliceRoom(v, 'knock');
      assertAllowed(check(room, room.member(BOB, 'knock')));
      assertRejected(check(room, room.member(BOB, 'knock', ALICE)), /behalf/);
      room.setMember(BOB, 'invite', ALICE);
      assertRejected(check(room, room.member(BOB, 'knock')), /already invite/);
      const pub = aliceRoom(v, 'public');
      assertRejected(check(pub, pub.member(BOB, 'knock')), /does not allow knocking/);
    });
  }
  for (const v of from(10)) {
    test(`v${v}: knock_restricted allows knocking`, () => {
      const room = aliceRoom(v, 'knock_restricted');
      assertAllowed(check(room, room.member(BOB, 'knock')));
      room.setMember(BOB, 'ban', ALICE);
      assertRejected(check(room, room.member(BOB, 'knock')), /already ban/);
    });
  }
  for (const v of ['8', '9']) {
    test(`v${v}: knock_restricted does not exist yet, so knocking is rejected`, () => {
      const room = aliceRoom(v, 'knock_restricted');
      assertRejected(check(room, room.member(BOB, 'knock')), /does not allow knocking/);
    });
  }
});

describe('other events: membership, power and state_key', () => {
  for (const v of ['1', '6', '11', '12']) {
    test(`v${v}: the sender must be joined`, () => {
      const room = aliceRoom(v);
      const msg = (sender: string) => room.build({ type: 'm.room.message', sender, content: { body: 'hi' } });
      assertAllowed(check(room, msg(ALICE)));
      assertRejected(check(room, msg(BOB)), /not joined/);
      room.setMember(BOB, 'invite', ALICE);
      assertRejected(check(room, msg(BOB)), /not joined/);
    });

    test(`v${v}: m.room.third_party_invite needs the invite level`, () => {
      const room = aliceRoom(v);
      room.setMember(BOB, 'join');
      const tpi = () => room.build({ type: 'm.room.third_party_invite', sender: BOB, state_key: 'tok', content: { public_key: 'K' } });
      assertAllowed(check(room, tpi()));
      room.setPowerLevels({ users: users(room, {}), invite: 10 });
      assertRejected(check(room, tpi()), /may not invite/);
    });

    test(`v${v}: the event's required level: events, events_default, state_default`, () => {
      const room = aliceRoom(v, 'public', { [BOB]: 10 });
      room.setMember(BOB, 'join');
      const ev = (type: string, key?: string) => room.build({ type, sender: BOB, state_key: key, content: {} });
      assertAllowed(check(room, ev('m.room.message')));
      assertRejected(check(room, ev('m.room.topic', '')), /below 50/);
      room.setPowerLevels({ users: users(room, { [BOB]: 10 }), events: { 'm.room.topic': 10, 'm.reaction': 20 }, events_default: 5 });
      assertAllowed(check(room, ev('m.room.topic', '')));
      assertRejected(check(room, ev('m.reaction')), /below 20/);
      room.setPowerLevels({ users: users(room, { [BOB]: 10 }), events_default: 11 });
      assertRejected(check(room, ev('m.room.message')), /below 11/);
    });

    test(`v${v}: a state_key starting with @ must be the sender`, () => {
      const room = aliceRoom(v);
      const ev = (key: string) => room.build({ type: 'org.example.profile', sender: ALICE, state_key: key, content: {} });
      assertAllowed(check(room, ev(ALICE)));
      assertRejected(check(room, ev(BOB)), /another user/);
    });
  }

  test('with no power levels event, the creator has 100, others 0, and state_default is 0', () => {
    const room = new Room('11');
    room.setMember(ALICE, 'join');
    room.setJoinRule('public');
    room.setMember(BOB, 'join');
    assert.equal(userPowerLevel(ALICE, room.create, undefined, room.version), 100);
    assert.equal(userPowerLevel(BOB, room.create, undefined, room.version), 0);
    assertAllowed(check(room, room.build({ type: 'm.room.topic', sender: BOB, state_key: '', content: {} })));
    assertAllowed(check(room, room.member(BOB, 'ban', ALICE)));
    assertRejected(check(room, room.member(ALICE, 'ban', BOB)), /ban the target/);
  });
});

describe('m.room.power_levels', () => {
  const pl = (room: LinearRoom, content: JsonObject, sender = ALICE) =>
    room.build({ type: 'm.room.power_levels', sender, state_key: '', content });

  for (const v of ALL) {
    test(`v${v}: the first power levels event is allowed whatever its values`, () => {
      const room = new Room(v);
      room.setMember(ALICE, 'join');
      assertAllowed(check(room, pl(room, { users: users(room, { [BOB]: 100 }), ban: 100, events: { x: 100 } })));
    });

    test(`v${v}: users keys must be user ids`, () => {
      const room = aliceRoom(v);
      assertAllowed(check(room, pl(room, { users: users(room, { [BOB]: 10 }) })));
      assertRejected(check(room, pl(room, { users: users(room, { bob: 10 }) })), /users/);
    });
  }

  for (const v of from(10)) {
    test(`v${v}: values must be integers`, () => {
      const room = aliceRoom(v);
      assertAllowed(check(room, pl(room, { users: users(room, {}), ban: 50 })));
      assertRejected(check(room, pl(room, { users: users(room, {}), ban: '50' })), /ban/);
      assertRejected(check(room, pl(room, { users: users(room, {}), events: { x: '1' } })), /events/);
      assertRejected(check(room, pl(room, { users: users(room, { [BOB]: '1' }) })), /users/);
      assertRejected(check(room, pl(room, { users: users(room, {}), notifications: { room: '1' } })), /notifications/);
    });
  }
  for (const v of ['1', '6', '9']) {
    test(`v${v}: values may be strings holding integers, and are compared as numbers`, () => {
      const room = aliceRoom(v);
      assertAllowed(check(room, pl(room, { users: { [ALICE]: ' +100 ', [BOB]: '010' }, ban: '50', events: { x: '1' } })));
      assertRejected(check(room, pl(room, { users: users(room, {}), ban: '5x' })), /ban/);
      room.setPowerLevels({ users: { [ALICE]: '100', [BOB]: '50' } });
      room.setMember(BOB, 'join');
      // Bob (50, as a string) may set charlie to 50 but not 51.
      assertAllowed(check(room, pl(room, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: '50' } }, BOB)));
      assertRejected(check(room, pl(room, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 51 } }, BOB)), /above own level/);
    });
  }
  test('floats: truncated in v1–v5, rejected from v6 (strict canonical JSON)', () => {
    assert.equal(parsePowerLevel(50.57, version('5')), 50);
    assert.equal(parsePowerLevel(50.57, version('6')), undefined);
    const v5 = aliceRoom('5');
    assertAllowed(check(v5, pl(v5, { users: { [ALICE]: 100, [BOB]: 50.5 } })));
    const v6 = aliceRoom('6');
    assertRejected(check(v6, pl(v6, { users: { [ALICE]: 100, [BOB]: 50.5 } })), /users/);
  });

  for (const v of ['1', '6', '10', '11', '12']) {
    test(`v${v}: changes are limited by the sender's own level`, () => {
      const room = aliceRoom(v, 'public', { [BOB]: 50, [CHARLIE]: 50, [EVELYN]: 10 });
      room.setMember(BOB, 'join');
      const base = (extra: JsonObject, u: JsonObject = { [BOB]: 50, [CHARLIE]: 50, [EVELYN]: 10 }) =>
        pl(room, { users: users(room, u), ...extra }, BOB);
      assertAllowed(check(room, base({})));
      // Named levels: bob may change kick to 50 but not to 51, and not one that is above him.
      assertAllowed(check(room, base({ kick: 40 })));
      assertRejected(check(room, base({ kick: 51 })), /kick/);
      // Users: bob may change evelyn (10 < 50) but not charlie (50 >= 50), nor raise anyone above 50.
      assertAllowed(check(room, base({}, { [BOB]: 50, [CHARLIE]: 50, [EVELYN]: 20 })));
      assertAllowed(check(room, base({}, { [BOB]: 50, [CHARLIE]: 50 })));
      assertRejected(check(room, base({}, { [BOB]: 50, [CHARLIE]: 40, [EVELYN]: 10 })), /at or above/);
      assertRejected(check(room, base({}, { [BOB]: 51, [CHARLIE]: 50, [EVELYN]: 10 })), /above own level/);
      // Events: adding above own level is rejected; changing one above own level is rejected.
      assertAllowed(check(room, base({ events: { 'm.room.topic': 50 } })));
      assertRejected(check(room, base({ events: { 'm.room.topic': 60 } })), /events/);
      room.setPowerLevels({ users: users(room, { [BOB]: 50, [CHARLIE]: 50, [EVELYN]: 10 }), events: { 'm.room.name': 75 } });
      assertRejected(check(room, base({ events: { 'm.room.name': 40 } })), /events/);
      assertRejected(check(room, base({})), /events/);
      // Bob may lower himself.
      room.setPowerLevels({ users: users(room, { [BOB]: 50 }) });
      assertAllowed(check(room, base({}, { [BOB]: 0 })));
    });
  }

  test('notifications are limited from v6 on, not before', () => {
    for (const v of ['5', '6']) {
      const room = aliceRoom(v, 'public', { [BOB]: 50 });
      room.setMember(BOB, 'join');
      const raise = pl(room, { users: { [ALICE]: 100, [BOB]: 50 }, notifications: { room: 75 } }, BOB);
      if (v === '5') assertAllowed(check(room, raise));
      else assertRejected(check(room, raise), /notifications/);
    }
  });

  test('v12: creators may not appear in users; an additional creator has infinite power', () => {
    const room = new Room('12', ALICE, { additional_creators: [BOB] });
    room.setMember(ALICE, 'join');
    assertRejected(check(room, pl(room, { users: { [ALICE]: 100 } })), /creators/);
    assertRejected(check(room, pl(room, { users: { [BOB]: 100 } })), /creators/);
    room.setPowerLevels({ users: { [CHARLIE]: 1_000_000 } });
    room.setJoinRule('public');
    room.setMember(BOB, 'join');
    room.setMember(CHARLIE, 'join');
    assert.equal(userPowerLevel(BOB, room.create, room.state.get(stateKey('m.room.power_levels', '')), room.version), Infinity);
    // Bob outranks charlie's million: he may demote and ban him; charlie may not touch bob.
    assertAllowed(check(room, pl(room, { users: { [CHARLIE]: 0 } }, BOB)));
    assertAllowed(check(room, room.member(CHARLIE, 'ban', BOB)));
    assertRejected(check(room, room.member(BOB, 'ban', CHARLIE)), /ban the target/);
    // In v11 the same content makes bob an ordinary user with power 0.
    const v11 = new Room('11', ALICE, { additional_creators: [BOB] });
    v11.setMember(ALICE, 'join');
    v11.setPowerLevels({ users: { [ALICE]: 100 } });
    assert.equal(userPowerLevel(BOB, v11.create, v11.state.get(stateKey('m.room.power_levels', '')), v11.version), 0);
  });
});

describe('m.room.redaction', () => {
  for (const v of ['1', '2']) {
    test(`v${v}: allowed with the redact level, or for an event from the redaction's own server`, () => {
      const room = aliceRoom(v);
      room.setMember(BOB, 'join');
      const redact = (sender: string, target: string) => room.build({ type: 'm.room.redaction', sender, content: {}, redacts: target });
      assertAllowed(check(room, redact(BOB, '$x:b.test')));
      assertRejected(check(room, redact(BOB, '$x:a.test')), /redact/);
      assertAllowed(check(room, redact(ALICE, '$x:b.test')));
    });
  }
  for (const v of ['3', '11', '12']) {
    test(`v${v}: no auth rule of its own: only the event's required level counts`, () => {
      const room = aliceRoom(v);
      room.setMember(BOB, 'join');
      const redact = () => room.build({ type: 'm.room.redaction', sender: BOB, content: { redacts: '$other' }, redacts: '$other' });
      assertAllowed(check(room, redact()));
      room.setPowerLevels({ users: users(room, {}), events: { 'm.room.redaction': 10 } });
      assertRejected(check(room, redact()), /below 10/);
    });
  }
});

describe('the auth state as a lookup function', () => {
  test('checkAuth reads the same keys through a function as through a map', () => {
    const room = aliceRoom('11');
    const read: string[] = [];
    const lookup = (type: string, key: string) => {
      read.push(`${type}|${key}`);
      return room.state.get(stateKey(type, key));
    };
    assertAllowed(checkAuth(room.member(BOB, 'join'), lookup, '11'));
    assertRejected(checkAuth(room.build({ type: 'm.room.topic', sender: BOB, state_key: '', content: {} }), lookup, '11'), /not joined/);
    // Only keys from the auth events selection are ever read.
    const selected = new Set(
      [...authTypesForEvent({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join' } }, '11'), ...authTypesForEvent({ type: 'm.room.topic', sender: BOB, state_key: '', content: {} }, '11')].map(
        (k) => `${k.type}|${k.stateKey}`,
      ),
    );
    for (const key of read) assert.ok(selected.has(key), `read ${key}`);
  });
});
