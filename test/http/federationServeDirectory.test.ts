// Directory and device queries from a remote server over real TLS: /query/directory, GET and POST /publicRooms,
// /user/devices/{userId}, /user/keys/query and /user/keys/claim (empty until device keys are stored), with Matrix
// errors for bad input. Both backends.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import { forEachBackend } from '../helpers/database.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';
import { startServeHarness } from '../federation/serveHarness.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

const F = '/_matrix/federation/v1';
const enc = encodeURIComponent;

forEachBackend('federation serving: directory and devices', (backend) => {
  test('room aliases and the published room directory', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const roomId = await h.createRoom(alice, { preset: 'public_chat', visibility: 'public', room_alias_name: 'lobby', name: 'The lobby', topic: 'Say hi' });
    await h.createRoom(alice, { preset: 'private_chat', name: 'Hidden' });

    const alias = await h.fed('GET', `${F}/query/directory?room_alias=${enc('#lobby:test.local')}`);
    assert.equal(alias.status, 200, JSON.stringify(alias.body));
    await assertMatchesSpec('GET', `${F}/query/directory`, 200, alias.body);
    assert.deepEqual(alias.body, { room_id: roomId, servers: ['test.local'] });
    for (const [query, status, errcode] of [
      [`room_alias=${enc('#nope:test.local')}`, 404, 'M_NOT_FOUND'],
      [`room_alias=${enc('#lobby:elsewhere.example')}`, 404, 'M_NOT_FOUND'],
      ['room_alias=lobby', 400, 'M_INVALID_PARAM'],
      ['other=1', 400, 'M_MISSING_PARAM'],
    ] as const) {
      const res = await h.fed('GET', `${F}/query/directory?${query}`);
      assert.equal(res.status, status, query);
      assert.equal((res.body as JsonObject)['errcode'], errcode, query);
    }

    const listed = await h.fed('GET', `${F}/publicRooms?limit=10`);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    await assertMatchesSpec('GET', `${F}/publicRooms`, 200, listed.body);
    const chunk = (listed.body as { chunk: JsonObject[] }).chunk;
    assert.deepEqual(chunk.map((r) => [r['room_id'], r['name'], r['topic'], r['canonical_alias'], r['num_joined_members']]), [
      [roomId, 'The lobby', 'Say hi', '#lobby:test.local', 1],
    ]);
    const searched = await h.fed('POST', `${F}/publicRooms`, { limit: 5, filter: { generic_search_term: 'lobby' } });
    assert.equal(searched.status, 200);
    await assertMatchesSpec('POST', `${F}/publicRooms`, 200, searched.body);
    assert.equal((searched.body as { chunk: JsonObject[] }).chunk.length, 1);
    const none = await h.fed('POST', `${F}/publicRooms`, { filter: { generic_search_term: 'nothing like it' } });
    assert.deepEqual((none.body as { chunk: JsonObject[] }).chunk, []);

    for (const [method, path, body, errcode] of [
      ['GET', `${F}/publicRooms?limit=lots`, undefined, 'M_INVALID_PARAM'],
      ['GET', `${F}/publicRooms?since=bogus`, undefined, 'M_INVALID_PARAM'],
      ['POST', `${F}/publicRooms`, { limit: 'ten' }, 'M_BAD_JSON'],
      ['POST', `${F}/publicRooms`, { filter: [] }, 'M_BAD_JSON'],
    ] as const) {
      const res = await h.fed(method, path, body);
      assert.equal(res.status, 400, path);
      assert.equal((res.body as JsonObject)['errcode'], errcode, `${method} ${path} ${JSON.stringify(body)}`);
    }
  });

  test('devices and keys: well-formed and empty until device keys exist', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');

    const devices = await h.fed('GET', `${F}/user/devices/${enc(alice.userId)}`);
    assert.equal(devices.status, 200, JSON.stringify(devices.body));
    await assertMatchesSpec('GET', `${F}/user/devices/x`, 200, devices.body);
    assert.deepEqual(devices.body, { user_id: alice.userId, stream_id: 0, devices: [] });
    for (const [userId, status] of [
      ['@nobody:test.local', 404],
      ['@bob:elsewhere.example', 400],
      ['not-a-user', 400],
    ] as const) {
      assert.equal((await h.fed('GET', `${F}/user/devices/${enc(userId)}`)).status, status, userId);
    }

    const query = await h.fed('POST', `${F}/user/keys/query`, { device_keys: { [alice.userId]: [], '@bob:elsewhere.example': [] } });
    assert.equal(query.status, 200);
    await assertMatchesSpec('POST', `${F}/user/keys/query`, 200, query.body);
    assert.deepEqual(query.body, { device_keys: { [alice.userId]: {} } });
    const claim = await h.fed('POST', `${F}/user/keys/claim`, { one_time_keys: { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } } });
    assert.equal(claim.status, 200);
    await assertMatchesSpec('POST', `${F}/user/keys/claim`, 200, claim.body);
    assert.deepEqual(claim.body, { one_time_keys: {} });

    for (const [path, body, errcode] of [
      [`${F}/user/keys/query`, {}, 'M_BAD_JSON'],
      [`${F}/user/keys/query`, { device_keys: { [alice.userId]: 'all' } }, 'M_BAD_JSON'],
      [`${F}/user/keys/claim`, { one_time_keys: [] }, 'M_BAD_JSON'],
      [`${F}/user/keys/claim`, '[1', 'M_NOT_JSON'],
    ] as const) {
      const res = await h.fed('POST', path, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal((res.body as JsonObject)['errcode'], errcode, `${path} ${JSON.stringify(body)}`);
    }
  });
});
