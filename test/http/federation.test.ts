// Federation without rooms, end to end: Troupe on a real TLS port and a remote server played by the test on
// another, with its own ed25519 key. Keys, version, well-known, the notary, and X-Matrix authentication.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { checkServerKeys } from '../../src/federation/serverKeys.ts';
import { checkJsonSignature, generateSigningKey, verifyKeyFromBase64 } from '../../src/protocol/signing.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { PostgresProfileStore } from '../../src/storage/profiles.ts';
import { forEachBackend, type TestBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { federationTlsConfig, httpsJson, startRemoteServer } from '../federation/remoteServer.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

const DAY = 86_400_000;

async function startTroupe(t: Parameters<typeof startTestServer>[0], backend: TestBackend, config: Record<string, unknown> = {}): Promise<TestServer> {
  return startTestServer(t, {
    backend: backend.name,
    config: {
      listeners: [{ port: 0, bind_addresses: ['127.0.0.1'], tls: true }],
      ...federationTlsConfig(certificate),
      ...config,
    },
  });
}

function get(server: TestServer, path: string, headers: Record<string, string> = {}) {
  return httpsJson(`${server.url}${path}`, { ca: certificate.cert, headers });
}

async function storedKeys(server: TestServer, serverName: string): Promise<string[]> {
  const { rows } = await server.running.db.query<{ key_id: string }>('SELECT key_id FROM server_keys WHERE server_name = $1', [serverName]);
  return rows.map((r) => r.key_id);
}

forEachBackend('federation over TLS', (backend) => {
  test('a remote server fetches our keys and verifies their signature', async (t) => {
    const troupe = await startTroupe(t, backend);
    const before = Date.now();
    const { status, body } = await get(troupe, '/_matrix/key/v2/server');
    assert.equal(status, 200);
    await assertMatchesSpec('GET', '/_matrix/key/v2/server', 200, body);
    const doc = body as JsonObject;
    const checked = checkServerKeys(doc, 'test.local');
    assert.ok(checked.ok, JSON.stringify(checked));
    const signingKey = troupe.running.signingKey;
    assert.deepEqual(doc['verify_keys'], { [signingKey.keyId]: { key: signingKey.publicKeyBase64 } });
    assert.deepEqual(doc['old_verify_keys'], {});
    const sig = checkJsonSignature(doc, 'test.local', new Map([[signingKey.keyId, { key: verifyKeyFromBase64(signingKey.publicKeyBase64) }]]));
    assert.ok(sig.ok);
    const validUntil = doc['valid_until_ts'] as number;
    assert.ok(validUntil >= before + DAY && validUntil <= Date.now() + DAY);
  });

  test('version; /.well-known/matrix/server is 404 unless serve_server_wellknown', async (t) => {
    const troupe = await startTroupe(t, backend);
    const version = await get(troupe, '/_matrix/federation/v1/version');
    assert.deepEqual(version, { status: 200, body: { server: { name: 'Troupe', version: '0.1.0' } } });
    await assertMatchesSpec('GET', '/_matrix/federation/v1/version', 200, version.body);
    const wellKnown = await get(troupe, '/.well-known/matrix/server');
    assert.equal(wellKnown.status, 404);
    assert.equal((wellKnown.body as JsonObject)['errcode'], 'M_UNRECOGNIZED');

    const serving = await startTroupe(t, backend, { serve_server_wellknown: true, public_baseurl: 'https://matrix.test.local/' });
    const served = await get(serving, '/.well-known/matrix/server');
    assert.deepEqual(served, { status: 200, body: { 'm.server': 'matrix.test.local:443' } });
    await assertMatchesSpec('GET', '/.well-known/matrix/server', 200, served.body);
  });

  test('notary: Troupe fetches the remote server\'s keys over TLS, caches them, and answers co-signed', async (t) => {
    const troupe = await startTroupe(t, backend);
    const remote = await startRemoteServer(t, certificate);
    const ourKey = troupe.running.signingKey;
    const ourKeys = new Map([[ourKey.keyId, { key: ourKey.publicKey }]]);
    const remoteKeys = new Map([[remote.key.keyId, { key: remote.key.publicKey }]]);

    const { status, body } = await get(troupe, `/_matrix/key/v2/query/${encodeURIComponent(remote.serverName)}`);
    assert.equal(status, 200);
    await assertMatchesSpec('GET', '/_matrix/key/v2/query/{serverName}', 200, body);
    const docs = (body as { server_keys: JsonObject[] }).server_keys;
    assert.equal(docs.length, 1);
    const doc = docs[0] as JsonObject;
    assert.ok(checkServerKeys(doc, remote.serverName).ok);
    assert.ok(checkJsonSignature(doc, remote.serverName, remoteKeys).ok);
    assert.ok(checkJsonSignature(doc, 'test.local', ourKeys).ok, 'co-signed by the notary');
    assert.deepEqual(await storedKeys(troupe, remote.serverName), [remote.key.keyId]);
    assert.equal(remote.received.filter((r) => r.url === '/_matrix/key/v2/server').length, 1);
    assert.equal(remote.received[0]?.headers.host, remote.serverName);

    // Asked again: answered from the cache. POST covers several servers, ourselves included.
    const post = await httpsJson(`${troupe.url}/_matrix/key/v2/query`, {
      ca: certificate.cert,
      method: 'POST',
      body: { server_keys: { [remote.serverName]: { [remote.key.keyId]: { minimum_valid_until_ts: Date.now() } }, 'test.local': {} } },
    });
    assert.equal(post.status, 200);
    await assertMatchesSpec('POST', '/_matrix/key/v2/query', 200, post.body);
    const postDocs = (post.body as { server_keys: JsonObject[] }).server_keys;
    assert.deepEqual(postDocs.map((d) => d['server_name']).sort(), [remote.serverName, 'test.local'].sort());
    for (const d of postDocs) assert.ok(checkJsonSignature(d, 'test.local', ourKeys).ok);
    assert.equal(remote.received.length, 1, 'no second fetch');

    // A server that cannot be reached and is not cached: an empty list.
    const gone = await get(troupe, '/_matrix/key/v2/query/127.0.0.1:1');
    assert.deepEqual(gone, { status: 200, body: { server_keys: [] } });
    // Bad input is a Matrix error.
    const bad = await get(troupe, `/_matrix/key/v2/query/${encodeURIComponent(remote.serverName)}?minimum_valid_until_ts=soon`);
    assert.equal(bad.status, 400);
    const badPost = await httpsJson(`${troupe.url}/_matrix/key/v2/query`, { ca: certificate.cert, method: 'POST', body: { server_keys: [] } });
    assert.equal((badPost.body as JsonObject)['errcode'], 'M_BAD_JSON');
  });

  test('the default federation_ip_range_blacklist keeps Troupe from connecting to loopback', async (t) => {
    const troupe = await startTestServer(t, { backend: backend.name, config: { federation_custom_ca_list: [certificate.certPath] } });
    const remote = await startRemoteServer(t, certificate);
    const { body } = await troupe.request('GET', `/_matrix/key/v2/query/${encodeURIComponent(remote.serverName)}`);
    assert.deepEqual(body, { server_keys: [] });
    assert.equal(remote.received.length, 0);
  });

  test('X-Matrix: a signed request passes; missing, forged, misdirected or unknown-key requests are 401', async (t) => {
    const troupe = await startTroupe(t, backend);
    const remote = await startRemoteServer(t, certificate, { name: 'localhost' });
    const alice = await troupe.createUser('alice');
    await new PostgresProfileStore(troupe.running.db).setField(alice.userId, 'displayname', 'Alice');
    const uri = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(alice.userId)}`;

    const good = await get(troupe, uri, { authorization: remote.sign('GET', uri, 'test.local') });
    assert.deepEqual(good, { status: 200, body: { displayname: 'Alice' } });
    await assertMatchesSpec('GET', '/_matrix/federation/v1/query/profile', 200, good.body);
    assert.deepEqual(await storedKeys(troupe, remote.serverName), [remote.key.keyId], 'keys fetched from localhost:<port> and cached');
    const field = `${uri}&field=avatar_url`;
    assert.deepEqual(await get(troupe, field, { authorization: remote.sign('GET', field, 'test.local') }), { status: 200, body: {} });

    const refusals: [string, Record<string, string>][] = [
      ['missing', {}],
      ['bearer', { authorization: `Bearer ${alice.accessToken}` }],
      ['forged', { authorization: remote.sign('GET', uri, 'test.local', undefined, generateSigningKey('remote1')) }],
      ['other uri', { authorization: remote.sign('GET', `${uri}&x=1`, 'test.local') }],
      ['wrong destination', { authorization: remote.sign('GET', uri, 'elsewhere.example') }],
      ['unknown key', { authorization: remote.sign('GET', uri, 'test.local', undefined, generateSigningKey('nokey')) }],
    ];
    for (const [name, headers] of refusals) {
      const res = await get(troupe, uri, headers);
      assert.equal(res.status, 401, name);
      assert.equal((res.body as JsonObject)['errcode'], 'M_UNAUTHORIZED', name);
    }
    assert.deepEqual(await storedKeys(troupe, remote.serverName), [remote.key.keyId], 'nothing else stored');

    // Profile errors once authenticated.
    const remoteUser = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent('@bob:elsewhere.example')}`;
    const notOurs = await get(troupe, remoteUser, { authorization: remote.sign('GET', remoteUser, 'test.local') });
    assert.equal(notOurs.status, 400);
    const missing = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent('@nobody:test.local')}`;
    const nobody = await get(troupe, missing, { authorization: remote.sign('GET', missing, 'test.local') });
    assert.equal(nobody.status, 404);
    assert.equal((nobody.body as JsonObject)['errcode'], 'M_NOT_FOUND');
  });

  test('federation_domain_whitelist: a server not listed gets 403 M_FORBIDDEN and nothing is fetched', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    const troupe = await startTroupe(t, backend, { federation_domain_whitelist: ['friend.example'] });
    const alice = await troupe.createUser('alice');
    const uri = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(alice.userId)}`;
    const res = await get(troupe, uri, { authorization: remote.sign('GET', uri, 'test.local') });
    assert.equal(res.status, 403);
    assert.equal((res.body as JsonObject)['errcode'], 'M_FORBIDDEN');
    assert.equal(remote.received.length, 0);
    assert.deepEqual(await storedKeys(troupe, remote.serverName), []);

    const allowing = await startTroupe(t, backend, { federation_domain_whitelist: [remote.serverName] });
    const bob = await allowing.createUser('bob');
    const uri2 = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(bob.userId)}`;
    assert.equal((await get(allowing, uri2, { authorization: remote.sign('GET', uri2, 'test.local') })).status, 200);
  });
});
