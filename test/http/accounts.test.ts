// Accounts over real HTTP on both backends: registration (UIA), login, refresh, logout, password change,
// deactivation, devices, profiles, capabilities, .well-known and shared-secret admin registration. Every success
// response (and every error the spec defines for that endpoint) is validated against the spec's schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onProfileChanged, type ProfileChange } from '../../src/auth/hooks.ts';
import { sharedSecretMac } from '../../src/http/routes/admin/register.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assertMatchesSpec, findOperations } from '../helpers/spec.ts';

type Body = Record<string, unknown>;
const V3 = '/_matrix/client/v3';

interface CallOptions {
  token?: string;
  body?: unknown;
}

/** A request that must answer `status`; the body is checked against the spec when the spec defines that status. */
async function call(server: TestServer, method: string, path: string, status: number, options: CallOptions = {}): Promise<Body> {
  const res = await server.request(method, path, options);
  assert.equal(res.status, status, `${method} ${path}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  const ops = await findOperations(method, path);
  if (ops.length > 0 && (status < 400 || (await definesStatus(method, path, status)))) {
    await assertMatchesSpec(method, path, status, res.body);
  }
  return (res.body ?? {}) as Body;
}

async function definesStatus(method: string, path: string, status: number): Promise<boolean> {
  try {
    await assertMatchesSpec(method, path, status, { errcode: 'M_UNKNOWN', error: '' });
    return true;
  } catch (error) {
    return !/defines no/.test((error as Error).message);
  }
}

/** A request that must fail with this status and errcode. */
async function fails(server: TestServer, method: string, path: string, status: number, errcode: string, options: CallOptions = {}): Promise<Body> {
  const body = await call(server, method, path, status, options);
  assert.equal(body['errcode'], errcode, `${method} ${path}: ${JSON.stringify(body)}`);
  assert.equal(typeof body['error'], 'string');
  return body;
}

async function userCount(server: TestServer): Promise<number> {
  const { rows } = await server.running.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
  return rows[0]?.n ?? 0;
}

/** Registers through the full UIA dance: a first request for the session, then m.login.dummy. */
async function register(server: TestServer, body: Body, query = ''): Promise<Body> {
  const first = await call(server, 'POST', `${V3}/register${query}`, 401, { body });
  assert.deepEqual(first['flows'], [{ stages: ['m.login.dummy'] }]);
  assert.equal(typeof first['session'], 'string');
  return call(server, 'POST', `${V3}/register${query}`, 200, { body: { ...body, auth: { type: 'm.login.dummy', session: first['session'] } } });
}

/**
 * Without an access token /account/password and /deactivate answer 401 M_MISSING_TOKEN: the spec's 401 for them is
 * the UIA response, for the email flows (not offered here) that work without a token, so it is not checked.
 */
async function missingToken(server: TestServer, path: string, body: Body): Promise<void> {
  const res = await server.request('POST', path, { body });
  assert.equal(res.status, 401);
  assert.equal((res.body as Body)['errcode'], 'M_MISSING_TOKEN');
}

function passwordAuth(user: string, password: string, session?: unknown): Body {
  return { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...(session ? { session } : {}) };
}

forEachBackend('accounts', (backend) => {
  const start = (t: Parameters<typeof startTestServer>[0], config?: Record<string, unknown>) =>
    startTestServer(t, { backend: backend.name, ...(config ? { config } : {}) });

  test('register: UIA with m.login.dummy, device, display name, inhibit_login, refresh tokens, generated usernames', async (t) => {
    const server = await start(t);
    const reg = await register(server, { username: 'Alice', password: 'secret-1', initial_device_display_name: 'Phone' });
    assert.equal(reg['user_id'], '@alice:test.local', 'usernames are lower-cased');
    assert.equal(typeof reg['access_token'], 'string');
    assert.equal(typeof reg['device_id'], 'string');
    assert.equal(reg['refresh_token'], undefined);
    const who = await call(server, 'GET', `${V3}/account/whoami`, 200, { token: reg['access_token'] as string });
    assert.deepEqual(who, { user_id: '@alice:test.local', device_id: reg['device_id'], is_guest: false });
    const devices = await call(server, 'GET', `${V3}/devices`, 200, { token: reg['access_token'] as string });
    assert.deepEqual(devices, { devices: [{ device_id: reg['device_id'], display_name: 'Phone' }] });
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/@alice:test.local`, 200), { displayname: 'alice' });

    // Auth in the first request (no session yet) is enough for a one-stage flow; a chosen device id is kept.
    const bob = await call(server, 'POST', `${V3}/register`, 200, {
      body: { username: 'bob', password: 'pw', device_id: 'BOBDEVICE', refresh_token: true, auth: { type: 'm.login.dummy' } },
    });
    assert.equal(bob['device_id'], 'BOBDEVICE');
    assert.equal(typeof bob['refresh_token'], 'string');
    assert.equal(bob['expires_in_ms'], 5 * 60 * 1000);

    const inhibited = await register(server, { username: 'carol', password: 'pw', inhibit_login: true });
    assert.deepEqual(Object.keys(inhibited).sort(), ['home_server', 'user_id']);
    const { rows } = await server.running.db.query('SELECT 1 FROM devices WHERE user_id = $1', ['@carol:test.local']);
    assert.equal(rows.length, 0, 'inhibit_login creates no device');
    await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'carol', password: 'pw' } });

    const generated = await register(server, {});
    assert.match(generated['user_id'] as string, /^@[0-9]+:test\.local$/);
    const generated2 = await register(server, {});
    assert.notEqual(generated2['user_id'], generated['user_id']);
  });

  test('register: the session carries completed stages and is bound to the operation', async (t) => {
    const server = await start(t);
    const first = await call(server, 'POST', `${V3}/register`, 401, { body: { username: 'dave' } });
    assert.deepEqual(first['completed'], []);
    assert.deepEqual(first['params'], {});
    // A session without a stage answers the same challenge again.
    const again = await call(server, 'POST', `${V3}/register`, 401, { body: { username: 'dave', auth: { session: first['session'] } } });
    assert.equal(again['session'], first['session']);
    // A stage not offered is refused with the flows.
    const wrong = await call(server, 'POST', `${V3}/register`, 401, {
      body: { username: 'dave', auth: { type: 'm.login.password', session: first['session'] } },
    });
    assert.equal(wrong['errcode'], 'M_UNRECOGNIZED');
    assert.deepEqual(wrong['flows'], [{ stages: ['m.login.dummy'] }]);
    await fails(server, 'POST', `${V3}/register`, 400, 'M_UNKNOWN', { body: { auth: { type: 'm.login.dummy', session: 'nope' } } });
    // A registration session cannot authorise another operation.
    const alice = await server.createUser('alice');
    await fails(server, 'POST', `${V3}/delete_devices`, 403, 'M_FORBIDDEN', {
      token: alice.accessToken,
      body: { devices: [], auth: { ...passwordAuth('alice', alice.password), session: first['session'] } },
    });
    await call(server, 'POST', `${V3}/register`, 200, { body: { username: 'dave', auth: { type: 'm.login.dummy', session: first['session'] } } });
    // A completed session is spent.
    await fails(server, 'POST', `${V3}/register`, 400, 'M_UNKNOWN', { body: { username: 'erin', auth: { type: 'm.login.dummy', session: first['session'] } } });
  });

  test('register: bad input gets its Matrix error and creates nothing', async (t) => {
    const server = await start(t);
    await register(server, { username: 'alice', password: 'pw' });
    const before = await userCount(server);
    const dummy = { type: 'm.login.dummy' };
    await fails(server, 'POST', `${V3}/register`, 400, 'M_USER_IN_USE', { body: { username: 'alice', auth: dummy } });
    await fails(server, 'POST', `${V3}/register`, 400, 'M_USER_IN_USE', { body: { username: 'ALICE' } });
    for (const username of ['bad name', 'ümlaut', '_reserved', '12345', '', 'a:b', 'x'.repeat(300)]) {
      await fails(server, 'POST', `${V3}/register`, 400, 'M_INVALID_USERNAME', { body: { username, auth: dummy } });
    }
    await fails(server, 'POST', `${V3}/register?kind=guest`, 403, 'M_GUEST_ACCESS_FORBIDDEN', { body: {} });
    await fails(server, 'POST', `${V3}/register?kind=admin`, 400, 'M_INVALID_PARAM', { body: {} });
    await fails(server, 'POST', `${V3}/register`, 400, 'M_NOT_JSON', { body: '{"username":' });
    await fails(server, 'POST', `${V3}/register`, 400, 'M_NOT_JSON', { body: '[1,2]' });
    for (const body of [{ username: 5 }, { password: ['x'] }, { inhibit_login: 'yes' }, { auth: 'dummy' }, { device_id: 7 }, { refresh_token: 1 }]) {
      await fails(server, 'POST', `${V3}/register`, 400, 'M_BAD_JSON', { body: { ...body } });
    }
    await fails(server, 'POST', `${V3}/register`, 400, 'M_BAD_JSON', { body: { auth: { type: 5 } } });
    await fails(server, 'POST', `${V3}/register`, 400, 'M_INVALID_PARAM', { body: { username: 'long', password: 'p'.repeat(513), auth: dummy } });
    assert.equal(await userCount(server), before);
  });

  test('register: disabled registration is 403 M_FORBIDDEN', async (t) => {
    const server = await start(t, { enable_registration: false });
    await fails(server, 'POST', `${V3}/register`, 403, 'M_FORBIDDEN', { body: { username: 'alice', auth: { type: 'm.login.dummy' } } });
    assert.equal(await userCount(server), 0);
  });

  test('register/available', async (t) => {
    const server = await start(t);
    await server.createUser('taken');
    assert.deepEqual(await call(server, 'GET', `${V3}/register/available?username=free`, 200), { available: true });
    await fails(server, 'GET', `${V3}/register/available?username=taken`, 400, 'M_USER_IN_USE');
    await fails(server, 'GET', `${V3}/register/available?username=TAKEN`, 400, 'M_USER_IN_USE');
    await fails(server, 'GET', `${V3}/register/available?username=no%20way`, 400, 'M_INVALID_USERNAME');
    await fails(server, 'GET', `${V3}/register/available`, 400, 'M_MISSING_PARAM');
    await fails(server, 'GET', `${V3}/register/available?username=a&username=b`, 400, 'M_INVALID_PARAM');
  });

  test('login: flows, m.id.user by localpart, user id or case, the legacy user field, device reuse', async (t) => {
    const server = await start(t);
    assert.deepEqual(await call(server, 'GET', `${V3}/login`, 200), { flows: [{ type: 'm.login.password' }] });
    const alice = await server.createUser('alice', { password: 'right' });

    const byLocalpart = await call(server, 'POST', `${V3}/login`, 200, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'right', initial_device_display_name: 'Laptop' },
    });
    assert.equal(byLocalpart['user_id'], alice.userId);
    assert.equal(byLocalpart['home_server'], 'test.local');
    const byId = await call(server, 'POST', `${V3}/login`, 200, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: '@alice:test.local' }, password: 'right' },
    });
    assert.equal(byId['user_id'], alice.userId);
    const byCase = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'ALICE' }, password: 'right' } });
    assert.equal(byCase['user_id'], alice.userId);
    const legacy = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'right' } });
    assert.equal(legacy['user_id'], alice.userId);
    assert.notEqual(legacy['device_id'], byId['device_id']);

    // Logging in again with a device id keeps the device (and its name) and invalidates its earlier token.
    const again = await call(server, 'POST', `${V3}/login`, 200, {
      body: { type: 'm.login.password', user: 'alice', password: 'right', device_id: byLocalpart['device_id'], initial_device_display_name: 'Other' },
    });
    assert.equal(again['device_id'], byLocalpart['device_id']);
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: byLocalpart['access_token'] as string });
    const device = await call(server, 'GET', `${V3}/devices/${byLocalpart['device_id'] as string}`, 200, { token: again['access_token'] as string });
    assert.equal(device['display_name'], 'Laptop');
    // A new device id is created with that id.
    const named = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'right', device_id: 'MYDEVICE' } });
    assert.equal(named['device_id'], 'MYDEVICE');
  });

  test('login: wrong password, unknown user, deactivated account and bad input', async (t) => {
    const server = await start(t);
    const alice = await server.createUser('alice', { password: 'right' });
    const before = (await server.running.db.query('SELECT 1 FROM access_tokens')).rows.length;
    await fails(server, 'POST', `${V3}/login`, 403, 'M_FORBIDDEN', { body: { type: 'm.login.password', user: 'alice', password: 'wrong' } });
    await fails(server, 'POST', `${V3}/login`, 403, 'M_FORBIDDEN', { body: { type: 'm.login.password', user: 'nobody', password: 'right' } });
    await fails(server, 'POST', `${V3}/login`, 403, 'M_FORBIDDEN', { body: { type: 'm.login.password', user: '@alice:elsewhere', password: 'right' } });
    await fails(server, 'POST', `${V3}/login`, 400, 'M_UNKNOWN', { body: { type: 'm.login.token', token: 'x' } });
    await fails(server, 'POST', `${V3}/login`, 400, 'M_UNKNOWN', { body: { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: 'a@b' }, password: 'x' } });
    await fails(server, 'POST', `${V3}/login`, 400, 'M_MISSING_PARAM', { body: { user: 'alice', password: 'right' } });
    await fails(server, 'POST', `${V3}/login`, 400, 'M_MISSING_PARAM', { body: { type: 'm.login.password', user: 'alice' } });
    await fails(server, 'POST', `${V3}/login`, 400, 'M_MISSING_PARAM', { body: { type: 'm.login.password', password: 'right' } });
    for (const body of [
      { type: 5 },
      { type: 'm.login.password', user: 5, password: 'right' },
      { type: 'm.login.password', user: 'alice', password: 5 },
      { type: 'm.login.password', identifier: 'alice', password: 'right' },
      { type: 'm.login.password', identifier: { type: 'm.id.user', user: 5 }, password: 'right' },
      { type: 'm.login.password', user: 'alice', password: 'right', refresh_token: 'yes' },
      { type: 'm.login.password', user: 'alice', password: 'right', device_id: 3 },
    ]) {
      await fails(server, 'POST', `${V3}/login`, 400, 'M_BAD_JSON', { body });
    }
    await fails(server, 'POST', `${V3}/login`, 400, 'M_NOT_JSON', { body: 'nope' });
    assert.equal((await server.running.db.query('SELECT 1 FROM access_tokens')).rows.length, before);

    await server.running.db.query('UPDATE users SET deactivated = true WHERE user_id = $1', [alice.userId]);
    await fails(server, 'POST', `${V3}/login`, 403, 'M_USER_DEACTIVATED', { body: { type: 'm.login.password', user: 'alice', password: 'right' } });
    // With a password hash still present, only the right password learns that the account is deactivated.
    await fails(server, 'POST', `${V3}/login`, 403, 'M_FORBIDDEN', { body: { type: 'm.login.password', user: 'alice', password: 'wrong' } });
  });

  test('refresh: rotates the pair; the used refresh token and the old access token stop working', async (t) => {
    const server = await start(t);
    await server.createUser('alice', { password: 'right' });
    const login = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'right', refresh_token: true } });
    assert.equal(typeof login['refresh_token'], 'string');
    assert.equal(login['expires_in_ms'], 5 * 60 * 1000);

    // An expired access token is a soft logout.
    await server.running.db.query('UPDATE access_tokens SET valid_until_ts = 1');
    const expired = await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: login['access_token'] as string });
    assert.equal(expired['soft_logout'], true);

    const refreshed = await call(server, 'POST', `${V3}/refresh`, 200, { body: { refresh_token: login['refresh_token'] } });
    assert.notEqual(refreshed['access_token'], login['access_token']);
    assert.notEqual(refreshed['refresh_token'], login['refresh_token']);
    assert.equal(refreshed['expires_in_ms'], 5 * 60 * 1000);
    const who = await call(server, 'GET', `${V3}/account/whoami`, 200, { token: refreshed['access_token'] as string });
    assert.equal(who['device_id'], login['device_id']);

    await fails(server, 'POST', `${V3}/refresh`, 401, 'M_UNKNOWN_TOKEN', { body: { refresh_token: login['refresh_token'] } });
    await fails(server, 'POST', `${V3}/refresh`, 401, 'M_UNKNOWN_TOKEN', { body: { refresh_token: 'trr_nope' } });
    await fails(server, 'POST', `${V3}/refresh`, 400, 'M_MISSING_PARAM', { body: {} });
    await fails(server, 'POST', `${V3}/refresh`, 400, 'M_BAD_JSON', { body: { refresh_token: 5 } });
    await fails(server, 'POST', `${V3}/refresh`, 400, 'M_NOT_JSON', { body: '{' });
    // The newest refresh token still works after those failures.
    await call(server, 'POST', `${V3}/refresh`, 200, { body: { refresh_token: refreshed['refresh_token'] } });

    // Logging out revokes the refresh token with the device.
    const second = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'right', refresh_token: true } });
    await call(server, 'POST', `${V3}/logout`, 200, { token: second['access_token'] as string });
    await fails(server, 'POST', `${V3}/refresh`, 401, 'M_UNKNOWN_TOKEN', { body: { refresh_token: second['refresh_token'] } });
  });

  test('logout and logout/all delete devices and their tokens', async (t) => {
    const server = await start(t);
    const alice = await server.createUser('alice', { password: 'right' });
    const bob = await server.createUser('bob');
    const second = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'right' } });

    assert.deepEqual(await call(server, 'POST', `${V3}/logout`, 200, { token: alice.accessToken }), {});
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: alice.accessToken });
    const left = await call(server, 'GET', `${V3}/devices`, 200, { token: second['access_token'] as string });
    assert.deepEqual((left['devices'] as Body[]).map((d) => d['device_id']), [second['device_id']]);

    await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'right' } });
    assert.deepEqual(await call(server, 'POST', `${V3}/logout/all`, 200, { token: second['access_token'] as string }), {});
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: second['access_token'] as string });
    const { rows } = await server.running.db.query('SELECT 1 FROM devices WHERE user_id = $1', [alice.userId]);
    assert.equal(rows.length, 0);
    // Other users are untouched.
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: bob.accessToken });
    await fails(server, 'POST', `${V3}/logout`, 401, 'M_MISSING_TOKEN');
    await fails(server, 'POST', `${V3}/logout/all`, 401, 'M_UNKNOWN_TOKEN', { token: 'tr_nope' });
  });

  test('account/password: UIA with m.login.password; other devices logged out unless logout_devices is false', async (t) => {
    const server = await start(t);
    const alice = await server.createUser('alice', { password: 'old' });
    const other = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'old' } });
    const path = `${V3}/account/password`;

    await fails(server, 'POST', path, 400, 'M_MISSING_PARAM', { token: alice.accessToken, body: {} });
    await fails(server, 'POST', path, 400, 'M_BAD_JSON', { token: alice.accessToken, body: { new_password: 5 } });
    await fails(server, 'POST', path, 400, 'M_BAD_JSON', { token: alice.accessToken, body: { new_password: 'n', logout_devices: 'no' } });
    await missingToken(server, path, { new_password: 'new' });

    const challenge = await call(server, 'POST', path, 401, { token: alice.accessToken, body: { new_password: 'new' } });
    assert.deepEqual(challenge['flows'], [{ stages: ['m.login.password'] }]);
    const wrong = await call(server, 'POST', path, 401, {
      token: alice.accessToken,
      body: { new_password: 'new', auth: passwordAuth('alice', 'nope', challenge['session']) },
    });
    assert.equal(wrong['errcode'], 'M_FORBIDDEN');
    assert.equal(wrong['session'], challenge['session']);
    // Someone else's password does not authorise Alice's request.
    const bob = await server.createUser('bob', { password: 'bobpw' });
    const asBob = await call(server, 'POST', path, 401, { token: alice.accessToken, body: { new_password: 'new', auth: passwordAuth('bob', bob.password, challenge['session']) } });
    assert.equal(asBob['errcode'], 'M_FORBIDDEN');
    await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'old' } });

    assert.deepEqual(
      await call(server, 'POST', path, 200, { token: alice.accessToken, body: { new_password: 'new', auth: passwordAuth('alice', 'old', challenge['session']) } }),
      {},
    );
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: alice.accessToken });
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: other['access_token'] as string });
    const devices = await call(server, 'GET', `${V3}/devices`, 200, { token: alice.accessToken });
    assert.deepEqual((devices['devices'] as Body[]).map((d) => d['device_id']), [alice.deviceId]);
    await fails(server, 'POST', `${V3}/login`, 403, 'M_FORBIDDEN', { body: { type: 'm.login.password', user: 'alice', password: 'old' } });
    const fresh = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'new' } });

    await call(server, 'POST', path, 200, { token: alice.accessToken, body: { new_password: 'newer', logout_devices: false, auth: passwordAuth('@alice:test.local', 'new') } });
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: fresh['access_token'] as string });
  });

  test('account/deactivate: UIA, then the account can no longer log in or use its tokens', async (t) => {
    const server = await start(t);
    const alice = await server.createUser('alice', { password: 'pw' });
    const path = `${V3}/account/deactivate`;
    await fails(server, 'POST', path, 400, 'M_BAD_JSON', { token: alice.accessToken, body: { erase: 'yes' } });
    await missingToken(server, path, {});
    const challenge = await call(server, 'POST', path, 401, { token: alice.accessToken, body: {} });
    assert.deepEqual(challenge['flows'], [{ stages: ['m.login.password'] }]);
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: alice.accessToken });
    const done = await call(server, 'POST', path, 200, { token: alice.accessToken, body: { auth: passwordAuth('alice', 'pw', challenge['session']) } });
    assert.deepEqual(done, { id_server_unbind_result: 'success' });
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: alice.accessToken });
    await fails(server, 'POST', `${V3}/login`, 403, 'M_USER_DEACTIVATED', { body: { type: 'm.login.password', user: 'alice', password: 'pw' } });
    // The user id stays taken.
    await fails(server, 'GET', `${V3}/register/available?username=alice`, 400, 'M_USER_IN_USE');
  });

  test('account operations for an account without a password use m.login.dummy', async (t) => {
    const server = await start(t);
    const reg = await register(server, { username: 'nopass' });
    const token = reg['access_token'] as string;
    const challenge = await call(server, 'POST', `${V3}/delete_devices`, 401, { token, body: { devices: [] } });
    assert.deepEqual(challenge['flows'], [{ stages: ['m.login.dummy'] }]);
    await call(server, 'POST', `${V3}/account/password`, 200, { token, body: { new_password: 'now-one', auth: { type: 'm.login.dummy' } } });
    const challenge2 = await call(server, 'POST', `${V3}/delete_devices`, 401, { token, body: { devices: [] } });
    assert.deepEqual(challenge2['flows'], [{ stages: ['m.login.password'] }]);
  });

  test('devices: list, get, rename, delete and delete_devices behind UIA', async (t) => {
    const server = await start(t);
    const alice = await server.createUser('alice', { password: 'pw' });
    const bob = await server.createUser('bob');
    const token = alice.accessToken;
    const second = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'pw', device_id: 'SECOND' } });
    const third = await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'alice', password: 'pw', device_id: 'THIRD' } });

    const list = await call(server, 'GET', `${V3}/devices`, 200, { token });
    assert.deepEqual((list['devices'] as Body[]).map((d) => d['device_id']).sort(), [alice.deviceId, 'SECOND', 'THIRD'].sort());
    assert.deepEqual(await call(server, 'GET', `${V3}/devices/SECOND`, 200, { token }), { device_id: 'SECOND' });
    await fails(server, 'GET', `${V3}/devices/NOPE`, 404, 'M_NOT_FOUND', { token });
    await fails(server, 'GET', `${V3}/devices/${bob.deviceId}`, 404, 'M_NOT_FOUND', { token });
    await fails(server, 'GET', `${V3}/devices`, 401, 'M_MISSING_TOKEN');

    assert.deepEqual(await call(server, 'PUT', `${V3}/devices/SECOND`, 200, { token, body: { display_name: 'Tablet' } }), {});
    assert.deepEqual(await call(server, 'GET', `${V3}/devices/SECOND`, 200, { token }), { device_id: 'SECOND', display_name: 'Tablet' });
    await call(server, 'PUT', `${V3}/devices/SECOND`, 200, { token, body: {} });
    assert.equal((await call(server, 'GET', `${V3}/devices/SECOND`, 200, { token }))['display_name'], 'Tablet');
    await fails(server, 'PUT', `${V3}/devices/NOPE`, 404, 'M_NOT_FOUND', { token, body: { display_name: 'x' } });
    await fails(server, 'PUT', `${V3}/devices/${bob.deviceId}`, 404, 'M_NOT_FOUND', { token, body: { display_name: 'mine' } });
    await fails(server, 'PUT', `${V3}/devices/SECOND`, 400, 'M_BAD_JSON', { token, body: { display_name: 5 } });
    await fails(server, 'PUT', `${V3}/devices/SECOND`, 400, 'M_NOT_JSON', { token, body: '{' });
    assert.equal((await call(server, 'GET', `${V3}/devices/SECOND`, 200, { token }))['display_name'], 'Tablet');

    const challenge = await call(server, 'DELETE', `${V3}/devices/SECOND`, 401, { token });
    assert.deepEqual(challenge['flows'], [{ stages: ['m.login.password'] }]);
    // A session for deleting SECOND cannot delete THIRD.
    await fails(server, 'DELETE', `${V3}/devices/THIRD`, 403, 'M_FORBIDDEN', { token, body: { auth: passwordAuth('alice', 'pw', challenge['session']) } });
    await call(server, 'DELETE', `${V3}/devices/SECOND`, 200, { token, body: { auth: passwordAuth('alice', 'pw', challenge['session']) } });
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: second['access_token'] as string });
    await fails(server, 'GET', `${V3}/devices/SECOND`, 404, 'M_NOT_FOUND', { token });
    await fails(server, 'DELETE', `${V3}/devices/THIRD`, 400, 'M_BAD_JSON', { token, body: { auth: 'pw' } });

    await fails(server, 'POST', `${V3}/delete_devices`, 400, 'M_MISSING_PARAM', { token, body: {} });
    await fails(server, 'POST', `${V3}/delete_devices`, 400, 'M_BAD_JSON', { token, body: { devices: 'THIRD' } });
    await fails(server, 'POST', `${V3}/delete_devices`, 400, 'M_BAD_JSON', { token, body: { devices: [3] } });
    await call(server, 'POST', `${V3}/delete_devices`, 401, { token, body: { devices: ['THIRD'] } });
    const wrong = await call(server, 'POST', `${V3}/delete_devices`, 401, { token, body: { devices: ['THIRD'], auth: passwordAuth('alice', 'bad') } });
    assert.equal(wrong['errcode'], 'M_FORBIDDEN');
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: third['access_token'] as string });
    await call(server, 'POST', `${V3}/delete_devices`, 200, {
      token,
      body: { devices: ['THIRD', 'NOPE', bob.deviceId], auth: passwordAuth('alice', 'pw') },
    });
    await fails(server, 'GET', `${V3}/account/whoami`, 401, 'M_UNKNOWN_TOKEN', { token: third['access_token'] as string });
    const after = await call(server, 'GET', `${V3}/devices`, 200, { token });
    assert.deepEqual((after['devices'] as Body[]).map((d) => d['device_id']), [alice.deviceId]);
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: bob.accessToken });
  });

  test('profiles: get and set display names, avatars and other fields; only your own; hooks hear of changes', async (t) => {
    const server = await start(t);
    const alice = await server.createUser('alice');
    const bob = await server.createUser('bob');
    const token = alice.accessToken;
    const me = encodeURIComponent(alice.userId);
    const changes: ProfileChange[] = [];
    const listener = async (_ctx: unknown, change: ProfileChange) => {
      if (change.userId === alice.userId) changes.push(change);
    };
    onProfileChanged.push(listener);
    t.after(() => {
      onProfileChanged.splice(onProfileChanged.indexOf(listener), 1);
    });

    assert.deepEqual(await call(server, 'GET', `${V3}/profile/${me}`, 200), {});
    await fails(server, 'GET', `${V3}/profile/${me}/displayname`, 404, 'M_NOT_FOUND');
    assert.deepEqual(await call(server, 'PUT', `${V3}/profile/${me}/displayname`, 200, { token, body: { displayname: 'Alice A.' } }), {});
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/${me}/displayname`, 200), { displayname: 'Alice A.' });
    await call(server, 'PUT', `${V3}/profile/${me}/avatar_url`, 200, { token, body: { avatar_url: 'mxc://test.local/abc123' } });
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/${me}/avatar_url`, 200), { avatar_url: 'mxc://test.local/abc123' });
    await call(server, 'PUT', `${V3}/profile/${me}/m.tz`, 200, { token, body: { 'm.tz': 'Europe/Paris' } });
    await call(server, 'PUT', `${V3}/profile/${me}/org.example.pets`, 200, { token, body: { 'org.example.pets': ['cat', { name: 'dog' }] } });
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/${me}`, 200), {
      avatar_url: 'mxc://test.local/abc123',
      displayname: 'Alice A.',
      'm.tz': 'Europe/Paris',
      'org.example.pets': ['cat', { name: 'dog' }],
    });
    await call(server, 'DELETE', `${V3}/profile/${me}/org.example.pets`, 200, { token });
    await call(server, 'DELETE', `${V3}/profile/${me}/org.example.never_set`, 200, { token });
    await fails(server, 'GET', `${V3}/profile/${me}/org.example.pets`, 404, 'M_NOT_FOUND');
    // An empty avatar_url clears it.
    await call(server, 'PUT', `${V3}/profile/${me}/avatar_url`, 200, { token, body: { avatar_url: '' } });
    await fails(server, 'GET', `${V3}/profile/${me}/avatar_url`, 404, 'M_NOT_FOUND');
    assert.deepEqual(
      changes.map((c) => [c.field, c.value]),
      [
        ['displayname', 'Alice A.'],
        ['avatar_url', 'mxc://test.local/abc123'],
        ['m.tz', 'Europe/Paris'],
        ['org.example.pets', ['cat', { name: 'dog' }]],
        ['org.example.pets', undefined],
        ['org.example.never_set', undefined],
        ['avatar_url', undefined],
      ],
    );
    assert.deepEqual(changes.at(-1)?.profile, { displayname: 'Alice A.', 'm.tz': 'Europe/Paris' });

    // Bad input changes nothing.
    const count = changes.length;
    const bobPath = `${V3}/profile/${encodeURIComponent(bob.userId)}/displayname`;
    await fails(server, 'PUT', bobPath, 403, 'M_FORBIDDEN', { token, body: { displayname: 'Not Bob' } });
    await fails(server, 'DELETE', bobPath, 403, 'M_FORBIDDEN', { token });
    await fails(server, 'PUT', `${V3}/profile/${me}/displayname`, 401, 'M_MISSING_TOKEN', { body: { displayname: 'x' } });
    await fails(server, 'PUT', `${V3}/profile/${me}/displayname`, 400, 'M_MISSING_PARAM', { token, body: { avatar_url: 'mxc://a/b' } });
    await fails(server, 'PUT', `${V3}/profile/${me}/displayname`, 400, 'M_BAD_JSON', { token, body: { displayname: 5 } });
    await fails(server, 'PUT', `${V3}/profile/${me}/displayname`, 400, 'M_BAD_JSON', { token, body: { displayname: null } });
    await fails(server, 'PUT', `${V3}/profile/${me}/displayname`, 400, 'M_NOT_JSON', { token, body: '{"displayname":' });
    await fails(server, 'PUT', `${V3}/profile/${me}/avatar_url`, 400, 'M_INVALID_PARAM', { token, body: { avatar_url: 'https://example.org/a.png' } });
    await fails(server, 'PUT', `${V3}/profile/${me}/Bad-Key`, 400, 'M_INVALID_PARAM', { token, body: { 'Bad-Key': 1 } });
    await fails(server, 'PUT', `${V3}/profile/${me}/${'a.'.repeat(130)}b`, 400, 'M_KEY_TOO_LARGE', { token, body: { x: 1 } });
    await fails(server, 'PUT', `${V3}/profile/${me}/org.example.big`, 400, 'M_PROFILE_TOO_LARGE', { token, body: { 'org.example.big': 'x'.repeat(70000) } });
    assert.equal(changes.length, count);
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/${me}`, 200), { displayname: 'Alice A.', 'm.tz': 'Europe/Paris' });

    await fails(server, 'GET', `${V3}/profile/${encodeURIComponent('@nobody:test.local')}`, 404, 'M_NOT_FOUND');
    await fails(server, 'GET', `${V3}/profile/${encodeURIComponent('@nobody:test.local')}/displayname`, 404, 'M_NOT_FOUND');
    await fails(server, 'GET', `${V3}/profile/${encodeURIComponent('@someone:other.example')}`, 404, 'M_NOT_FOUND');
    await fails(server, 'GET', `${V3}/profile/not-a-user-id`, 400, 'M_INVALID_PARAM');
  });

  test('capabilities and .well-known/matrix/client', async (t) => {
    const server = await start(t, { public_baseurl: 'https://matrix.example.org/' });
    const alice = await server.createUser('alice');
    const caps = await call(server, 'GET', `${V3}/capabilities`, 200, { token: alice.accessToken });
    const c = caps['capabilities'] as Record<string, Body>;
    assert.deepEqual(c['m.change_password'], { enabled: true });
    assert.deepEqual(c['m.3pid_changes'], { enabled: false });
    assert.deepEqual(c['m.set_displayname'], { enabled: true });
    assert.deepEqual(c['m.set_avatar_url'], { enabled: true });
    const versions = c['m.room_versions'] as { default: string; available: Record<string, string> };
    assert.equal(versions.default, '10');
    assert.deepEqual(Object.keys(versions.available), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    assert.ok(Object.values(versions.available).every((s) => s === 'stable'));
    await fails(server, 'GET', `${V3}/capabilities`, 401, 'M_MISSING_TOKEN');

    assert.deepEqual(await call(server, 'GET', '/.well-known/matrix/client', 200), { 'm.homeserver': { base_url: 'https://matrix.example.org' } });
  });

  test('shared-secret registration (Synapse admin API): nonce, HMAC-SHA1, single use', async (t) => {
    const secret = 'a very shared secret';
    const server = await start(t, { registration_shared_secret: secret, enable_registration: false });
    const path = '/_synapse/admin/v1/register';
    const nonce = async () => (await call(server, 'GET', path, 200))['nonce'] as string;

    const n1 = await nonce();
    const created = await call(server, 'POST', path, 200, {
      body: { nonce: n1, username: 'Root', password: 'pw', admin: true, mac: sharedSecretMac(secret, n1, 'Root', 'pw', true) },
    });
    assert.equal(created['user_id'], '@root:test.local');
    assert.equal(typeof created['access_token'], 'string');
    assert.equal(typeof created['device_id'], 'string');
    const { rows } = await server.running.db.query<{ admin: boolean }>('SELECT admin FROM users WHERE user_id = $1', ['@root:test.local']);
    assert.equal(rows[0]?.admin, true);
    await call(server, 'GET', `${V3}/account/whoami`, 200, { token: created['access_token'] as string });
    await call(server, 'POST', `${V3}/login`, 200, { body: { type: 'm.login.password', user: 'root', password: 'pw' } });
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/@root:test.local`, 200), { displayname: 'root' });

    // The nonce is single use.
    const again = await server.request('POST', path, { body: { nonce: n1, username: 'other', password: 'pw', mac: sharedSecretMac(secret, n1, 'other', 'pw', false) } });
    assert.equal(again.status, 400);

    const n2 = await nonce();
    const bot = await call(server, 'POST', path, 200, {
      body: { nonce: n2, username: 'bot', password: 'pw', user_type: 'bot', displayname: 'The Bot', mac: sharedSecretMac(secret, n2, 'bot', 'pw', false, 'bot') },
    });
    assert.equal(bot['user_id'], '@bot:test.local');
    assert.deepEqual(await call(server, 'GET', `${V3}/profile/@bot:test.local`, 200), { displayname: 'The Bot' });

    const n3 = await nonce();
    const wrongMac = await server.request('POST', path, { body: { nonce: n3, username: 'mallory', password: 'pw', admin: true, mac: sharedSecretMac(secret, n3, 'mallory', 'pw', false) } });
    assert.equal(wrongMac.status, 403);
    assert.equal((wrongMac.body as Body)['errcode'], 'M_FORBIDDEN');
    const n4 = await nonce();
    const taken = await server.request('POST', path, { body: { nonce: n4, username: 'root', password: 'pw', mac: sharedSecretMac(secret, n4, 'root', 'pw', false) } });
    assert.equal((taken.body as Body)['errcode'], 'M_USER_IN_USE');
    for (const body of [{}, { nonce: 'x' }, { nonce: 5, username: 'a', password: 'b', mac: 'c' }, { nonce: 'x', username: 'a', password: 'b', mac: 'c', admin: 'yes' }]) {
      const res = await server.request('POST', path, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.equal((await server.request('POST', path, { body: '{' })).status, 400);
    assert.equal(await userCount(server), 2);

    const disabled = await start(t);
    const off = await disabled.request('GET', path);
    assert.equal(off.status, 400);
  });
});
