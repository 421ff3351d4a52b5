// A remote server joining, leaving and knocking on our rooms over real TLS: make_join / v2 send_join (with a state
// the protocol core verifies, and history visibility honoured afterwards), make_leave / v2 send_leave, make_knock /
// send_knock, restricted joins vouched for by one of our users, and refusals (room version, join rules, forged or
// malformed events) that store nothing. Both backends.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import { checkEventSignedBy } from '../../src/protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import { forEachBackend } from '../helpers/database.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';
import { assertAuthChainComplete, assertVerifiable, eventIdOf, remoteMembership, signTemplate, startServeHarness } from '../federation/serveHarness.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

const V10 = getRoomVersion('10') as RoomVersion;
const F1 = '/_matrix/federation/v1';
const F2 = '/_matrix/federation/v2';
const enc = encodeURIComponent;

forEachBackend('federation serving: joins, leaves and knocks', (backend) => {
  test('a remote user joins through make_join/send_join, gets a verifiable state, and sees only joined history', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat', name: 'Club' });
    await h.setState(alice, roomId, 'm.room.history_visibility', { history_visibility: 'joined' });
    const before1 = await h.send(alice, roomId, 'before the join');
    const bob = `@bob:${h.remote.serverName}`;

    const noVer = await h.fed('GET', `${F1}/make_join/${enc(roomId)}/${enc(bob)}`);
    assert.equal(noVer.status, 400);
    assert.deepEqual([(noVer.body as JsonObject)['errcode'], (noVer.body as JsonObject)['room_version']], ['M_INCOMPATIBLE_ROOM_VERSION', '10']);
    await assertMatchesSpec('GET', `${F1}/make_join/x/y`, 400, noVer.body);

    const made = await h.fed('GET', `${F1}/make_join/${enc(roomId)}/${enc(bob)}?ver=9&ver=10`);
    assert.equal(made.status, 200, JSON.stringify(made.body));
    await assertMatchesSpec('GET', `${F1}/make_join/x/y`, 200, made.body);
    const template = (made.body as { room_version: string; event: JsonObject }).event;
    assert.equal((made.body as JsonObject)['room_version'], '10');
    assert.deepEqual(
      [template['room_id'], template['type'], template['sender'], template['state_key'], template['content']],
      [roomId, 'm.room.member', bob, bob, { membership: 'join' }],
    );
    assert.deepEqual(template['prev_events'], [before1]);

    const stored = await h.eventCount();
    const { eventId, pdu } = signTemplate(h, template, V10);
    // Refusals first: each is a Matrix error and stores nothing.
    const forged = signTemplate(h, template, V10, generateSigningKey('forged'));
    const leaveInstead = signTemplate(h, { ...template, content: { membership: 'leave' } }, V10);
    const otherUser = signTemplate(h, { ...template, sender: '@eve:elsewhere.example', state_key: '@eve:elsewhere.example' }, V10);
    const refusals: [string, string, unknown, number, string][] = [
      ['wrong event id', `${F2}/send_join/${enc(roomId)}/${enc(before1)}`, pdu, 400, 'M_INVALID_PARAM'],
      ['forged signature', `${F2}/send_join/${enc(roomId)}/${enc(forged.eventId)}`, forged.pdu, 400, 'M_INVALID_PARAM'],
      ['not a join', `${F2}/send_join/${enc(roomId)}/${enc(leaveInstead.eventId)}`, leaveInstead.pdu, 400, 'M_INVALID_PARAM'],
      ['another server\'s user', `${F2}/send_join/${enc(roomId)}/${enc(otherUser.eventId)}`, otherUser.pdu, 400, 'M_INVALID_PARAM'],
      ['not a PDU', `${F2}/send_join/${enc(roomId)}/${enc(eventId)}`, { type: 'm.room.member' }, 400, 'M_BAD_JSON'],
      ['not JSON', `${F2}/send_join/${enc(roomId)}/${enc(eventId)}`, '{"type":', 400, 'M_NOT_JSON'],
      ['unknown room', `${F2}/send_join/${enc('!nowhere:test.local')}/${enc(eventId)}`, pdu, 404, 'M_NOT_FOUND'],
    ];
    for (const [name, path, body, status, errcode] of refusals) {
      const res = await h.fed('PUT', path, body);
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as JsonObject)['errcode'], errcode, name);
    }
    // A good join in a request that does not authenticate.
    const joinPath = `${F2}/send_join/${enc(roomId)}/${enc(eventId)}`;
    for (const options of [{ key: generateSigningKey('unknown') }, { destination: 'elsewhere.example' }, { headers: { authorization: 'Bearer nope' } }]) {
      const res = await h.fed('PUT', joinPath, pdu, options);
      assert.equal(res.status, 401, JSON.stringify(options));
      assert.equal((res.body as JsonObject)['errcode'], 'M_UNAUTHORIZED');
    }
    assert.equal(await h.eventCount(), stored);

    const joined = await h.fed('PUT', `${F2}/send_join/${enc(roomId)}/${enc(eventId)}`, pdu);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    await assertMatchesSpec('PUT', `${F2}/send_join/x/y`, 200, joined.body);
    const body = joined.body as { origin: string; state: JsonObject[]; auth_chain: JsonObject[]; event: JsonObject; members_omitted: boolean };
    assert.equal(body.origin, 'test.local');
    assert.equal(body.members_omitted, false);
    assert.equal(eventIdOf(body.event, V10), eventId);
    assert.deepEqual(
      body.state.map((e) => [e['type'], e['state_key']]).sort(),
      [
        ['m.room.create', ''],
        ['m.room.guest_access', ''],
        ['m.room.history_visibility', ''],
        ['m.room.join_rules', ''],
        ['m.room.member', alice.userId],
        ['m.room.name', ''],
        ['m.room.power_levels', ''],
      ].sort(),
      'the state before the join',
    );
    assertVerifiable([...body.state, ...body.auth_chain], V10, h.troupe);
    assertAuthChainComplete([...body.state, body.event], body.auth_chain, V10);

    // Our user sees the remote user joined; the same join again is answered the same way.
    const members = await h.client(alice, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    assert.ok(Object.keys((members.body as { joined: JsonObject }).joined).includes(bob));
    const again = await h.fed('PUT', `${F2}/send_join/${enc(roomId)}/${enc(eventId)}`, pdu);
    assert.equal(again.status, 200);
    assert.equal(await h.eventCount(), stored + 1);

    // History visibility "joined": nothing from before the join, in full.
    const after1 = await h.send(alice, roomId, 'after the join');
    const back = await h.fed('GET', `${F1}/backfill/${enc(roomId)}?v=${enc(after1)}&limit=50`);
    assert.equal(back.status, 200);
    const byId = new Map((back.body as { pdus: JsonObject[] }).pdus.map((p) => [eventIdOf(p, V10), p]));
    assert.deepEqual((byId.get(after1) as JsonObject)['content'], { msgtype: 'm.text', body: 'after the join' });
    assert.deepEqual((byId.get(before1) as JsonObject)['content'], {}, 'redacted: sent before the remote server had a member');
    assert.ok(byId.has(eventId));
    assertVerifiable([...byId.values()], V10, h.troupe, { redactedOk: true });
    assert.equal((await h.fed('GET', `${F1}/event/${enc(before1)}`)).status, 404);
    assert.equal((await h.fed('GET', `${F1}/event/${enc(after1)}`)).status, 200);
    // The state is now readable for it (it has a member).
    assert.equal((await h.fed('GET', `${F1}/state_ids/${enc(roomId)}?event_id=${enc(after1)}`)).status, 200);

    // Leaving: make_leave / send_leave; then the server may no longer read the room.
    const left = await remoteMembership(h, 'leave', roomId, bob, V10);
    assert.equal(left.response.status, 200, JSON.stringify(left.response.body));
    await assertMatchesSpec('PUT', `${F2}/send_leave/x/y`, 200, left.response.body);
    const afterLeave = await h.client(alice, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    assert.ok(!Object.keys((afterLeave.body as { joined: JsonObject }).joined).includes(bob));
    assert.equal((await h.fed('GET', `${F1}/state_ids/${enc(roomId)}?event_id=${enc(after1)}`)).status, 403);
  });

  test('history visibility "invited": a joined server sees from its user\'s invite on, and earlier events redacted', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'private_chat' });
    await h.setState(alice, roomId, 'm.room.history_visibility', { history_visibility: 'invited' });
    const bob = `@bob:${h.remote.serverName}`;
    const beforeInvite = await h.send(alice, roomId, 'before the invite');
    const invite = await h.client(alice, 'POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bob });
    assert.equal(invite.status, 200);
    const whileInvited = await h.send(alice, roomId, 'while invited');
    assert.equal((await remoteMembership(h, 'join', roomId, bob, V10)).response.status, 200);
    const afterJoin = await h.send(alice, roomId, 'after the join');

    const back = await h.fed('GET', `${F1}/backfill/${enc(roomId)}?v=${enc(afterJoin)}&limit=50`);
    assert.equal(back.status, 200);
    const content = new Map((back.body as { pdus: JsonObject[] }).pdus.map((p) => [eventIdOf(p, V10), p['content']]));
    assert.deepEqual(content.get(beforeInvite), {});
    assert.deepEqual(content.get(whileInvited), { msgtype: 'm.text', body: 'while invited' });
    assert.deepEqual(content.get(afterJoin), { msgtype: 'm.text', body: 'after the join' });
    const missing = await h.fed('POST', `${F1}/get_missing_events/${enc(roomId)}`, { latest_events: [afterJoin], earliest_events: [], limit: 50 });
    const missingContent = new Map((missing.body as { events: JsonObject[] }).events.map((p) => [eventIdOf(p, V10), p['content']]));
    assert.deepEqual(missingContent.get(beforeInvite), {}, 'redacted in get_missing_events too');
    assert.deepEqual(missingContent.get(whileInvited), { msgtype: 'm.text', body: 'while invited' });
    assert.equal((await h.fed('GET', `${F1}/event/${enc(beforeInvite)}`)).status, 404);
    assert.equal((await h.fed('GET', `${F1}/event/${enc(whileInvited)}`)).status, 200);
  });

  test('room version 12 (room id from the create event, no origin): join, state and backfill verifiable', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const V12 = getRoomVersion('12') as RoomVersion;
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat', room_version: '12' });
    const early = await h.send(alice, roomId, 'before the join, shared history');
    const bob = `@bob:${h.remote.serverName}`;
    const joined = await remoteMembership(h, 'join', roomId, bob, V12);
    assert.equal(joined.response.status, 200, JSON.stringify(joined.response.body));
    await assertMatchesSpec('PUT', `${F2}/send_join/x/y`, 200, joined.response.body);
    const body = joined.response.body as { state: JsonObject[]; auth_chain: JsonObject[]; event: JsonObject };
    assert.ok(!('origin' in joined.pdu), 'v12 templates have no origin');
    assert.ok(body.state.some((e) => e['type'] === 'm.room.create' && !('room_id' in e)));
    assertVerifiable([...body.state, ...body.auth_chain], V12, h.troupe);
    assertAuthChainComplete([...body.state, body.event], body.auth_chain, V12);
    const message = await h.send(alice, roomId, 'v12 message');
    const back = await h.fed('GET', `${F1}/backfill/${enc(roomId)}?v=${enc(message)}&limit=3`);
    const pdus = (back.body as { pdus: JsonObject[] }).pdus;
    assert.deepEqual(pdus.map((p) => eventIdOf(p, V12)), [message, joined.eventId, early]);
    assert.deepEqual(pdus[2]?.['content'], { msgtype: 'm.text', body: 'before the join, shared history' }, 'shared: visible once its user joined');
    assertVerifiable(pdus, V12, h.troupe);
  });

  test('room version 1 ([event id, hashes] references, event ids named by their server): join and state verifiable', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const V1 = getRoomVersion('1') as RoomVersion;
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat', room_version: '1' });
    const bob = `@bob:${h.remote.serverName}`;
    const joined = await remoteMembership(h, 'join', roomId, bob, V1);
    assert.equal(joined.response.status, 200, JSON.stringify(joined.response.body));
    const prev = joined.pdu['prev_events'] as unknown[];
    assert.ok(Array.isArray(prev[0]) && typeof (prev[0] as unknown[])[0] === 'string', 'prev_events as [id, hashes] pairs');
    const body = joined.response.body as { state: JsonObject[]; auth_chain: JsonObject[]; event: JsonObject };
    assertVerifiable([...body.state, ...body.auth_chain], V1, h.troupe);
    assertAuthChainComplete([...body.state, body.event], body.auth_chain, V1);
  });

  test('make_join refusals: join rules, unknown rooms, users of other servers', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const privateRoom = await h.createRoom(alice, { preset: 'private_chat' });
    const bob = `@bob:${h.remote.serverName}`;
    const cases: [string, number, string][] = [
      [`${F1}/make_join/${enc(privateRoom)}/${enc(bob)}?ver=10`, 403, 'M_FORBIDDEN'],
      [`${F1}/make_join/${enc('!nowhere:test.local')}/${enc(bob)}?ver=10`, 404, 'M_NOT_FOUND'],
      [`${F1}/make_join/${enc(privateRoom)}/${enc('@eve:elsewhere.example')}?ver=10`, 403, 'M_FORBIDDEN'],
      [`${F1}/make_join/${enc(privateRoom)}/not-a-user?ver=10`, 400, 'M_INVALID_PARAM'],
      [`${F1}/make_leave/${enc(privateRoom)}/${enc(bob)}`, 403, 'M_FORBIDDEN'],
    ];
    for (const [path, status, errcode] of cases) {
      const res = await h.fed('GET', path);
      assert.equal(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as JsonObject)['errcode'], errcode, path);
      await assertMatchesSpec('GET', path, status, res.body);
    }
    // Invited, the remote user may join the private room.
    await h.client(alice, 'POST', `/_matrix/client/v3/rooms/${enc(privateRoom)}/invite`, { user_id: bob });
    const joined = await remoteMembership(h, 'join', privateRoom, bob, V10);
    assert.equal(joined.response.status, 200, JSON.stringify(joined.response.body));
  });

  test('knocking: make_knock/send_knock answers the room\'s stripped state as PDUs; not in room versions without knocking', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'private_chat', name: 'Knock here' });
    await h.setState(alice, roomId, 'm.room.join_rules', { join_rule: 'knock' });
    const bob = `@bob:${h.remote.serverName}`;

    const noVer = await h.fed('GET', `${F1}/make_knock/${enc(roomId)}/${enc(bob)}`);
    assert.equal(noVer.status, 400);
    assert.equal((noVer.body as JsonObject)['errcode'], 'M_MISSING_PARAM');

    const knocked = await remoteMembership(h, 'knock', roomId, bob, V10);
    assert.equal(knocked.response.status, 200, JSON.stringify(knocked.response.body));
    await assertMatchesSpec('PUT', `${F1}/send_knock/x/y`, 200, knocked.response.body);
    const state = (knocked.response.body as { knock_room_state: JsonObject[] }).knock_room_state;
    assert.deepEqual(state.map((e) => e['type']).sort(), ['m.room.create', 'm.room.join_rules', 'm.room.name']);
    assertVerifiable(state, V10, h.troupe);
    const member = await h.client(alice, 'GET', `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bob)}`);
    assert.equal((member.body as JsonObject)['membership'], 'knock');

    const v6Room = await h.createRoom(alice, { preset: 'public_chat', room_version: '6' });
    const old = await h.fed('GET', `${F1}/make_knock/${enc(v6Room)}/${enc(bob)}?ver=6&ver=10`);
    assert.equal(old.status, 400);
    assert.deepEqual([(old.body as JsonObject)['errcode'], (old.body as JsonObject)['room_version']], ['M_INCOMPATIBLE_ROOM_VERSION', '6']);
    await assertMatchesSpec('GET', `${F1}/make_knock/x/y`, 400, old.body);
  });

  test('restricted rooms: our user vouches for a remote user joined to an allowed room, and signs the join', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const space = await h.createRoom(alice, { preset: 'public_chat' });
    const restricted = await h.createRoom(alice, { preset: 'private_chat' });
    await h.setState(alice, restricted, 'm.room.join_rules', { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] });
    const bob = `@bob:${h.remote.serverName}`;

    const early = await h.fed('GET', `${F1}/make_join/${enc(restricted)}/${enc(bob)}?ver=10`);
    assert.equal(early.status, 400);
    assert.equal((early.body as JsonObject)['errcode'], 'M_UNABLE_TO_AUTHORISE_JOIN');

    assert.equal((await remoteMembership(h, 'join', space, bob, V10)).response.status, 200);
    const made = await h.fed('GET', `${F1}/make_join/${enc(restricted)}/${enc(bob)}?ver=10`);
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const template = (made.body as { event: JsonObject }).event;
    assert.deepEqual(template['content'], { membership: 'join', join_authorised_via_users_server: alice.userId });
    const { eventId, pdu } = signTemplate(h, template, V10);
    const joined = await h.fed('PUT', `${F2}/send_join/${enc(restricted)}/${enc(eventId)}`, pdu);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    await assertMatchesSpec('PUT', `${F2}/send_join/x/y`, 200, joined.body);
    const event = (joined.body as { event: JsonObject }).event;
    const ourKey = h.troupe.running.signingKey;
    assert.ok(checkEventSignedBy(event, V10, 'test.local', new Map([[ourKey.keyId, { key: ourKey.publicKey }]])).ok, 'counter-signed');
    assert.ok(checkEventSignedBy(event, V10, h.remote.serverName, new Map([[h.remote.key.keyId, { key: h.remote.key.publicKey }]])).ok);
  });
});
