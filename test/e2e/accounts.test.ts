// Accounts across a server restart, on both backends: a registration's user-interactive auth session begun before
// the restart completes after it; logins, refresh tokens, devices and profiles are all still there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { normaliseConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import { createTestDatabase, forEachBackend } from '../helpers/database.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';

const V3 = '/_matrix/client/v3';
type Body = Record<string, unknown>;

async function send(server: RunningServer, method: string, urlPath: string, status: number, options: { token?: string; body?: unknown } = {}): Promise<Body> {
  const headers: Record<string, string> = {};
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.listeners[0]?.url ?? ''}${urlPath}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const body = (await response.json()) as Body;
  assert.equal(response.status, status, `${method} ${urlPath}: ${JSON.stringify(body)}`);
  await assertMatchesSpec(method, urlPath, status, body);
  return body;
}

forEachBackend('accounts across a restart', (backend) => {
  test('UIA sessions, tokens, refresh tokens, devices and profiles survive a restart', async (t) => {
    const database = await createTestDatabase(backend.name);
    t.after(() => database.close());
    const config = normaliseConfig(
      {
        server_name: 'restart.local',
        data_directory: await mkdtemp(path.join(tmpdir(), 'troupe-accounts-')),
        listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }],
        enable_registration: true,
      } as Parameters<typeof normaliseConfig>[0],
      {},
    );
    const logger = createLogger({ level: 'silent' });
    let server = await startServer(config, logger, { db: database.db });
    try {
      const challenge = await send(server, 'POST', `${V3}/register`, 401, { body: { username: 'alice', password: 'pw' } });
      await server.close();
      server = await startServer(config, logger, { db: database.db });

      const alice = await send(server, 'POST', `${V3}/register`, 200, {
        body: { username: 'alice', password: 'pw', refresh_token: true, initial_device_display_name: 'Phone', auth: { type: 'm.login.dummy', session: challenge['session'] } },
      });
      const token = alice['access_token'] as string;
      await send(server, 'PUT', `${V3}/profile/${encodeURIComponent('@alice:restart.local')}/displayname`, 200, { token, body: { displayname: 'Alice' } });
      const laptop = await send(server, 'POST', `${V3}/login`, 200, {
        body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw', device_id: 'LAPTOP' },
      });
      // A deletion's UIA session begun before the restart.
      const deletion = await send(server, 'POST', `${V3}/delete_devices`, 401, { token, body: { devices: ['LAPTOP'] } });
      await server.close();
      server = await startServer(config, logger, { db: database.db });

      await send(server, 'GET', `${V3}/account/whoami`, 200, { token });
      await send(server, 'GET', `${V3}/account/whoami`, 200, { token: laptop['access_token'] as string });
      assert.deepEqual(await send(server, 'GET', `${V3}/profile/${encodeURIComponent('@alice:restart.local')}`, 200), { displayname: 'Alice' });
      const devices = await send(server, 'GET', `${V3}/devices`, 200, { token });
      assert.deepEqual(
        (devices['devices'] as Body[]).map((d) => [d['device_id'], d['display_name']]).sort(),
        [[alice['device_id'], 'Phone'], ['LAPTOP', undefined]].sort(),
      );
      const refreshed = await send(server, 'POST', `${V3}/refresh`, 200, { body: { refresh_token: alice['refresh_token'] } });
      await send(server, 'GET', `${V3}/account/whoami`, 200, { token: refreshed['access_token'] as string });
      await send(server, 'POST', `${V3}/delete_devices`, 200, {
        token: refreshed['access_token'] as string,
        body: { devices: ['LAPTOP'], auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw', session: deletion['session'] } },
      });
      const after = await send(server, 'GET', `${V3}/devices`, 200, { token: refreshed['access_token'] as string });
      assert.deepEqual((after['devices'] as Body[]).map((d) => d['device_id']), [alice['device_id']]);
    } finally {
      await server.close();
    }
  });
});
