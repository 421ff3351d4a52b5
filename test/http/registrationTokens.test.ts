// Registration tokens over real HTTP on both backends: Synapse's admin API (/_synapse/admin/v1/registration_tokens),
// the validity endpoint (spec v1.2, rate limited) and the m.login.registration_token stage of /register, with pending
// and completed uses counted so that a token is never used more than allowed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';

type Body = Record<string, unknown>;
const ADMIN = '/_synapse/admin/v1/registration_tokens';
const VALIDITY = '/_matrix/client/v1/register/m.login.registration_token/validity';
const REGISTER = '/_matrix/client/v3/register';

async function call(server: TestServer, method: string, path: string, status: number, options: { token?: string; body?: unknown } = {}): Promise<Body> {
  const res = await server.request(method, path, options);
  assert.equal(res.status, status, `${method} ${path}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body ?? {}) as Body;
}

async function fails(server: TestServer, method: string, path: string, status: number, errcode: string, options: { token?: string; body?: unknown } = {}): Promise<void> {
  const body = await call(server, method, path, status, options);
  assert.equal(body['errcode'], errcode, JSON.stringify(body));
  assert.equal(typeof body['error'], 'string');
}

async function validity(server: TestServer, token: string): Promise<boolean> {
  const res = await server.request('GET', `${VALIDITY}?token=${encodeURIComponent(token)}`);
  await assertMatchesSpec('GET', VALIDITY, res.status, res.body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { valid: boolean }).valid;
}

async function tokenCounts(server: TestServer, admin: string, token: string): Promise<Body> {
  return call(server, 'GET', `${ADMIN}/${token}`, 200, { token: admin });
}

forEachBackend('registration tokens', (backend) => {
  test('admin API: create (given or random), list with valid=, get, update, delete; admins only; bad fields refused', async (t) => {
    const server = await startTestServer(t, { backend: backend.name, config: { registration_requires_token: true } });
    const admin = (await server.createUser('admin', { admin: true })).accessToken;
    const alice = (await server.createUser('alice')).accessToken;

    const random = await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: {} });
    assert.match(random['token'] as string, /^[A-Za-z0-9._~-]{16}$/);
    assert.deepEqual({ ...random, token: 'x' }, { token: 'x', uses_allowed: null, pending: 0, completed: 0, expiry_time: null });
    const short = await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { length: 5, uses_allowed: 0 } });
    assert.equal((short['token'] as string).length, 5);
    const future = Date.now() + 3_600_000;
    assert.deepEqual(await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'abc_D-9.~', uses_allowed: 3, expiry_time: future } }), {
      token: 'abc_D-9.~',
      uses_allowed: 3,
      pending: 0,
      completed: 0,
      expiry_time: future,
    });
    // A token may be named "new".
    await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'new' } });
    assert.equal((await call(server, 'GET', `${ADMIN}/new`, 200, { token: admin }))['token'], 'new');

    for (const body of [
      { token: 'abc_D-9.~' },
      { token: 'bad token' },
      { token: 'x'.repeat(65) },
      { token: '' },
      { token: 5 },
      { uses_allowed: -1 },
      { uses_allowed: 1.5 },
      { uses_allowed: '3' },
      { uses_allowed: 2 ** 31 },
      { expiry_time: 1000 },
      { expiry_time: 'tomorrow' },
      { length: 0 },
      { length: 65 },
      { length: 'long' },
    ]) {
      await fails(server, 'POST', `${ADMIN}/new`, 400, 'M_INVALID_PARAM', { token: admin, body });
    }
    await fails(server, 'POST', `${ADMIN}/new`, 400, 'M_NOT_JSON', { token: admin, body: '[1]' });
    await fails(server, 'POST', `${ADMIN}/new`, 403, 'M_FORBIDDEN', { token: alice, body: {} });
    await fails(server, 'POST', `${ADMIN}/new`, 401, 'M_MISSING_TOKEN', { body: {} });
    await fails(server, 'GET', ADMIN, 403, 'M_FORBIDDEN', { token: alice });

    const all = (await call(server, 'GET', ADMIN, 200, { token: admin }))['registration_tokens'] as Body[];
    assert.equal(all.length, 4);
    const valid = (await call(server, 'GET', `${ADMIN}?valid=true`, 200, { token: admin }))['registration_tokens'] as Body[];
    assert.deepEqual(valid.map((x) => x['token']).sort(), ['abc_D-9.~', 'new', random['token']].sort());
    const invalid = (await call(server, 'GET', `${ADMIN}?valid=false`, 200, { token: admin }))['registration_tokens'] as Body[];
    assert.deepEqual(invalid.map((x) => x['token']), [short['token']]);
    await fails(server, 'GET', `${ADMIN}?valid=yes`, 400, 'M_INVALID_PARAM', { token: admin });

    assert.deepEqual(await call(server, 'PUT', `${ADMIN}/abc_D-9.~`, 200, { token: admin, body: { uses_allowed: null } }), {
      token: 'abc_D-9.~',
      uses_allowed: null,
      pending: 0,
      completed: 0,
      expiry_time: future,
    });
    assert.equal((await call(server, 'PUT', `${ADMIN}/abc_D-9.~`, 200, { token: admin, body: { expiry_time: null, uses_allowed: 7 } }))['expiry_time'], null);
    assert.equal((await call(server, 'PUT', `${ADMIN}/abc_D-9.~`, 200, { token: admin, body: {} }))['uses_allowed'], 7);
    await fails(server, 'PUT', `${ADMIN}/abc_D-9.~`, 400, 'M_INVALID_PARAM', { token: admin, body: { uses_allowed: -5 } });
    await fails(server, 'PUT', `${ADMIN}/abc_D-9.~`, 400, 'M_INVALID_PARAM', { token: admin, body: { expiry_time: 5 } });
    await fails(server, 'PUT', `${ADMIN}/nope`, 404, 'M_NOT_FOUND', { token: admin, body: { uses_allowed: 1 } });
    await fails(server, 'GET', `${ADMIN}/nope`, 404, 'M_NOT_FOUND', { token: admin });
    await fails(server, 'GET', `${ADMIN}/${encodeURIComponent('a\u0000b')}`, 404, 'M_NOT_FOUND', { token: admin });
    await fails(server, 'PUT', `${ADMIN}/nope`, 403, 'M_FORBIDDEN', { token: alice, body: {} });

    assert.deepEqual(await call(server, 'DELETE', `${ADMIN}/abc_D-9.~`, 200, { token: admin }), {});
    await fails(server, 'DELETE', `${ADMIN}/abc_D-9.~`, 404, 'M_NOT_FOUND', { token: admin });
    await fails(server, 'GET', `${ADMIN}/abc_D-9.~`, 404, 'M_NOT_FOUND', { token: admin });
  });

  test('validity: valid, unknown, expired and used-up tokens; 403 without registration; rate limited per address', async (t) => {
    const server = await startTestServer(t, {
      backend: backend.name,
      config: { registration_requires_token: true, rc_registration_token_validity: { per_second: 0.001, burst_count: 6 } },
    });
    const admin = (await server.createUser('admin', { admin: true })).accessToken;
    await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'good' } });
    await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'used', uses_allowed: 0 } });
    await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'soon', expiry_time: Date.now() + 500 } });
    await new Promise((resolve) => setTimeout(resolve, 600));

    assert.equal(await validity(server, 'good'), true);
    assert.equal(await validity(server, 'used'), false);
    assert.equal(await validity(server, 'soon'), false);
    assert.equal(await validity(server, 'unknown'), false);
    assert.equal(await validity(server, 'not a \u0000 token'), false);
    await fails(server, 'GET', VALIDITY, 400, 'M_MISSING_PARAM');
    assert.equal(await validity(server, 'good'), true);
    const limited = await server.request('GET', `${VALIDITY}?token=good`);
    assert.equal(limited.status, 429);
    await assertMatchesSpec('GET', VALIDITY, 429, limited.body);
    assert.equal((limited.body as Body)['errcode'], 'M_LIMIT_EXCEEDED');
    assert.ok(((limited.body as Body)['retry_after_ms'] as number) > 0);

    const closed = await startTestServer(t, { backend: backend.name, config: { enable_registration: false } });
    const res = await closed.request('GET', `${VALIDITY}?token=good`);
    assert.equal(res.status, 403);
    await assertMatchesSpec('GET', VALIDITY, 403, res.body);
    assert.equal((res.body as Body)['errcode'], 'M_FORBIDDEN');
  });

  test('register: the token stage comes first; a token is held while pending and counted once completed', async (t) => {
    const server = await startTestServer(t, { backend: backend.name, config: { registration_requires_token: true } });
    const admin = (await server.createUser('admin', { admin: true })).accessToken;
    await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'once', uses_allowed: 1 } });

    const first = await call(server, 'POST', REGISTER, 401, { body: { username: 'bob', password: 'pw' } });
    await assertMatchesSpec('POST', REGISTER, 401, first);
    assert.deepEqual(first['flows'], [{ stages: ['m.login.registration_token', 'm.login.dummy'] }]);
    const session = first['session'] as string;
    // The dummy stage alone does not complete a flow.
    const dummyOnly = await call(server, 'POST', REGISTER, 401, { body: { username: 'bob', password: 'pw', auth: { type: 'm.login.dummy', session } } });
    assert.deepEqual(dummyOnly['completed'], ['m.login.dummy']);

    const wrong = await call(server, 'POST', REGISTER, 401, { body: { username: 'bob', password: 'pw', auth: { type: 'm.login.registration_token', token: 'nope', session } } });
    await assertMatchesSpec('POST', REGISTER, 401, wrong);
    assert.equal(wrong['errcode'], 'M_UNAUTHORIZED');
    await fails(server, 'POST', REGISTER, 400, 'M_MISSING_PARAM', { body: { username: 'bob', auth: { type: 'm.login.registration_token', session } } });
    await fails(server, 'POST', REGISTER, 400, 'M_INVALID_PARAM', { body: { username: 'bob', auth: { type: 'm.login.registration_token', token: 7, session } } });

    // Another registration holds the only use while it is pending.
    const other = await call(server, 'POST', REGISTER, 401, { body: { username: 'carol', password: 'pw' } });
    const held = await call(server, 'POST', REGISTER, 401, {
      body: { username: 'carol', password: 'pw', auth: { type: 'm.login.registration_token', token: 'once', session: other['session'] } },
    });
    assert.deepEqual(held['completed'], ['m.login.registration_token']);
    assert.equal(await validity(server, 'once'), false);
    assert.deepEqual(await tokenCounts(server, admin, 'once'), { token: 'once', uses_allowed: 1, pending: 1, completed: 0, expiry_time: null });
    const refused = await call(server, 'POST', REGISTER, 401, { body: { username: 'bob', password: 'pw', auth: { type: 'm.login.registration_token', token: 'once', session } } });
    assert.equal(refused['errcode'], 'M_UNAUTHORIZED');

    // Carol finishes: the use is completed and the token spent.
    const done = await call(server, 'POST', REGISTER, 200, { body: { username: 'carol', password: 'pw', auth: { type: 'm.login.dummy', session: other['session'] } } });
    await assertMatchesSpec('POST', REGISTER, 200, done);
    assert.equal(done['user_id'], '@carol:test.local');
    assert.deepEqual(await tokenCounts(server, admin, 'once'), { token: 'once', uses_allowed: 1, pending: 0, completed: 1, expiry_time: null });

    // More uses allowed: Bob's session (its dummy stage done already) completes with the token stage.
    await call(server, 'PUT', `${ADMIN}/once`, 200, { token: admin, body: { uses_allowed: 2 } });
    const bob = await call(server, 'POST', REGISTER, 200, { body: { username: 'bob', password: 'pw', auth: { type: 'm.login.registration_token', token: 'once', session } } });
    assert.equal(bob['user_id'], '@bob:test.local');
    assert.deepEqual(await tokenCounts(server, admin, 'once'), { token: 'once', uses_allowed: 2, pending: 0, completed: 2, expiry_time: null });
    assert.equal(await validity(server, 'once'), false);
  });

  test('register: a pending use stays with its session across a refused attempt; without the option no token is asked', async (t) => {
    const server = await startTestServer(t, { backend: backend.name, config: { registration_requires_token: true } });
    const admin = (await server.createUser('admin', { admin: true })).accessToken;
    await server.createUser('dave');
    await call(server, 'POST', `${ADMIN}/new`, 200, { token: admin, body: { token: 'one', uses_allowed: 1 } });
    const first = await call(server, 'POST', REGISTER, 401, { body: { username: 'dave2' } });
    await call(server, 'POST', REGISTER, 401, { body: { username: 'dave2', auth: { type: 'm.login.registration_token', token: 'one', session: first['session'] } } });
    assert.equal((await tokenCounts(server, admin, 'one'))['pending'], 1);
    // A taken user id is refused before authentication; the session and its pending use live on.
    await fails(server, 'POST', REGISTER, 400, 'M_USER_IN_USE', { body: { username: 'dave', auth: { type: 'm.login.dummy', session: first['session'] } } });
    assert.deepEqual(await tokenCounts(server, admin, 'one'), { token: 'one', uses_allowed: 1, pending: 1, completed: 0, expiry_time: null });
    const done = await call(server, 'POST', REGISTER, 200, { body: { username: 'dave3', auth: { type: 'm.login.dummy', session: first['session'] } } });
    assert.equal(done['user_id'], '@dave3:test.local');
    assert.deepEqual(await tokenCounts(server, admin, 'one'), { token: 'one', uses_allowed: 1, pending: 0, completed: 1, expiry_time: null });

    const open = await startTestServer(t, { backend: backend.name });
    const plain = await call(open, 'POST', REGISTER, 401, { body: { username: 'erin' } });
    assert.deepEqual(plain['flows'], [{ stages: ['m.login.dummy'] }]);
  });
});
