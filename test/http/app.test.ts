// The HTTP foundation over real HTTP: Matrix errors for every way a request can go wrong, CORS, and access tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { revokeCachedTokens } from '../../src/storage/devices.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';

forEachBackend('http foundation', (backend) => {
  test('versions, health, CORS and Matrix errors', async (t) => {
    const server = await startTestServer(t, { backend: backend.name });

    const versions = await server.request('GET', '/_matrix/client/versions');
    assert.equal(versions.status, 200);
    assert.deepEqual(Object.keys(versions.body as object).sort(), ['unstable_features', 'versions']);
    assert.equal(versions.headers.get('access-control-allow-origin'), '*');

    const health = await server.request('GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.body, 'OK');

    const preflight = await server.request('OPTIONS', '/_matrix/client/v3/rooms/!a:b/send/m.room.message/1');
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'GET, POST, PUT, DELETE, OPTIONS');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'X-Requested-With, Content-Type, Authorization');

    const unknown = await server.request('GET', '/_matrix/client/v3/no_such_endpoint');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    assert.equal(unknown.headers.get('access-control-allow-origin'), '*', 'CORS headers on errors too');

    const wrongMethod = await server.request('DELETE', '/_matrix/client/versions');
    assert.equal(wrongMethod.status, 405);
    assert.equal((wrongMethod.body as { errcode: string }).errcode, 'M_UNRECOGNIZED');

    const notJson = await server.request('PUT', '/_matrix/client/versions', { body: '{"a":' });
    assert.equal(notJson.status, 400);
    assert.equal((notJson.body as { errcode: string }).errcode, 'M_NOT_JSON');

    const badEncoding = await server.request('GET', '/_matrix/client/v3/profile/%ED%A0%80');
    assert.equal(badEncoding.status, 400);
    assert.equal((badEncoding.body as { errcode: string }).errcode, 'M_UNRECOGNIZED');
    assert.equal(badEncoding.headers.get('access-control-allow-origin'), '*');
    const longParam = await server.request('GET', `/_matrix/client/v3/profile/@${'a'.repeat(2000)}:x`);
    assert.equal(longParam.status, 414);
    assert.equal((longParam.body as { errcode: string }).errcode, 'M_TOO_LARGE');

    const tooLarge = await server.request('PUT', '/_matrix/client/versions', { body: JSON.stringify({ a: 'x'.repeat(2 * 1024 * 1024) }) });
    assert.equal(tooLarge.status, 413);
    assert.equal((tooLarge.body as { errcode: string }).errcode, 'M_TOO_LARGE');
  });

  test('access tokens: missing, unknown and valid, from the header or the query string', async (t) => {
    const server = await startTestServer(t, { backend: backend.name });
    const alice = await server.createUser('alice');

    const missing = await server.request('GET', '/_matrix/client/v3/account/whoami');
    assert.equal(missing.status, 401);
    assert.equal((missing.body as { errcode: string }).errcode, 'M_MISSING_TOKEN');

    const unknown = await server.request('GET', '/_matrix/client/v3/account/whoami', { token: 'tr_nope' });
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown.body, { errcode: 'M_UNKNOWN_TOKEN', error: 'Unrecognised access token', soft_logout: false });

    const viaHeader = await server.request('GET', '/_matrix/client/v3/account/whoami', { token: alice.accessToken });
    assert.equal(viaHeader.status, 200);
    assert.deepEqual(viaHeader.body, { user_id: alice.userId, device_id: alice.deviceId, is_guest: false });

    const viaQuery = await server.request('GET', `/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(alice.accessToken)}`);
    assert.equal(viaQuery.status, 200);

    await server.running.db.query('UPDATE users SET deactivated = true WHERE user_id = $1', [alice.userId]);
    // Changed behind the server's back: its cache of token owners must be told (the server's own paths do this).
    revokeCachedTokens();
    const deactivated = await server.request('GET', '/_matrix/client/v3/account/whoami', { token: alice.accessToken });
    assert.equal((deactivated.body as { errcode: string }).errcode, 'M_UNKNOWN_TOKEN');
  });

  test('a listener serves only the areas its resources name', async (t) => {
    const server = await startTestServer(t, {
      backend: backend.name,
      config: {
        listeners: [
          { port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['federation'] }] },
          { port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['client'] }] },
          { port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['metrics'] }] },
        ],
      },
    });
    const [federationOnly, clientOnly, metricsOnly] = server.running.listeners.map((l) => l.url);
    const status = async (base: string | undefined, path: string) => (await fetch(`${base}${path}`)).status;

    assert.equal(await status(federationOnly, '/_matrix/client/versions'), 404);
    assert.equal(await status(federationOnly, '/_matrix/federation/v1/version'), 200);
    assert.equal(await status(federationOnly, '/_matrix/key/v2/server'), 200);
    assert.equal(await status(federationOnly, '/_synapse/admin/v1/server_version'), 404);

    assert.equal(await status(clientOnly, '/_matrix/client/versions'), 200);
    assert.equal(await status(clientOnly, '/_synapse/admin/v1/server_version'), 200);
    assert.equal(await status(clientOnly, '/_matrix/federation/v1/version'), 404);
    assert.equal(await status(clientOnly, '/metrics'), 404);

    assert.equal(await status(metricsOnly, '/metrics'), 200);
    assert.equal(await status(metricsOnly, '/_matrix/client/versions'), 404);
    for (const base of [federationOnly, clientOnly, metricsOnly]) assert.equal(await status(base, '/health'), 200);
  });
});
