// The X-Matrix preHandler on a test-only route: a valid request reaches the handler and reports its origin
// through the remote-up port; every refused request gets a Matrix error, never reaches the handler, reports
// nothing and stores nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseConfig } from '../../src/config/config.ts';
import { createFederation } from '../../src/federation/index.ts';
import { requestOrigin, signRequest } from '../../src/federation/requestAuth.ts';
import { ownServerKeys } from '../../src/federation/serverKeys.ts';
import type { FederationFetcher } from '../../src/federation/client.ts';
import { buildApp } from '../../src/http/app.ts';
import { createHttpContext } from '../../src/http/context.ts';
import type { UserData } from '../../src/sync/userDataSource.ts';
import { authenticatedFederationRoutes } from '../../src/http/routes/federation/index.ts';
import { route } from '../../src/http/routes.ts';
import { createLogger } from '../../src/log.ts';
import type { Notifier } from '../../src/notifier.ts';
import { generateSigningKey, type SigningKey } from '../../src/protocol/signing.ts';
import type { JsonValue } from '../../src/protocol/json.ts';
import type { RoomService } from '../../src/rooms/service.ts';
import { forEachBackend } from '../helpers/database.ts';

const REMOTE = 'remote.example';

forEachBackend('federation request authentication', (backend) => {
  async function setup(t: Parameters<typeof backend.fresh>[0], config: Record<string, unknown> = {}) {
    const db = await backend.fresh(t);
    const remoteKey = generateSigningKey('r1');
    const fetched: string[] = [];
    const fetcher: FederationFetcher = {
      async request(server) {
        fetched.push(server);
        if (server !== REMOTE) throw new Error('unreachable');
        return { status: 200, body: ownServerKeys(REMOTE, remoteKey, Date.now()), headers: {} };
      },
    };
    const up: string[] = [];
    const cfg = normaliseConfig({ server_name: 'us.example', ...config } as Parameters<typeof normaliseConfig>[0], {});
    const logger = createLogger({ level: 'silent' });
    const signingKey = generateSigningKey('us');
    const federation = await createFederation({ config: cfg, db, signingKey, logger, fetcher, remoteUp: (s) => up.push(s) });
    const context = createHttpContext({
      config: cfg,
      logger,
      db,
      signingKey,
      notifier: {} as Notifier,
      rooms: {} as RoomService,
      userData: {} as UserData,
      federation,
    });
    const app = buildApp({ context });
    const handled: { origin: string; body: unknown }[] = [];
    authenticatedFederationRoutes(app, context, federation, (scope) => {
      route(scope, '/_matrix/federation/v1/test/:id', {
        PUT: async (request) => {
          handled.push({ origin: requestOrigin(request), body: request.body });
          return { ok: true };
        },
      });
    });
    t.after(() => app.close());
    return { app, remoteKey, up, handled, fetched, db };
  }

  const sign = async (key: SigningKey, method: string, uri: string, content: JsonValue, destination = 'us.example') =>
    signRequest({ method, uri, origin: REMOTE, destination, key, content });

  test('a valid request reaches the handler with its origin and wakes the remote', async (t) => {
    const { app, remoteKey, up, handled } = await setup(t);
    const body = { hello: 'world', n: [1, 2] };
    const res = await app.inject({
      method: 'PUT',
      url: '/_matrix/federation/v1/test/1?a=b%20c',
      headers: { authorization: await sign(remoteKey, 'PUT', '/_matrix/federation/v1/test/1?a=b%20c', body) },
      payload: body,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(handled, [{ origin: REMOTE, body }]);
    assert.deepEqual(up, [REMOTE]);
  });

  test('refused requests change nothing: no handler, no remote-up', async (t) => {
    const { app, remoteKey, up, handled, db } = await setup(t);
    const uri = '/_matrix/federation/v1/test/1';
    const body = { a: 1 };
    const cases: [string, Record<string, string>, number, string][] = [
      ['missing', {}, 401, 'M_UNAUTHORIZED'],
      ['bad signature', { authorization: await sign(generateSigningKey('r1'), 'PUT', uri, body) }, 401, 'M_UNAUTHORIZED'],
      ['other body', { authorization: await sign(remoteKey, 'PUT', uri, { a: 2 }) }, 401, 'M_UNAUTHORIZED'],
      ['wrong destination', { authorization: await sign(remoteKey, 'PUT', uri, body, 'them.example') }, 401, 'M_UNAUTHORIZED'],
      ['unknown key', { authorization: await sign(generateSigningKey('zz'), 'PUT', uri, body) }, 401, 'M_UNAUTHORIZED'],
    ];
    for (const [name, headers, status, errcode] of cases) {
      const res = await app.inject({ method: 'PUT', url: uri, headers, payload: body });
      assert.equal(res.statusCode, status, name);
      assert.equal(res.json().errcode, errcode, name);
    }
    // A malformed body is refused before authentication even looks at it.
    const notJson = await app.inject({ method: 'PUT', url: uri, headers: { 'content-type': 'application/json' }, payload: '{nope' });
    assert.equal(notJson.json().errcode, 'M_NOT_JSON');
    assert.deepEqual(handled, []);
    assert.deepEqual(up, []);
    // Only the remote's real key was ever stored (fetched for the signed attempts).
    const { rows } = await db.query<{ key_id: string }>('SELECT key_id FROM server_keys');
    assert.deepEqual(rows.map((r) => r.key_id), [remoteKey.keyId]);
  });

  test('a server outside federation_domain_whitelist is refused with 403 before any key fetch', async (t) => {
    const { app, remoteKey, up, handled, fetched } = await setup(t, { federation_domain_whitelist: ['friend.example'] });
    const uri = '/_matrix/federation/v1/test/1';
    const res = await app.inject({ method: 'PUT', url: uri, headers: { authorization: await sign(remoteKey, 'PUT', uri, {}) }, payload: {} });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().errcode, 'M_FORBIDDEN');
    assert.deepEqual([handled, up, fetched], [[], [], []]);
  });
});
