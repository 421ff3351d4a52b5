// Access tokens are cached in memory after their first use (src/storage/devices.ts); every way a token stops being
// valid must refuse it at the very next request. Each case here uses the token first, so that it is cached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';

const V3 = '/_matrix/client/v3';
type Body = Record<string, unknown>;

async function whoami(server: TestServer, token: string): Promise<{ status: number; body: Body }> {
  const res = await server.request('GET', `${V3}/account/whoami`, { token });
  await assertMatchesSpec('GET', `${V3}/account/whoami`, res.status, res.body);
  return { status: res.status, body: res.body as Body };
}

async function assertRefused(server: TestServer, token: string): Promise<void> {
  const res = await whoami(server, token);
  assert.equal(res.status, 401);
  assert.equal(res.body['errcode'], 'M_UNKNOWN_TOKEN');
  assert.equal(res.body['soft_logout'], false);
}

async function login(server: TestServer, user: string, password: string, extra: Body = {}): Promise<Body> {
  const res = await server.request('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...extra } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as Body;
}

forEachBackend('cached access tokens are refused at once when revoked', (backend) => {
  test('password change logs out the other devices; the admin API\'s password reset and deactivation', async (t) => {
    const server = await startTestServer(t, { backend: backend.name });
    const admin = await server.createUser('admin', { admin: true });
    const alice = await server.createUser('alice', { password: 'old' });
    const other = (await login(server, 'alice', 'old'))['access_token'] as string;
    assert.equal((await whoami(server, other)).status, 200);
    assert.equal((await whoami(server, alice.accessToken)).status, 200);

    const challenge = await server.request('POST', `${V3}/account/password`, { token: alice.accessToken, body: { new_password: 'new' } });
    assert.equal(challenge.status, 401);
    const changed = await server.request('POST', `${V3}/account/password`, {
      token: alice.accessToken,
      body: { new_password: 'new', auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'old', session: (challenge.body as Body)['session'] } },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    await assertRefused(server, other);
    assert.equal((await whoami(server, alice.accessToken)).status, 200);

    // An admin resets the password (logging out every device), then deactivates the account.
    const bob = await server.createUser('bob');
    assert.equal((await whoami(server, bob.accessToken)).status, 200);
    const reset = await server.request('PUT', `/_synapse/admin/v2/users/${encodeURIComponent(bob.userId)}`, { token: admin.accessToken, body: { password: 'reset' } });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    await assertRefused(server, bob.accessToken);

    const carol = await server.createUser('carol');
    assert.equal((await whoami(server, carol.accessToken)).status, 200);
    const deactivated = await server.request('POST', `/_synapse/admin/v1/deactivate/${encodeURIComponent(carol.userId)}`, { token: admin.accessToken, body: {} });
    assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
    await assertRefused(server, carol.accessToken);
    assert.equal((await whoami(server, admin.accessToken)).status, 200);
  });

  test('refreshing retires the old access token; a token used for sends stops at logout', async (t) => {
    const server = await startTestServer(t, { backend: backend.name });
    await server.createUser('alice', { password: 'pw' });
    const first = await login(server, 'alice', 'pw', { refresh_token: true });
    assert.equal((await whoami(server, first['access_token'] as string)).status, 200);
    const refreshed = await server.request('POST', `${V3}/refresh`, { body: { refresh_token: first['refresh_token'] } });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    await assertRefused(server, first['access_token'] as string);

    const token = (refreshed.body as Body)['access_token'] as string;
    const created = await server.request('POST', `${V3}/createRoom`, { token, body: {} });
    assert.equal(created.status, 200);
    const roomId = encodeURIComponent((created.body as Body)['room_id'] as string);
    const sent = await server.request('PUT', `${V3}/rooms/${roomId}/send/m.room.message/t1`, { token, body: { msgtype: 'm.text', body: 'hi' } });
    assert.equal(sent.status, 200);
    assert.equal((await server.request('POST', `${V3}/logout`, { token })).status, 200);
    const after = await server.request('PUT', `${V3}/rooms/${roomId}/send/m.room.message/t2`, { token, body: { msgtype: 'm.text', body: 'late' } });
    assert.equal(after.status, 401);
    assert.equal((after.body as Body)['errcode'], 'M_UNKNOWN_TOKEN');
    const { rows } = await server.running.db.query('SELECT 1 FROM event_txn_ids WHERE txn_id = $1', ['t2']);
    assert.equal(rows.length, 0);
  });
});
