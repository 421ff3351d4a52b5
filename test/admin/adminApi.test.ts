// The admin API over real HTTP on each backend: Synapse's user, server version and federation destination
// endpoints, and Troupe's appservice endpoints; every one refuses non-admins (403) and missing tokens (401).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { isDown, isUp, spawnBackingOffDestination, spawnFakeAppservice, waitForSnapshot } from './fixtures.ts';

type Body = Record<string, unknown>;

const ADMIN_ENDPOINTS: [string, string, unknown?][] = [
  ['GET', '/_synapse/admin/v2/users'],
  ['GET', '/_synapse/admin/v2/users/@alice:test.local'],
  ['PUT', '/_synapse/admin/v2/users/@mallory:test.local', { password: 'x', admin: true }],
  ['POST', '/_synapse/admin/v1/deactivate/@alice:test.local', {}],
  ['GET', '/_synapse/admin/v1/federation/destinations'],
  ['GET', '/_synapse/admin/v1/federation/destinations/remote.example'],
  ['POST', '/_synapse/admin/v1/federation/destinations/remote.example/reset_connection', {}],
  ['GET', '/_troupe/admin/v1/actors'],
  ['GET', '/_troupe/admin/v1/appservices'],
  ['POST', '/_troupe/admin/v1/appservices/bridge/retry', {}],
  ['POST', '/_troupe/admin/v1/destinations/remote.example/retry', {}],
  ['GET', '/_troupe/admin/v1/machines'],
  ['GET', '/_troupe/admin/v1/machines/appservice.svg'],
];

forEachBackend('admin API', (backend) => {
  let server: TestServer;
  let admin: { accessToken: string; userId: string };
  let alice: { accessToken: string; userId: string };

  test('refuses non-admins with 403 M_FORBIDDEN and requests without a token with 401', async (t) => {
    server = await startTestServer(t, { backend: backend.name });
    alice = await server.createUser('alice');
    for (const [method, path, body] of ADMIN_ENDPOINTS) {
      const forbidden = await server.request(method, path, { token: alice.accessToken, body });
      assert.equal(forbidden.status, 403, `${method} ${path}`);
      assert.equal((forbidden.body as Body)['errcode'], 'M_FORBIDDEN');
      const anonymous = await server.request(method, path, { body });
      assert.equal(anonymous.status, 401, `${method} ${path}`);
      assert.equal((anonymous.body as Body)['errcode'], 'M_MISSING_TOKEN');
    }
    // Nothing was created by the refused PUT.
    const { rows } = await server.running.db.query("SELECT 1 FROM users WHERE user_id = '@mallory:test.local'");
    assert.equal(rows.length, 0);
  });

  test('users: create, query, modify, list with filters, deactivate', async (t) => {
    server = await startTestServer(t, { backend: backend.name });
    admin = await server.createUser('root', { admin: true });
    alice = await server.createUser('alice');
    const version = await server.request('GET', '/_synapse/admin/v1/server_version');
    assert.equal(version.status, 200);
    assert.match(String((version.body as Body)['server_version']), /^Troupe /);

    // Create.
    const created = await server.request('PUT', '/_synapse/admin/v2/users/@bob:test.local', {
      token: admin.accessToken,
      body: { password: 'bob-password-1', displayname: 'Bobby Tables', admin: false, user_type: 'bot' },
    });
    assert.equal(created.status, 201);
    const bob = created.body as Body;
    assert.equal(bob['name'], '@bob:test.local');
    assert.equal(bob['displayname'], 'Bobby Tables');
    assert.equal(bob['admin'], false);
    assert.equal(bob['deactivated'], false);
    assert.equal(bob['user_type'], 'bot');
    assert.equal(typeof bob['creation_ts'], 'number');

    // The new password works for login through the client API.
    const login = await server.request('POST', '/_matrix/client/v3/login', {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'bob' }, password: 'bob-password-1' },
    });
    assert.equal(login.status, 200);
    const bobToken = (login.body as Body)['access_token'] as string;

    // Query.
    const got = await server.request('GET', '/_synapse/admin/v2/users/@bob:test.local', { token: admin.accessToken });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, bob);
    assert.equal((await server.request('GET', '/_synapse/admin/v2/users/@nobody:test.local', { token: admin.accessToken })).status, 404);
    const remote = await server.request('GET', '/_synapse/admin/v2/users/@x:elsewhere.example', { token: admin.accessToken });
    assert.equal(remote.status, 400);

    // Modify: admin flag and display name; 200 this time.
    const modified = await server.request('PUT', '/_synapse/admin/v2/users/@bob:test.local', {
      token: admin.accessToken,
      body: { admin: true, displayname: 'Robert' },
    });
    assert.equal(modified.status, 200);
    assert.equal((modified.body as Body)['admin'], true);
    assert.equal((modified.body as Body)['displayname'], 'Robert');
    // A wrongly typed field is refused and changes nothing.
    const bad = await server.request('PUT', '/_synapse/admin/v2/users/@bob:test.local', { token: admin.accessToken, body: { admin: 'yes' } });
    assert.equal(bad.status, 400);
    // An admin may not demote themselves.
    const demote = await server.request('PUT', `/_synapse/admin/v2/users/${admin.userId}`, { token: admin.accessToken, body: { admin: false } });
    assert.equal(demote.status, 400);

    // Password change logs bob's devices out (logout_devices defaults to true).
    const pw = await server.request('PUT', '/_synapse/admin/v2/users/@bob:test.local', { token: admin.accessToken, body: { password: 'bob-password-2' } });
    assert.equal(pw.status, 200);
    assert.equal((await server.request('GET', '/_matrix/client/v3/account/whoami', { token: bobToken })).status, 401);

    // List: everyone, paginated, and filtered.
    const all = await server.request('GET', '/_synapse/admin/v2/users', { token: admin.accessToken });
    assert.equal(all.status, 200);
    const names = ((all.body as Body)['users'] as Body[]).map((u) => u['name']);
    assert.deepEqual(names, ['@alice:test.local', '@bob:test.local', '@root:test.local']);
    assert.equal((all.body as Body)['total'], 3);
    assert.equal((all.body as Body)['next_token'], undefined);
    const page = await server.request('GET', '/_synapse/admin/v2/users?from=0&limit=2', { token: admin.accessToken });
    assert.equal(((page.body as Body)['users'] as Body[]).length, 2);
    assert.equal((page.body as Body)['next_token'], '2');
    const next = await server.request('GET', '/_synapse/admin/v2/users?from=2&limit=2', { token: admin.accessToken });
    assert.deepEqual(((next.body as Body)['users'] as Body[]).map((u) => u['name']), ['@root:test.local']);
    // name matches the localpart or the display name.
    const byDisplayName = await server.request('GET', '/_synapse/admin/v2/users?name=robe', { token: admin.accessToken });
    assert.deepEqual(((byDisplayName.body as Body)['users'] as Body[]).map((u) => u['name']), ['@bob:test.local']);
    const byLocalpart = await server.request('GET', '/_synapse/admin/v2/users?name=ALI', { token: admin.accessToken });
    assert.deepEqual(((byLocalpart.body as Body)['users'] as Body[]).map((u) => u['name']), ['@alice:test.local']);
    const admins = await server.request('GET', '/_synapse/admin/v2/users?admins=true', { token: admin.accessToken });
    assert.deepEqual(((admins.body as Body)['users'] as Body[]).map((u) => u['name']), ['@bob:test.local', '@root:test.local']);
    const noGuests = await server.request('GET', '/_synapse/admin/v2/users?guests=false&dir=b', { token: admin.accessToken });
    assert.deepEqual(((noGuests.body as Body)['users'] as Body[]).map((u) => u['name']), ['@root:test.local', '@bob:test.local', '@alice:test.local']);
    assert.equal((await server.request('GET', '/_synapse/admin/v2/users?limit=x', { token: admin.accessToken })).status, 400);
    assert.equal((await server.request('GET', '/_synapse/admin/v2/users?guests=maybe', { token: admin.accessToken })).status, 400);

    // Deactivate alice: her token stops working, the list leaves her out unless asked.
    const deactivated = await server.request('PUT', '/_synapse/admin/v2/users/@alice:test.local', { token: admin.accessToken, body: { deactivated: true } });
    assert.equal(deactivated.status, 200);
    assert.equal((deactivated.body as Body)['deactivated'], true);
    assert.equal((await server.request('GET', '/_matrix/client/v3/account/whoami', { token: alice.accessToken })).status, 401);
    const active = await server.request('GET', '/_synapse/admin/v2/users', { token: admin.accessToken });
    assert.deepEqual(((active.body as Body)['users'] as Body[]).map((u) => u['name']), ['@bob:test.local', '@root:test.local']);
    const withDeactivated = await server.request('GET', '/_synapse/admin/v2/users?deactivated=true', { token: admin.accessToken });
    assert.equal((withDeactivated.body as Body)['total'], 3);
    // Re-activation needs a password.
    const noPw = await server.request('PUT', '/_synapse/admin/v2/users/@alice:test.local', { token: admin.accessToken, body: { deactivated: false } });
    assert.equal(noPw.status, 400);
    const back = await server.request('PUT', '/_synapse/admin/v2/users/@alice:test.local', {
      token: admin.accessToken,
      body: { deactivated: false, password: 'alice-again-1' },
    });
    assert.equal(back.status, 200);
    assert.equal((back.body as Body)['deactivated'], false);

    // Synapse's other deactivation endpoint; an invalid new user id is refused.
    const viaPost = await server.request('POST', '/_synapse/admin/v1/deactivate/@bob:test.local', { token: admin.accessToken, body: {} });
    assert.equal(viaPost.status, 200);
    assert.deepEqual(viaPost.body, { id_server_unbind_result: 'success' });
    const bobNow = await server.request('GET', '/_synapse/admin/v2/users/@bob:test.local', { token: admin.accessToken });
    assert.equal((bobNow.body as Body)['deactivated'], true);
    assert.equal((await server.request('POST', '/_synapse/admin/v1/deactivate/@ghost:test.local', { token: admin.accessToken, body: {} })).status, 404);
    const badId = await server.request('PUT', '/_synapse/admin/v2/users/@Bad%20Name:test.local', { token: admin.accessToken, body: { password: 'x-password-1' } });
    assert.equal(badId.status, 400);
    assert.equal((badId.body as Body)['errcode'], 'M_INVALID_USERNAME');
  });

  test('federation destinations and appservices come from the live actors', async (t) => {
    server = await startTestServer(t, { backend: backend.name });
    admin = await server.createUser('root', { admin: true });
    const empty = await server.request('GET', '/_synapse/admin/v1/federation/destinations', { token: admin.accessToken });
    assert.deepEqual(empty.body, { destinations: [], total: 0 });
    assert.deepEqual((await server.request('GET', '/_troupe/admin/v1/appservices', { token: admin.accessToken })).body, { appservices: [] });

    const { running } = server;
    const destination = spawnBackingOffDestination(t, running.actors, running.admin);
    const list = await server.request('GET', '/_synapse/admin/v1/federation/destinations', { token: admin.accessToken });
    assert.equal((list.body as Body)['total'], 1);
    const [row] = (list.body as Body)['destinations'] as Body[];
    assert.equal(row?.['destination'], 'remote.example');
    assert.equal(row?.['retry_interval'], 600_000);
    assert.equal(typeof row?.['retry_last_ts'], 'number');
    assert.equal(typeof row?.['failure_ts'], 'number');
    const one = await server.request('GET', '/_synapse/admin/v1/federation/destinations/remote.example', { token: admin.accessToken });
    assert.deepEqual(one.body, row);
    assert.equal((await server.request('GET', '/_synapse/admin/v1/federation/destinations/other.example', { token: admin.accessToken })).status, 404);
    // Reset: the back-off ends at once; a second reset has nothing to reset.
    const reset = await server.request('POST', '/_synapse/admin/v1/federation/destinations/remote.example/reset_connection', { token: admin.accessToken, body: {} });
    assert.equal(reset.status, 200);
    assert.equal(destination.getSnapshot().value, 'idle');
    assert.equal((destination.getSnapshot().context as { retryIntervalMs: number }).retryIntervalMs, 0);
    const again = await server.request('POST', '/_synapse/admin/v1/federation/destinations/remote.example/reset_connection', { token: admin.accessToken, body: {} });
    assert.equal(again.status, 400);

    // An appservice whose service fails: DOWN with a next retry time; retry after it recovers: UP.
    const fake = spawnFakeAppservice(t, running.actors, running.admin);
    await waitForSnapshot(fake.actor, isDown);
    const down = await server.request('GET', '/_troupe/admin/v1/appservices/bridge', { token: admin.accessToken });
    assert.equal(down.status, 200);
    const d = down.body as Body;
    assert.match(String(d['state']), /^down\./);
    assert.equal(d['status'], 'down');
    assert.ok((d['backoff_step'] as number) >= 1);
    assert.equal(d['in_flight_txn_id'], null);
    assert.ok((d['transactions_failed'] as number) >= 1);
    fake.failing = false;
    const retried = await server.request('POST', '/_troupe/admin/v1/appservices/bridge/retry', { token: admin.accessToken, body: {} });
    assert.equal(retried.status, 200);
    await waitForSnapshot(fake.actor, isUp);
    const up = await server.request('GET', '/_troupe/admin/v1/appservices', { token: admin.accessToken });
    const [svc] = (up.body as Body)['appservices'] as Body[];
    assert.equal(svc?.['status'], 'up');
    assert.equal(svc?.['position'], 5);
    assert.equal(svc?.['next_retry_at'], null);
    assert.equal((await server.request('POST', '/_troupe/admin/v1/appservices/nope/retry', { token: admin.accessToken, body: {} })).status, 404);

    // The listing and the machine diagrams.
    const actors = await server.request('GET', '/_troupe/admin/v1/actors', { token: admin.accessToken });
    const kinds = ((actors.body as Body)['actors'] as Body[]).map((a) => a['kind']).sort();
    assert.deepEqual(kinds, ['appservice', 'destination', 'supervisor']);
    const svg = await server.request('GET', '/_troupe/admin/v1/machines/appservice.svg', { token: admin.accessToken });
    assert.equal(svg.status, 200);
    assert.match(svg.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.match(String(svg.body), /data-path="down\.waiting"/);
    assert.match(String(svg.body), /RETRY_NOW/);
  });
});
