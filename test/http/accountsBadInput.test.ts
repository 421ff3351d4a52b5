// A corpus of bad requests sent to every accounts endpoint: each gets a Matrix error or a UIA challenge (never a
// 500) and no account state changes (users, devices, tokens, refresh tokens, profiles).
// Not covered here: URLs that Fastify's router refuses before any route runs (invalid percent-encoding, a path
// parameter over maxParamLength); those answers come from src/http/app.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const V3 = '/_matrix/client/v3';

/** Bodies that are not a JSON object, or not JSON at all. */
const RAW_BODIES = ['', '{', 'null', '[]', '[{}]', '1', '"x"', 'true', '{"a":}', '\u0000', '{"a":"\\u0000"}', '{"__proto__":{"x":1}}'];

/** Values of the wrong type or shape for any field, and strings PostgreSQL text cannot hold. */
const WRONG_VALUES: unknown[] = [null, 0, -1, 1.5, 1e300, true, [], [1], ['x'], {}, { a: 1 }, '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', 'x'.repeat(70_000)];

interface Endpoint {
  method: string;
  path: string;
  /** Field names of its JSON body. */
  fields: string[];
  /** Added to every body so that an otherwise valid request still cannot succeed. */
  base?: Record<string, unknown>;
  auth: boolean;
}

async function snapshot(server: TestServer): Promise<string> {
  const parts: unknown[] = [];
  for (const sql of [
    'SELECT user_id, password_hash, admin, deactivated FROM users ORDER BY user_id',
    'SELECT user_id, device_id, display_name FROM devices ORDER BY user_id, device_id',
    "SELECT encode(token_hash, 'hex') AS h, valid_until_ts FROM access_tokens ORDER BY 1",
    "SELECT encode(token_hash, 'hex') AS h FROM refresh_tokens ORDER BY 1",
    'SELECT user_id, field, value::text AS v FROM profile_fields ORDER BY user_id, field',
  ]) {
    parts.push((await server.running.db.query(sql)).rows);
  }
  return JSON.stringify(parts);
}

forEachBackend('accounts bad input', (backend) => {
  test('every accounts endpoint answers a corpus of bad requests with a Matrix error and changes nothing', async (t) => {
    const server = await startTestServer(t, { backend: backend.name, config: { registration_shared_secret: 's3cret' } });
    const alice = await server.createUser('alice', { password: 'right' });
    await server.createUser('bob');
    const login = await server.request('POST', `${V3}/login`, { body: { type: 'm.login.password', user: 'alice', password: 'right', refresh_token: true, device_id: 'SECOND' } });
    assert.equal(login.status, 200);
    await server.request('PUT', `${V3}/profile/${encodeURIComponent(alice.userId)}/displayname`, { token: alice.accessToken, body: { displayname: 'Alice' } });
    const me = encodeURIComponent(alice.userId);
    const wrongPassword = { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'wrong' };

    const endpoints: Endpoint[] = [
      { method: 'POST', path: `${V3}/register`, fields: ['auth', 'username', 'password', 'device_id', 'initial_device_display_name', 'inhibit_login', 'refresh_token'], base: { username: 'alice', auth: { type: 'm.login.dummy' } }, auth: false },
      { method: 'POST', path: `${V3}/register?kind=guest`, fields: ['username'], auth: false },
      { method: 'POST', path: `${V3}/login`, fields: ['type', 'identifier', 'user', 'password', 'device_id', 'initial_device_display_name', 'refresh_token'], base: { type: 'm.login.password', user: 'alice', password: 'wrong' }, auth: false },
      { method: 'POST', path: `${V3}/refresh`, fields: ['refresh_token'], auth: false },
      { method: 'POST', path: `${V3}/account/password`, fields: ['auth', 'new_password', 'logout_devices'], base: { new_password: 'x', auth: wrongPassword }, auth: true },
      { method: 'POST', path: `${V3}/account/deactivate`, fields: ['auth', 'erase', 'id_server'], base: { auth: wrongPassword }, auth: true },
      { method: 'PUT', path: `${V3}/devices/SECOND`, fields: ['display_name'], base: { display_name: 'x'.repeat(600) }, auth: true },
      { method: 'DELETE', path: `${V3}/devices/SECOND`, fields: ['auth'], base: { auth: wrongPassword }, auth: true },
      { method: 'POST', path: `${V3}/delete_devices`, fields: ['auth', 'devices'], base: { devices: ['SECOND'], auth: wrongPassword }, auth: true },
      { method: 'PUT', path: `${V3}/profile/${me}/displayname`, fields: ['displayname'], auth: true },
      { method: 'PUT', path: `${V3}/profile/${me}/avatar_url`, fields: ['avatar_url'], auth: true },
      { method: 'PUT', path: `${V3}/profile/${me}/m.tz`, fields: ['m.tz'], auth: true },
      { method: 'PUT', path: `${V3}/profile/${encodeURIComponent('@bob:test.local')}/displayname`, fields: ['displayname'], base: { displayname: 'x' }, auth: true },
      { method: 'POST', path: '/_synapse/admin/v1/register', fields: ['nonce', 'username', 'password', 'admin', 'user_type', 'displayname', 'mac'], base: { nonce: 'unknown', username: 'x', password: 'y', mac: 'z' }, auth: false },
    ];
    // Endpoints whose bad input is in the path or query rather than the body.
    const pathCases: [string, string][] = [
      ['GET', `${V3}/register/available?username=%00`],
      ['GET', `${V3}/register/available?username=${'x'.repeat(5000)}`],
      ['GET', `${V3}/register/available?username=%ED%A0%80`],
      ['GET', `${V3}/register/available?username[a]=1`],
      ['GET', `${V3}/devices/%00`],
      ['PUT', `${V3}/devices/%00`],
      ['DELETE', `${V3}/devices/%00`],
      ['GET', `${V3}/profile/%00`],
      ['GET', `${V3}/profile/@a%00:test.local`],
      ['GET', `${V3}/profile/${me}/%00`],
      ['PUT', `${V3}/profile/${me}/%00`],
      ['DELETE', `${V3}/profile/${me}/org.example.%00`],
      ['GET', `${V3}/profile/${encodeURIComponent('@' + 'x'.repeat(900) + ':test.local')}`],
      ['POST', `${V3}/logout`],
      ['POST', `${V3}/logout/all`],
      ['GET', `${V3}/capabilities`],
      ['GET', `${V3}/devices`],
    ];

    const before = await snapshot(server);
    const failures: string[] = [];
    const check = async (method: string, path: string, body: unknown, token?: string) => {
      const res = await server.request(method, path, { ...(body !== undefined ? { body } : {}), ...(token ? { token } : {}) });
      const answer = res.body as { errcode?: unknown; flows?: unknown } | undefined;
      const errcode = answer?.errcode;
      // A success is fine as long as nothing changed (checked below); a 401 asking for user-interactive auth is
      // the spec's answer to a request without (complete) auth.
      const uiaChallenge = res.status === 401 && Array.isArray(answer?.flows);
      const matrixError = res.status >= 400 && res.status < 500 && typeof errcode === 'string' && errcode.startsWith('M_');
      if (res.status >= 300 && !uiaChallenge && !matrixError) {
        failures.push(`${method} ${path.slice(0, 80)} ${JSON.stringify(body)?.slice(0, 80)} -> ${res.status} ${JSON.stringify(res.body)?.slice(0, 120)}`);
      }
    };

    for (const endpoint of endpoints) {
      const token = endpoint.auth ? alice.accessToken : undefined;
      for (const raw of RAW_BODIES) await check(endpoint.method, endpoint.path, raw === '' ? undefined : raw, token);
      for (const field of endpoint.fields) {
        for (const value of WRONG_VALUES) {
          // A string is a valid type for some fields: only strings PostgreSQL cannot hold (or too long) are bad there.
          await check(endpoint.method, endpoint.path, { ...endpoint.base, [field]: value }, token);
        }
      }
      if (endpoint.auth) await check(endpoint.method, endpoint.path, { ...endpoint.base }, 'tr_not_a_token');
    }
    for (const [method, path] of pathCases) {
      const open = path.includes('/logout') || path.endsWith('/capabilities') || path.endsWith('/devices');
      await check(method, path, method === 'GET' ? undefined : {}, open ? 'tr_not_a_token' : alice.accessToken);
    }
    assert.deepEqual(failures, []);
    assert.equal(await snapshot(server), before, 'no account state changed');
  });
});
