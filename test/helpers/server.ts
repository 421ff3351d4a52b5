// A whole Troupe on a free loopback port over a fresh database, for tests over real HTTP.
//
//   const server = await startTestServer(t);                 // PGlite; { backend: 'postgres' } for PostgreSQL
//   const alice = await server.createUser('alice');          // { userId, accessToken, deviceId }
//   const res = await server.request('GET', '/_matrix/client/v3/account/whoami', { token: alice.accessToken });
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { normaliseConfig, type Config } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { hashPassword } from '../../src/auth/passwords.ts';
import type { Database } from '../../src/storage/database.ts';
import { createTestDatabase, type AfterHook, type BackendName } from './database.ts';

export interface TestUser {
  userId: string;
  accessToken: string;
  deviceId: string;
  password: string;
}

export interface TestServer {
  url: string;
  serverName: string;
  running: RunningServer;
  config: Config;
  /** Creates a local user with a password and a logged-in device, straight in the database. */
  createUser(localpart: string, options?: { admin?: boolean; password?: string }): Promise<TestUser>;
  /** A JSON request; `body` is sent as JSON unless it is a string (sent as is). */
  request(
    method: string,
    urlPath: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: unknown; headers: Headers }>;
}

export interface TestServerOptions {
  backend?: BackendName;
  /** Raw config keys (as in troupe.yaml) on top of the test defaults. */
  config?: Record<string, unknown>;
  /** Where the server's JSON log lines go (at level info); by default nowhere, or TEST_LOG_LEVEL to stdout. */
  logTo?: NodeJS.WritableStream;
  /** Wraps the test database before the server gets it (to watch or hold its queries). */
  wrapDatabase?: (db: Database) => Database;
}

// Fast scrypt parameters: test users are created by the hundred.
const TEST_PASSWORD_PARAMS = { N: 1024, r: 8, p: 1 };

export async function startTestServer(t: AfterHook, options: TestServerOptions = {}): Promise<TestServer> {
  const dataDirectory = await mkdtemp(path.join(tmpdir(), 'troupe-test-'));
  const config = normaliseConfig(
    {
      server_name: 'test.local',
      data_directory: dataDirectory,
      listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }],
      enable_registration: true,
      ...options.config,
    } as Parameters<typeof normaliseConfig>[0],
    {},
  );
  const database = await createTestDatabase(options.backend ?? 'pglite');
  const logger = options.logTo
    ? createLogger({ level: 'info', destination: options.logTo })
    : createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  let running: RunningServer;
  try {
    running = await startServer(config, logger, { db: options.wrapDatabase ? options.wrapDatabase(database.db) : database.db });
  } catch (error) {
    await database.close();
    throw error;
  }
  t.after(async () => {
    await running.close();
    await database.close();
  });
  const url = running.listeners[0]?.url ?? '';
  const ctxNow = () => Date.now();

  return {
    url,
    serverName: config.serverName,
    running,
    config,
    async createUser(localpart, userOptions = {}) {
      const userId = `@${localpart}:${config.serverName}`;
      const password = userOptions.password ?? `pw-${localpart}`;
      const accessToken = generateAccessToken();
      const deviceId = generateDeviceId();
      const now = ctxNow();
      await running.db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, $2, $3, $4)', [
        userId,
        await hashPassword(password, TEST_PASSWORD_PARAMS),
        userOptions.admin ?? false,
        now,
      ]);
      await running.db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, $3)', [userId, deviceId, now]);
      await running.db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [
        hashAccessToken(accessToken),
        userId,
        deviceId,
        now,
      ]);
      return { userId, accessToken, deviceId, password };
    },
    async request(method, urlPath, requestOptions = {}) {
      const headers: Record<string, string> = { ...requestOptions.headers };
      if (requestOptions.token) headers['authorization'] = `Bearer ${requestOptions.token}`;
      let body: string | undefined;
      if (requestOptions.body !== undefined) {
        body = typeof requestOptions.body === 'string' ? requestOptions.body : JSON.stringify(requestOptions.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${url}${urlPath}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
  };
}
