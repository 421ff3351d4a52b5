// Serving room history to a remote server over real TLS: /event, /state, /state_ids, /event_auth, /backfill and
// /get_missing_events for a world_readable room a remote server has no member in, refusals for a room it may not
// read, and Matrix errors (nothing stored) for unauthenticated or malformed requests. Both backends.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import { forEachBackend } from '../helpers/database.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';
import { assertAuthChainComplete, assertVerifiable, eventIdOf, startServeHarness } from '../federation/serveHarness.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

const V10 = getRoomVersion('10') as RoomVersion;
const F = '/_matrix/federation/v1';
const enc = encodeURIComponent;

forEachBackend('federation serving: room history', (backend) => {
  test('a world_readable room: event, state, state_ids, event_auth, backfill and missing events, all verifiable', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat', name: 'Readable' });
    await h.setState(alice, roomId, 'm.room.history_visibility', { history_visibility: 'world_readable' });
    const messages: string[] = [];
    for (let i = 0; i < 5; i++) {
      messages.push(await h.send(alice, roomId, `message ${i}`));
      if (i === 2) await h.setState(alice, roomId, 'm.room.topic', { topic: 'later' });
    }
    const last = messages[4] as string;

    const one = await h.fed('GET', `${F}/event/${enc(messages[0] as string)}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    await assertMatchesSpec('GET', `${F}/event/x`, 200, one.body);
    const tx = one.body as { origin: string; pdus: JsonObject[] };
    assert.equal(tx.origin, 'test.local');
    assert.equal(tx.pdus.length, 1);
    assert.equal(eventIdOf(tx.pdus[0] as JsonObject, V10), messages[0]);
    assert.deepEqual((tx.pdus[0] as JsonObject)['content'], { msgtype: 'm.text', body: 'message 0' });
    assertVerifiable(tx.pdus, V10, h.troupe);

    const state = await h.fed('GET', `${F}/state/${enc(roomId)}?event_id=${enc(last)}`);
    assert.equal(state.status, 200, JSON.stringify(state.body));
    await assertMatchesSpec('GET', `${F}/state/x`, 200, state.body);
    const { pdus, auth_chain } = state.body as { pdus: JsonObject[]; auth_chain: JsonObject[] };
    const types = pdus.map((p) => p['type']).sort();
    assert.deepEqual(types, ['m.room.create', 'm.room.guest_access', 'm.room.history_visibility', 'm.room.join_rules', 'm.room.member', 'm.room.name', 'm.room.power_levels', 'm.room.topic']);
    assertVerifiable([...pdus, ...auth_chain], V10, h.troupe);
    assertAuthChainComplete(pdus, auth_chain, V10);

    const ids = await h.fed('GET', `${F}/state_ids/${enc(roomId)}?event_id=${enc(last)}`);
    assert.equal(ids.status, 200);
    await assertMatchesSpec('GET', `${F}/state_ids/x`, 200, ids.body);
    const idBody = ids.body as { pdu_ids: string[]; auth_chain_ids: string[] };
    assert.deepEqual([...idBody.pdu_ids].sort(), pdus.map((p) => eventIdOf(p, V10)).sort());
    assert.deepEqual([...idBody.auth_chain_ids].sort(), auth_chain.map((p) => eventIdOf(p, V10)).sort());

    // The state *before* an event: before message 2 there is no topic yet.
    const early = await h.fed('GET', `${F}/state_ids/${enc(roomId)}?event_id=${enc(messages[2] as string)}`);
    assert.equal(early.status, 200);
    const topic = pdus.find((p) => p['type'] === 'm.room.topic') as JsonObject;
    assert.deepEqual([...(early.body as { pdu_ids: string[] }).pdu_ids].sort(), idBody.pdu_ids.filter((id) => id !== eventIdOf(topic, V10)).sort());
    // The history_visibility change itself was sent while history was shared: the server may not see it.
    const hv = pdus.find((p) => p['type'] === 'm.room.history_visibility') as JsonObject;
    const atHv = await h.fed('GET', `${F}/state_ids/${enc(roomId)}?event_id=${enc(eventIdOf(hv, V10))}`);
    assert.equal(atHv.status, 403);
    assert.equal((await h.fed('GET', `${F}/event/${enc(eventIdOf(hv, V10))}`)).status, 404);

    const auth = await h.fed('GET', `${F}/event_auth/${enc(roomId)}/${enc(last)}`);
    assert.equal(auth.status, 200);
    await assertMatchesSpec('GET', `${F}/event_auth/x/y`, 200, auth.body);
    const chain = (auth.body as { auth_chain: JsonObject[] }).auth_chain;
    assert.deepEqual(chain.map((p) => p['type']).sort(), ['m.room.create', 'm.room.member', 'm.room.power_levels']);
    assertAuthChainComplete([], chain, V10);

    const back = await h.fed('GET', `${F}/backfill/${enc(roomId)}?v=${enc(messages[3] as string)}&limit=3`);
    assert.equal(back.status, 200);
    await assertMatchesSpec('GET', `${F}/backfill/x`, 200, back.body);
    const backIds = (back.body as { pdus: JsonObject[] }).pdus.map((p) => eventIdOf(p, V10));
    assert.deepEqual(backIds.length, 3);
    assert.deepEqual([backIds[0], backIds[2]], [messages[3], messages[2]], 'the given event and those before it, newest first');
    const two = await h.fed('GET', `${F}/backfill/${enc(roomId)}?v=${enc(messages[1] as string)}&v=${enc(messages[4] as string)}&limit=1`);
    assert.deepEqual((two.body as { pdus: JsonObject[] }).pdus.map((p) => eventIdOf(p, V10)), [messages[4]]);

    const missing = await h.fed('POST', `${F}/get_missing_events/${enc(roomId)}`, {
      latest_events: [last],
      earliest_events: [messages[0]],
      limit: 10,
    });
    assert.equal(missing.status, 200, JSON.stringify(missing.body));
    await assertMatchesSpec('POST', `${F}/get_missing_events/x`, 200, missing.body);
    const missingIds = (missing.body as { events: JsonObject[] }).events.map((p) => eventIdOf(p, V10));
    const topicId = eventIdOf(topic, V10);
    assert.deepEqual(missingIds, [messages[1], messages[2], topicId, messages[3]], 'between the earliest and the latest, oldest first');
    const limited = await h.fed('POST', `${F}/get_missing_events/${enc(roomId)}`, { latest_events: [last], earliest_events: [], limit: 2 });
    assert.deepEqual((limited.body as { events: JsonObject[] }).events.map((p) => eventIdOf(p, V10)), [topicId, messages[3]]);
  });

  test('a room the server has no member in and may not read: refused, and unknown events are 404', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'private_chat' });
    const secret = await h.send(alice, roomId, 'secret');

    const event = await h.fed('GET', `${F}/event/${enc(secret)}`);
    assert.equal(event.status, 404);
    assert.equal((event.body as JsonObject)['errcode'], 'M_NOT_FOUND');
    for (const path of [
      `${F}/state/${enc(roomId)}?event_id=${enc(secret)}`,
      `${F}/state_ids/${enc(roomId)}?event_id=${enc(secret)}`,
      `${F}/event_auth/${enc(roomId)}/${enc(secret)}`,
      `${F}/backfill/${enc(roomId)}?v=${enc(secret)}&limit=10`,
    ]) {
      const res = await h.fed('GET', path);
      assert.equal(res.status, 403, path);
      assert.equal((res.body as JsonObject)['errcode'], 'M_FORBIDDEN', path);
    }
    const missing = await h.fed('POST', `${F}/get_missing_events/${enc(roomId)}`, { latest_events: [secret], earliest_events: [] });
    assert.equal(missing.status, 403);

    const unknownRoom = await h.fed('GET', `${F}/state_ids/${enc('!nope:test.local')}?event_id=${enc(secret)}`);
    assert.equal(unknownRoom.status, 404);
    assert.equal((unknownRoom.body as JsonObject)['errcode'], 'M_NOT_FOUND');
    const unknownEvent = await h.fed('GET', `${F}/event/${enc(`$${'A'.repeat(43)}`)}`);
    assert.equal(unknownEvent.status, 404);
  });

  test('a server the room\'s server ACL denies is refused, however readable the room', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.setState(alice, roomId, 'm.room.history_visibility', { history_visibility: 'world_readable' });
    const eventId = await h.send(alice, roomId, 'hello');
    assert.equal((await h.fed('GET', `${F}/state_ids/${enc(roomId)}?event_id=${enc(eventId)}`)).status, 200);
    // The remote server is 127.0.0.1:<port>, an IP literal.
    await h.setState(alice, roomId, 'm.room.server_acl', { allow: ['*'], deny: [], allow_ip_literals: false });
    for (const [method, path] of [
      ['GET', `${F}/state_ids/${enc(roomId)}?event_id=${enc(eventId)}`],
      ['GET', `${F}/backfill/${enc(roomId)}?v=${enc(eventId)}&limit=5`],
      ['GET', `${F}/make_join/${enc(roomId)}/${enc(`@bob:${h.remote.serverName}`)}?ver=10`],
    ] as const) {
      const res = await h.fed(method, path);
      assert.equal(res.status, 403, path);
      assert.equal((res.body as JsonObject)['errcode'], 'M_FORBIDDEN', path);
    }
  });

  test('unauthenticated or malformed requests are Matrix errors and store nothing', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.setState(alice, roomId, 'm.room.history_visibility', { history_visibility: 'world_readable' });
    const eventId = await h.send(alice, roomId, 'hello');
    const stored = await h.eventCount();
    const path = `${F}/event/${enc(eventId)}`;

    const unsigned = await h.fed('GET', path, undefined, { headers: { authorization: 'X-Matrix origin=nobody' } });
    assert.equal(unsigned.status, 401);
    assert.equal((unsigned.body as JsonObject)['errcode'], 'M_UNAUTHORIZED');
    const misdirected = await h.fed('GET', path, undefined, { destination: 'elsewhere.example' });
    assert.equal(misdirected.status, 401);
    const unknownKey = await h.fed('GET', path, undefined, { key: generateSigningKey('other') });
    assert.equal(unknownKey.status, 401);
    assert.equal((unknownKey.body as JsonObject)['errcode'], 'M_UNAUTHORIZED');

    const cases: [string, string, unknown, number, string][] = [
      ['GET', `${F}/state_ids/${enc(roomId)}`, undefined, 400, 'M_MISSING_PARAM'],
      ['GET', `${F}/state_ids/${enc(roomId)}?event_id=nope`, undefined, 400, 'M_INVALID_PARAM'],
      ['GET', `${F}/state/not-a-room?event_id=${enc(eventId)}`, undefined, 400, 'M_INVALID_PARAM'],
      ['GET', `${F}/backfill/${enc(roomId)}?limit=3`, undefined, 400, 'M_MISSING_PARAM'],
      ['GET', `${F}/backfill/${enc(roomId)}?v=${enc(eventId)}`, undefined, 400, 'M_MISSING_PARAM'],
      ['GET', `${F}/backfill/${enc(roomId)}?v=${enc(eventId)}&limit=-1`, undefined, 400, 'M_INVALID_PARAM'],
      ['POST', `${F}/get_missing_events/${enc(roomId)}`, { latest_events: [eventId] }, 400, 'M_BAD_JSON'],
      ['POST', `${F}/get_missing_events/${enc(roomId)}`, { latest_events: [1], earliest_events: [] }, 400, 'M_BAD_JSON'],
      ['POST', `${F}/get_missing_events/${enc(roomId)}`, { latest_events: [], earliest_events: [], limit: 'ten' }, 400, 'M_BAD_JSON'],
      ['POST', `${F}/get_missing_events/${enc(roomId)}`, [1, 2], 400, 'M_BAD_JSON'],
      ['POST', `${F}/get_missing_events/${enc(roomId)}`, '{"latest_events": [', 400, 'M_NOT_JSON'],
    ];
    for (const [method, p, body, status, errcode] of cases) {
      const res = await h.fed(method, p, body);
      assert.equal(res.status, status, `${method} ${p}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as JsonObject)['errcode'], errcode, `${method} ${p}`);
    }
    assert.equal(await h.eventCount(), stored);
  });
});
