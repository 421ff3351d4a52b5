// Rooms over real HTTP on each backend: createRoom, send (txn idempotency), state, membership, joined_rooms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, invite, join, newUser, sendMessage, suiteServer, type ClientEvent } from '../rooms/client.ts';

async function state(server: TestServer, user: TestUser, roomId: string): Promise<ClientEvent[]> {
  const res = await server.request('GET', `${V3}/rooms/${enc(roomId)}/state`, { token: user.accessToken });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const { assertMatchesSpec } = await import('../helpers/spec.ts');
  await assertMatchesSpec('GET', `${V3}/rooms/${enc(roomId)}/state`, 200, res.body);
  return res.body as ClientEvent[];
}

const find = (events: ClientEvent[], type: string, key = '') => events.find((e) => e.type === type && e.state_key === key);

async function secondDevice(server: TestServer, user: TestUser): Promise<TestUser> {
  const deviceId = generateDeviceId();
  const accessToken = generateAccessToken();
  await server.running.db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, $3)', [user.userId, deviceId, Date.now()]);
  await server.running.db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [
    hashAccessToken(accessToken),
    user.userId,
    deviceId,
    Date.now(),
  ]);
  return { ...user, deviceId, accessToken };
}

forEachBackend('rooms over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('createRoom with defaults: room version 10, private_chat state, name and topic', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice, { name: 'Tea', topic: 'Leaves' });
    assert.match(roomId, /^![A-Za-z0-9]+:test\.local$/);
    const events = await state(s, alice, roomId);
    assert.equal(find(events, 'm.room.create')?.content['room_version'], '10');
    assert.equal(find(events, 'm.room.create')?.content['creator'], alice.userId);
    assert.equal(find(events, 'm.room.member', alice.userId)?.content['membership'], 'join');
    assert.equal((find(events, 'm.room.power_levels')?.content['users'] as Record<string, number>)[alice.userId], 100);
    assert.equal(find(events, 'm.room.join_rules')?.content['join_rule'], 'invite');
    assert.equal(find(events, 'm.room.history_visibility')?.content['history_visibility'], 'shared');
    assert.equal(find(events, 'm.room.guest_access')?.content['guest_access'], 'can_join');
    assert.equal(find(events, 'm.room.name')?.content['name'], 'Tea');
    assert.equal(find(events, 'm.room.topic')?.content['topic'], 'Leaves');
    const joined = await call(s, 'GET', `${V3}/joined_rooms`, alice);
    assert.deepEqual(joined['joined_rooms'], [roomId]);
  });

  test('createRoom presets: public_chat lets anyone join, trusted_private_chat gives invitees the creator level', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const pub = await createRoom(s, alice, { preset: 'public_chat' });
    const pubState = await state(s, alice, pub);
    assert.equal(find(pubState, 'm.room.join_rules')?.content['join_rule'], 'public');
    assert.equal(find(pubState, 'm.room.guest_access')?.content['guest_access'], 'forbidden');
    const res = await call(s, 'POST', `${V3}/join/${enc(pub)}`, bob, {});
    assert.equal(res['room_id'], pub);

    const trusted = await createRoom(s, alice, { preset: 'trusted_private_chat', invite: [bob.userId], is_direct: true });
    const trustedState = await state(s, alice, trusted);
    assert.equal((find(trustedState, 'm.room.power_levels')?.content['users'] as Record<string, number>)[bob.userId], 100);
    const invite = find(trustedState, 'm.room.member', bob.userId);
    assert.equal(invite?.content['membership'], 'invite');
    assert.equal(invite?.content['is_direct'], true);

    const priv = await createRoom(s, alice, { visibility: 'private' });
    await fails(s, 'POST', `${V3}/rooms/${enc(priv)}/join`, bob, {}, 403, 'M_FORBIDDEN');
  });

  test('createRoom in room version 12: the room id is the create event hash, creators are not in power levels', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { room_version: '12', preset: 'trusted_private_chat', invite: [bob.userId] });
    assert.match(roomId, /^![A-Za-z0-9_-]{43}$/);
    const events = await state(s, alice, roomId);
    const create = find(events, 'm.room.create');
    assert.equal(create?.event_id, `$${roomId.slice(1)}`);
    assert.deepEqual(create?.content['additional_creators'], [bob.userId]);
    const users = find(events, 'm.room.power_levels')?.content['users'] as Record<string, number>;
    assert.equal(users[alice.userId], undefined);
    assert.equal((find(events, 'm.room.power_levels')?.content['events'] as Record<string, number>)['m.room.tombstone'], 150);
    await join(s, bob, roomId);
    await sendMessage(s, bob, roomId, 'hello v12');
  });

  test('createRoom in every room version 1 to 12 accepts messages', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    for (let v = 1; v <= 12; v++) {
      const roomId = await createRoom(s, alice, { room_version: String(v) });
      const eventId = await sendMessage(s, alice, roomId, `in v${v}`);
      assert.match(eventId, v <= 2 ? /^\$[^:]+:test\.local$/ : /^\$/);
      const got = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(eventId)}`, alice);
      assert.equal((got['content'] as Record<string, unknown>)['body'], `in v${v}`);
    }
  });

  test('createRoom: initial_state and power_level_content_override apply; refused state is M_INVALID_ROOM_STATE', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice, {
      initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'joined' } }, { type: 'org.example.x', state_key: 'k', content: { a: 1 } }],
      power_level_content_override: { events_default: 10 },
    });
    const events = await state(s, alice, roomId);
    assert.equal(find(events, 'm.room.history_visibility')?.content['history_visibility'], 'joined');
    assert.deepEqual(find(events, 'org.example.x', 'k')?.content, { a: 1 });
    assert.equal(find(events, 'm.room.power_levels')?.content['events_default'], 10);

    await fails(s, 'POST', `${V3}/createRoom`, alice, { name: 'x', power_level_content_override: { events: { 'm.room.name': 200 } } }, 400, 'M_INVALID_ROOM_STATE');
    const before = await call(s, 'GET', `${V3}/joined_rooms`, alice);
    assert.deepEqual(before['joined_rooms'], [roomId], 'a refused creation leaves no room behind');
  });

  test('createRoom bad input: unsupported version, wrong types, not JSON, aliases', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_version: '99' }, 400, 'M_UNSUPPORTED_ROOM_VERSION');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { name: 5 }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { preset: 'secret' }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { invite: ['not-a-user'] }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { initial_state: [{ type: 'x' }] }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', `${V3}/createRoom`, alice, '{"name":', 400, 'M_NOT_JSON');
    await fails(s, 'POST', `${V3}/createRoom`, alice, [1], 400, 'M_NOT_JSON');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_alias_name: 'a:b' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/createRoom`, undefined, {}, 401, 'M_MISSING_TOKEN');
    const joined = await call(s, 'GET', `${V3}/joined_rooms`, alice);
    assert.deepEqual(joined['joined_rooms'], []);
  });

  test('send: the same txn id from the same device gives the same event; another device gets its own', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const path = `${V3}/rooms/${enc(roomId)}/send/m.room.message/same-txn`;
    const first = await call(s, 'PUT', path, alice, { msgtype: 'm.text', body: 'once' });
    const again = await call(s, 'PUT', path, alice, { msgtype: 'm.text', body: 'once' });
    assert.equal(again['event_id'], first['event_id']);
    const concurrent = await Promise.all([1, 2, 3].map(() => call(s, 'PUT', `${path}-c`, alice, { msgtype: 'm.text', body: 'c' })));
    assert.equal(new Set(concurrent.map((r) => r['event_id'])).size, 1);
    const phone = await secondDevice(s, alice);
    const other = await call(s, 'PUT', path, phone, { msgtype: 'm.text', body: 'once' });
    assert.notEqual(other['event_id'], first['event_id']);

    // transaction_id is shown to the sending device only.
    const mine = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(first['event_id'] as string)}`, alice);
    assert.equal((mine['unsigned'] as Record<string, unknown>)['transaction_id'], 'same-txn');
    const fromPhone = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(first['event_id'] as string)}`, phone);
    assert.equal((fromPhone['unsigned'] as Record<string, unknown>)['transaction_id'], undefined);
    const page = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=100&filter=${enc('{"types":["m.room.message"]}')}`, alice);
    assert.equal((page['chunk'] as unknown[]).length, 3, 'one event per distinct (device, txn id)');
  });

  test('send: forbidden, oversized, unknown room, invalid ids, bad bodies', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice);
    const send = (room: string, txn: string) => `${V3}/rooms/${enc(room)}/send/m.room.message/${txn}`;
    await fails(s, 'PUT', send(roomId, 'e1'), eve, { body: 'hi' }, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', send(roomId, 'big'), alice, { body: 'x'.repeat(70_000) }, 413, 'M_TOO_LARGE');
    await fails(s, 'PUT', send('!nowhere:test.local', 'n1'), alice, { body: 'hi' }, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', send('not-a-room', 'n2'), alice, { body: 'hi' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', send(roomId, 'j1'), alice, '{bad json', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', send(roomId, 'j2'), alice, [1, 2], 400, 'M_NOT_JSON');
    await fails(s, 'PUT', send(roomId, 'j3'), alice, { n: 1.5 }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', send(roomId, 'j4'), alice, undefined, 400, 'M_NOT_JSON');
    await fails(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/${'t'.repeat(300)}/x`, alice, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', send(roomId, 'm'), alice, undefined, 405, 'M_UNRECOGNIZED');
    const page = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b&filter=${enc('{"types":["m.room.message"]}')}`, alice);
    assert.deepEqual(page['chunk'], [], 'nothing refused was stored');
  });

  test('state: PUT and GET with and without a state key; power levels are enforced; non-members are refused', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const base = `${V3}/rooms/${enc(roomId)}/state`;
    const put = await call(s, 'PUT', `${base}/m.room.name`, alice, { name: 'One' });
    assert.match(put['event_id'] as string, /^\$/);
    assert.deepEqual(await call(s, 'GET', `${base}/m.room.name`, alice), { name: 'One' });
    await call(s, 'PUT', `${base}/m.room.name/`, alice, { name: 'Two' });
    assert.deepEqual(await call(s, 'GET', `${base}/m.room.name/`, alice), { name: 'Two' });
    await call(s, 'PUT', `${base}/org.example.thing/${enc('key/with?odd chars')}`, alice, { v: 1 });
    assert.deepEqual(await call(s, 'GET', `${base}/org.example.thing/${enc('key/with?odd chars')}`, alice), { v: 1 });
    // The spec's oneOf (content, or the whole event) matches an event twice, so this one is checked by hand.
    const asEvent = await s.request('GET', `${base}/m.room.name?format=event`, { token: alice.accessToken });
    assert.equal(asEvent.status, 200);
    assert.equal((asEvent.body as ClientEvent).type, 'm.room.name');
    assert.equal((asEvent.body as ClientEvent).state_key, '');
    assert.deepEqual((asEvent.body as ClientEvent).unsigned?.['prev_content'], { name: 'One' });
    assert.equal((asEvent.body as ClientEvent).unsigned?.['replaces_state'], put['event_id']);
    const fromState = (await state(s, alice, roomId)).find((e) => e.type === 'm.room.name');
    assert.deepEqual(fromState?.unsigned?.['prev_content'], { name: 'One' });

    await join(s, bob, roomId);
    const refused = await fails(s, 'PUT', `${base}/m.room.name`, bob, { name: 'Bob was here' }, 403, 'M_FORBIDDEN');
    assert.match(refused['error'] as string, /power level/);
    await fails(s, 'PUT', `${base}/m.room.create`, alice, {}, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', `${base}/org.example.x/${enc(alice.userId)}`, bob, {}, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${base}/m.room.nothing`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${base}/m.room.name`, eve, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', base, eve, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', `${base}/m.room.name`, eve, { name: 'no' }, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${V3}/rooms/${enc('!unknown:test.local')}/state`, alice, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', `${base}/m.room.name`, alice, 'nope', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', `${base}/m.room.topic`, alice, { topic: 'x'.repeat(66_000) }, 413, 'M_TOO_LARGE');
    assert.deepEqual(await call(s, 'GET', `${base}/m.room.name`, alice), { name: 'Two' }, 'refused changes changed nothing');
  });

  test('membership: invite, join, members, joined_members, leave, forget', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice);
    await invite(s, alice, roomId, bob.userId);
    const invited = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/members?membership=invite`, alice);
    assert.deepEqual((invited['chunk'] as ClientEvent[]).map((e) => e.state_key), [bob.userId]);
    await join(s, bob, roomId);
    const members = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/members`, bob);
    assert.deepEqual((members['chunk'] as ClientEvent[]).map((e) => e.state_key).sort(), [alice.userId, bob.userId].sort());
    const notJoined = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/members?not_membership=join`, bob);
    assert.deepEqual(notJoined['chunk'], []);
    const jm = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/joined_members`, bob);
    assert.deepEqual(Object.keys(jm['joined'] as object).sort(), [alice.userId, bob.userId].sort());
    assert.deepEqual((await call(s, 'GET', `${V3}/joined_rooms`, bob))['joined_rooms'], [roomId]);
    await join(s, bob, roomId); // joining again is harmless

    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/forget`, bob, {}, 400, 'M_UNKNOWN');
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, bob, {});
    assert.deepEqual((await call(s, 'GET', `${V3}/joined_rooms`, bob))['joined_rooms'], []);
    // A former member still reads the state as it was when they left.
    const after = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/members`, bob);
    assert.equal((after['chunk'] as ClientEvent[]).length, 2);
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/joined_members`, bob, undefined, 403, 'M_FORBIDDEN');
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/forget`, bob, {});
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/members`, bob, undefined, 403, 'M_FORBIDDEN');

    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/members`, eve, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/joined_members`, eve, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, eve, {}, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/invite`, eve, { user_id: eve.userId }, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/invite`, alice, { user_id: 'bob' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/invite`, alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/invite`, alice, { user_id: 7 }, 400, 'M_BAD_JSON');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/members?membership=party`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/members?at=zzz`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/join/${enc('!nope:test.local')}`, alice, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', `${V3}/join/${enc('#alias:test.local')}`, alice, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', `${V3}/join/${enc('garbage')}`, alice, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/rooms/${enc('!nope:test.local')}/leave`, alice, {}, 403, 'M_FORBIDDEN');
  });

  test('knock: allowed by join_rule knock in v7+, then invited in; refused elsewhere', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    const knocked = await call(s, 'POST', `${V3}/knock/${enc(roomId)}`, bob, { reason: 'let me in' });
    assert.equal(knocked['room_id'], roomId);
    const member = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`, alice);
    assert.deepEqual(member, { membership: 'knock', reason: 'let me in' });
    await invite(s, alice, roomId, bob.userId);
    await join(s, bob, roomId);

    const closed = await createRoom(s, alice);
    await fails(s, 'POST', `${V3}/knock/${enc(closed)}`, bob, {}, 403, 'M_FORBIDDEN');
    const old = await createRoom(s, alice, { room_version: '6', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    await fails(s, 'POST', `${V3}/knock/${enc(old)}`, bob, {}, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', `${V3}/knock/${enc('!nope:test.local')}`, bob, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', `${V3}/knock/${enc('#nope:test.local')}`, bob, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', `${V3}/knock/x`, bob, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/knock/${enc(roomId)}`, bob, { reason: 1 }, 400, 'M_BAD_JSON');
  });

  test('member events carry the profile: joined_members shows display names and avatars', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    await call(s, 'PUT', `${V3}/profile/${enc(alice.userId)}/displayname`, alice, { displayname: 'Alice A.' });
    await call(s, 'PUT', `${V3}/profile/${enc(bob.userId)}/avatar_url`, bob, { avatar_url: 'mxc://test.local/bob' });
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const jm = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/joined_members`, alice);
    assert.deepEqual(jm['joined'], {
      [alice.userId]: { display_name: 'Alice A.' },
      [bob.userId]: { avatar_url: 'mxc://test.local/bob' },
    });
  });

  test('membership: kick, ban and unban need power; a banned user cannot join', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, carol, roomId);
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/kick`, bob, { user_id: carol.userId }, 403, 'M_FORBIDDEN');
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/kick`, alice, { user_id: carol.userId, reason: 'shoo' });
    const kicked = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(carol.userId)}`, alice);
    assert.deepEqual(kicked, { membership: 'leave', reason: 'shoo' });
    await join(s, carol, roomId);
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/ban`, bob, { user_id: carol.userId }, 403, 'M_FORBIDDEN');
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/ban`, alice, { user_id: carol.userId });
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/join`, carol, {}, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/unban`, alice, { user_id: bob.userId }, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', `${V3}/rooms/${enc(roomId)}/unban`, bob, { user_id: carol.userId }, 403, 'M_FORBIDDEN');
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/unban`, alice, { user_id: carol.userId });
    await join(s, carol, roomId);
    assert.deepEqual((await call(s, 'GET', `${V3}/joined_rooms`, carol))['joined_rooms'], [roomId]);
  });
});
