// The keyring over a real server_keys table (both backends) with a fake network: fetching directly, caching,
// validity (valid_until_ts, the 7-day cap, old keys), refusing bad documents, and the notary fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FederationFetcher, FederationRequest, FederationResponse } from '../../src/federation/client.ts';
import { Keyring, type TrustedKeyServer } from '../../src/federation/keyring.ts';
import { PostgresServerKeyStore, type ServerKeyStore } from '../../src/federation/serverKeyStore.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { generateSigningKey, signJson, type SigningKey } from '../../src/protocol/signing.ts';
import type { Database } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';

const DAY = 86_400_000;
const T0 = 1_700_000_000_000;

/** A fake network of servers answering /_matrix/key/v2/server (and notaries answering /query). */
class FakeNetwork implements FederationFetcher {
  readonly requests: { server: string; request: FederationRequest }[] = [];
  readonly handlers = new Map<string, (request: FederationRequest) => FederationResponse | Promise<FederationResponse>>();

  async request(server: string, request: FederationRequest): Promise<FederationResponse> {
    this.requests.push({ server, request });
    const handler = this.handlers.get(server);
    if (!handler) throw new Error(`${server}: connection refused`);
    return handler(request);
  }

  fetchesOf(server: string): number {
    return this.requests.filter((r) => r.server === server).length;
  }
}

function keyDocument(server: string, keys: SigningKey[], validUntilTs: number, old: JsonObject = {}): JsonObject {
  let doc: JsonObject = {
    server_name: server,
    verify_keys: Object.fromEntries(keys.map((k) => [k.keyId, { key: k.publicKeyBase64 }])),
    old_verify_keys: old,
    valid_until_ts: validUntilTs,
  };
  for (const k of keys) doc = signJson(doc, server, k);
  return doc;
}

const ok = (body: unknown): FederationResponse => ({ status: 200, body, headers: {} });

function setup(db: Database, options: { trusted?: TrustedKeyServer[]; net?: FakeNetwork } = {}) {
  const net = options.net ?? new FakeNetwork();
  const clock = { now: T0 };
  const ours = generateSigningKey('ours');
  const make = () =>
    new Keyring({
      serverName: 'us.example',
      signingKey: ours,
      store: new PostgresServerKeyStore(db),
      fetcher: net,
      now: () => clock.now,
      ...(options.trusted ? { trustedKeyServers: options.trusted } : {}),
    });
  return { net, clock, ours, keyring: make(), make };
}

forEachBackend('keyring', (backend) => {
  test('fetches a server\'s keys directly once, caches them in the database, and reuses them', async (t) => {
    const db = await backend.fresh(t);
    const { net, keyring, make } = setup(db);
    const remote = generateSigningKey('r1');
    net.handlers.set('remote.example', () => ok(keyDocument('remote.example', [remote], T0 + DAY)));

    const keys = await keyring.getVerifyKeys('remote.example', T0);
    assert.deepEqual([...keys.keys()], [remote.keyId]);
    assert.equal(keys.get(remote.keyId)?.validUntilTs, T0 + DAY);
    assert.deepEqual(net.requests[0], { server: 'remote.example', request: { method: 'GET', path: '/_matrix/key/v2/server' } });
    await keyring.getVerifyKeys('remote.example', T0 + 1000, [remote.keyId]);
    assert.equal(net.fetchesOf('remote.example'), 1);

    const { rows } = await db.query<{ key_id: string; verify_key: string; valid_until_ts: number; fetched_ts: number; fetched_from: string; response_json: string }>(
      'SELECT key_id, verify_key, valid_until_ts, fetched_ts, fetched_from, response_json FROM server_keys WHERE server_name = $1',
      ['remote.example'],
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.verify_key, remote.publicKeyBase64);
    assert.equal(rows[0]?.valid_until_ts, T0 + DAY);
    assert.equal(rows[0]?.fetched_ts, T0);
    assert.equal(rows[0]?.fetched_from, 'remote.example');
    assert.deepEqual(JSON.parse(rows[0]?.response_json ?? ''), keyDocument('remote.example', [remote], T0 + DAY));

    // A new keyring (a restart) finds them in the database.
    const again = await make().getVerifyKeys('remote.example', T0);
    assert.ok(again.has(remote.keyId));
    assert.equal(net.fetchesOf('remote.example'), 1);
  });

  test('honours validity: an expired key is refetched, never handed out, and capped at 7 days after the fetch', async (t) => {
    const db = await backend.fresh(t);
    const { net, clock, keyring } = setup(db);
    const remote = generateSigningKey('r1');
    let validUntil = T0 + 30 * DAY;
    net.handlers.set('remote.example', () => ok(keyDocument('remote.example', [remote], validUntil)));

    const keys = await keyring.getVerifyKeys('remote.example', T0);
    assert.equal(keys.get(remote.keyId)?.validUntilTs, T0 + 7 * DAY, 'valid_until_ts is capped at fetch + 7 days');
    // Asking for keys valid beyond the cap fetches again (once the refetch interval has passed); the server
    // still says 30 days, capped again at fetch + 7.
    assert.equal((await keyring.getVerifyKeys('remote.example', T0 + 8 * DAY)).size, 0);
    assert.equal(net.fetchesOf('remote.example'), 1, 'not again within the refetch interval');
    clock.now += 60_000;
    const later = await keyring.getVerifyKeys('remote.example', T0 + 8 * DAY);
    assert.equal(later.size, 0, 'nothing valid that long, even after a refetch');
    assert.equal(net.fetchesOf('remote.example'), 2);

    // Time passes beyond the cap: the key is no longer trusted for new requests until a fetch renews it.
    clock.now = T0 + 8 * DAY;
    validUntil = clock.now + DAY;
    const renewed = await keyring.getVerifyKeys('remote.example', clock.now);
    assert.equal(renewed.get(remote.keyId)?.validUntilTs, clock.now + DAY);
    assert.equal(net.fetchesOf('remote.example'), 3);

    // The server goes away and its keys expire: nothing is handed out for new events, old ones still verify.
    net.handlers.delete('remote.example');
    clock.now += 2 * DAY;
    assert.equal((await keyring.getVerifyKeys('remote.example', clock.now)).size, 0);
    assert.ok((await keyring.getVerifyKeys('remote.example', clock.now - 2 * DAY)).has(remote.keyId));
    assert.ok((await keyring.getVerifyKeys('remote.example', 0)).has(remote.keyId), 'room versions 1-4 ignore validity');
  });

  test('old_verify_keys are valid until their expired_ts', async (t) => {
    const db = await backend.fresh(t);
    const { net, keyring } = setup(db);
    const current = generateSigningKey('new');
    const old = generateSigningKey('old');
    net.handlers.set('remote.example', () =>
      ok(keyDocument('remote.example', [current], T0 + DAY, { [old.keyId]: { key: old.publicKeyBase64, expired_ts: T0 - DAY } })),
    );
    const forOldEvent = await keyring.getVerifyKeys('remote.example', T0 - 2 * DAY);
    assert.equal(forOldEvent.get(old.keyId)?.validUntilTs, T0 - DAY);
    const forNow = await keyring.getVerifyKeys('remote.example', T0);
    assert.deepEqual([...forNow.keys()], [current.keyId]);
  });

  test('an unknown key id triggers a fetch, but not more than once per refetch interval', async (t) => {
    const db = await backend.fresh(t);
    const { net, clock, keyring } = setup(db);
    const remote = generateSigningKey('r1');
    net.handlers.set('remote.example', () => ok(keyDocument('remote.example', [remote], T0 + DAY)));
    await keyring.getVerifyKeys('remote.example', T0);
    clock.now += 60_000;
    assert.equal((await keyring.getVerifyKeys('remote.example', clock.now, ['ed25519:nope'])).has('ed25519:nope'), false);
    assert.equal(net.fetchesOf('remote.example'), 2);
    for (let i = 0; i < 5; i++) await keyring.getVerifyKeys('remote.example', clock.now, ['ed25519:nope']);
    assert.equal(net.fetchesOf('remote.example'), 2);
  });

  test('concurrent requests for the same server share one fetch', async (t) => {
    const db = await backend.fresh(t);
    const { net, keyring } = setup(db);
    const remote = generateSigningKey('r1');
    net.handlers.set('remote.example', () => ok(keyDocument('remote.example', [remote], T0 + DAY)));
    const all = await Promise.all([1, 2, 3, 4].map(() => keyring.getVerifyKeys('remote.example', T0)));
    assert.ok(all.every((k) => k.has(remote.keyId)));
    assert.equal(net.fetchesOf('remote.example'), 1);
  });

  test('a cache read that began before keys were stored does not hide them afterwards', async (t) => {
    const db = await backend.fresh(t);
    const net = new FakeNetwork();
    const store = new PostgresServerKeyStore(db);
    // The first read of the store is held back until the fetch below has stored the keys.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    const slowStore: ServerKeyStore = {
      keysOf: async (server) => {
        // Counted before the query: the caller that asked first is the one held, whichever query ends first.
        const first = reads++ === 0;
        const rows = await store.keysOf(server);
        if (first) await held;
        return rows;
      },
      storeResponse: (keys) => store.storeResponse(keys),
    };
    const keyring = new Keyring({ serverName: 'us.example', signingKey: generateSigningKey('ours'), store: slowStore, fetcher: net, now: () => T0 });
    const remote = generateSigningKey('r1');
    net.handlers.set('remote.example', () => ok(keyDocument('remote.example', [remote], T0 + DAY)));
    const early = keyring.getVerifyKeys('remote.example', T0);
    const fetched = await keyring.getVerifyKeys('remote.example', T0);
    assert.ok(fetched.has(remote.keyId));
    release();
    assert.ok((await early).has(remote.keyId), 'the early caller ends with the keys too');
    assert.ok((await keyring.getVerifyKeys('remote.example', T0)).has(remote.keyId), 'and nothing stale was cached');
    assert.equal(net.fetchesOf('remote.example'), 1);
  });

  test('documents that fail the checks store nothing', async (t) => {
    const db = await backend.fresh(t);
    const { net, clock, keyring } = setup(db);
    const remote = generateSigningKey('r1');
    const impostor = generateSigningKey('r1');
    const answers: unknown[] = [
      { ...keyDocument('remote.example', [remote], T0 + DAY), signatures: keyDocument('remote.example', [impostor], T0 + DAY)['signatures'] ?? null },
      keyDocument('elsewhere.example', [remote], T0 + DAY),
      'not json',
    ];
    let i = 0;
    net.handlers.set('remote.example', () => ok(answers[i++]));
    for (let n = 0; n < answers.length; n++) {
      assert.equal((await keyring.getVerifyKeys('remote.example', clock.now)).size, 0);
      clock.now += 60_000;
    }
    net.handlers.set('remote.example', () => ({ status: 500, body: { errcode: 'M_UNKNOWN' }, headers: {} }));
    assert.equal((await keyring.getVerifyKeys('remote.example', clock.now)).size, 0);
    const { rows } = await db.query('SELECT 1 FROM server_keys');
    assert.equal(rows.length, 0);
  });

  test('our own keys come from the signing key, without the network', async (t) => {
    const db = await backend.fresh(t);
    const { net, ours, keyring } = setup(db);
    const keys = await keyring.getVerifyKeys('us.example', T0 + 365 * DAY);
    assert.equal(keys.get(ours.keyId)?.key, ours.publicKey);
    assert.equal(net.requests.length, 0);
  });

  test('our retired keys (old_signing_keys) verify only what was signed before their expired_ts', async (t) => {
    const db = await backend.fresh(t);
    const net = new FakeNetwork();
    const ours = generateSigningKey('ours');
    const retired = generateSigningKey('retired');
    const keyring = new Keyring({
      serverName: 'us.example',
      signingKey: ours,
      oldVerifyKeys: [{ keyId: retired.keyId, key: retired.publicKeyBase64, expiredTs: T0 }],
      store: new PostgresServerKeyStore(db),
      fetcher: net,
      now: () => T0 + DAY,
    });
    const before = await keyring.getVerifyKeys('us.example', T0 - 1);
    assert.deepEqual([...before.keys()].sort(), [ours.keyId, retired.keyId].sort());
    assert.equal(before.get(retired.keyId)?.validUntilTs, T0);
    assert.deepEqual([...(await keyring.getVerifyKeys('us.example', T0 + 1)).keys()], [ours.keyId]);
    assert.deepEqual(keyring.ownKeys()['old_verify_keys'], { [retired.keyId]: { key: retired.publicKeyBase64, expired_ts: T0 } });
    assert.equal(net.requests.length, 0);
  });

  test('notary fallback: off by default; when configured, used only if the server fails, and only signed answers count', async (t) => {
    const db = await backend.fresh(t);
    const remote = generateSigningKey('r1');
    const notaryKey = generateSigningKey('n1');
    const notaryDoc = (doc: JsonObject, key = notaryKey) => signJson(doc, 'notary.example', key);
    const net = new FakeNetwork();
    let notaryAnswer: unknown = { server_keys: [notaryDoc(keyDocument('remote.example', [remote], T0 + DAY))] };
    net.handlers.set('notary.example', () => ok(notaryAnswer));

    // Not configured: the notary is never asked.
    const plain = setup(db, { net });
    assert.equal((await plain.keyring.getVerifyKeys('remote.example', T0)).size, 0);
    assert.equal(net.fetchesOf('notary.example'), 0);

    const trusted = [{ serverName: 'notary.example', verifyKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 } }];
    // An answer signed by someone else than the configured notary key is ignored.
    notaryAnswer = { server_keys: [notaryDoc(keyDocument('remote.example', [remote], T0 + DAY), generateSigningKey('n1'))] };
    const wrong = setup(db, { net, trusted });
    assert.equal((await wrong.keyring.getVerifyKeys('remote.example', T0)).size, 0);
    assert.equal(net.fetchesOf('notary.example'), 1);
    const request = net.requests.find((r) => r.server === 'notary.example')?.request;
    assert.deepEqual(request, { method: 'POST', path: '/_matrix/key/v2/query', body: { server_keys: { 'remote.example': {} } } });

    // A properly co-signed answer is stored, with only the server's own signature kept.
    notaryAnswer = { server_keys: [notaryDoc(keyDocument('remote.example', [remote], T0 + DAY))] };
    const good = setup(db, { net, trusted });
    const keys = await good.keyring.getVerifyKeys('remote.example', T0, [remote.keyId]);
    assert.ok(keys.has(remote.keyId));
    const { rows } = await db.query<{ fetched_from: string; response_json: string }>('SELECT fetched_from, response_json FROM server_keys');
    assert.equal(rows[0]?.fetched_from, 'notary.example');
    assert.deepEqual(Object.keys((JSON.parse(rows[0]?.response_json ?? '{}') as { signatures: object }).signatures), ['remote.example']);

    // When the server answers itself, the notary is not asked.
    const other = generateSigningKey('o1');
    net.handlers.set('other.example', () => ok(keyDocument('other.example', [other], T0 + DAY)));
    const before = net.fetchesOf('notary.example');
    assert.ok((await good.keyring.getVerifyKeys('other.example', T0)).has(other.keyId));
    assert.equal(net.fetchesOf('notary.example'), before);
  });

  test('notary responses: cached documents, refreshed from the server when stale, returned stale when it is down', async (t) => {
    const db = await backend.fresh(t);
    const { net, clock, keyring } = setup(db);
    const remote = generateSigningKey('r1');
    net.handlers.set('remote.example', () => ok(keyDocument('remote.example', [remote], clock.now + DAY)));
    const first = await keyring.keyResponses('remote.example', T0);
    assert.deepEqual(first, [keyDocument('remote.example', [remote], T0 + DAY)]);
    assert.equal(net.fetchesOf('remote.example'), 1);
    await keyring.keyResponses('remote.example', T0 + DAY);
    assert.equal(net.fetchesOf('remote.example'), 1, 'valid until the asked time: answered from the cache');
    clock.now = T0 + 2 * DAY;
    assert.equal((await keyring.keyResponses('remote.example', clock.now))[0]?.['valid_until_ts'], T0 + 3 * DAY);
    net.handlers.delete('remote.example');
    clock.now = T0 + 5 * DAY;
    assert.equal((await keyring.keyResponses('remote.example', clock.now))[0]?.['valid_until_ts'], T0 + 3 * DAY);
    assert.deepEqual(await keyring.keyResponses('unknown.example', clock.now), []);
  });
});
