// Presence over real HTTP: PUT/GET, set by syncing(), visible only to users who share a room, and off in config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, join, newUser, suiteServer } from '../rooms/client.ts';
import { collect } from '../userData/client.ts';

forEachBackend('presence over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('PUT and GET your own presence with a status message', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const url = `${V3}/presence/${enc(alice.userId)}/status`;
    assert.deepEqual(await call(s, 'GET', url, alice), { presence: 'offline' });
    await call(s, 'PUT', url, alice, { presence: 'unavailable', status_msg: 'lunch' });
    const got = await call(s, 'GET', url, alice);
    assert.equal(got['presence'], 'unavailable');
    assert.equal(got['status_msg'], 'lunch');
    assert.equal(typeof got['last_active_ago'], 'number');
    assert.equal(got['currently_active'], false);
  });

  test('room-mates see each other\'s presence in collect() and through GET; strangers do not', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const stranger = await newUser(s, 'stranger');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const bobBefore = await collect(s, bob);
    const strangerBefore = await collect(s, stranger);
    const waiting = s.running.actors.notifier.waitForEvents(bob.userId, bobBefore.to, 5000);
    await s.running.userData.syncing(alice.userId, 'online');
    assert.equal((await waiting).reason, 'advanced');

    const forBob = await collect(s, bob, { since: bobBefore.to });
    const event = forBob.data.presence.find((e) => e['sender'] === alice.userId);
    assert.ok(event, 'bob sees alice come online');
    assert.equal(event['type'], 'm.presence');
    assert.equal((event['content'] as Record<string, unknown>)['presence'], 'online');
    assert.equal((event['content'] as Record<string, unknown>)['currently_active'], true);
    const forStranger = await collect(s, stranger, { since: strangerBefore.to });
    assert.deepEqual(forStranger.data.presence, []);

    assert.equal((await call(s, 'GET', `${V3}/presence/${enc(alice.userId)}/status`, bob))['presence'], 'online');
    await fails(s, 'GET', `${V3}/presence/${enc(alice.userId)}/status`, stranger, undefined, 403, 'M_FORBIDDEN');
    // set_presence=offline leaves it; a repeat within the minute writes nothing.
    const quiet = await collect(s, bob);
    await s.running.userData.syncing(alice.userId, 'offline');
    await s.running.userData.syncing(alice.userId, 'online');
    assert.deepEqual((await collect(s, bob, { since: quiet.to })).data.presence, []);
    // (The refresh a minute later, stored for the sweep without waking anyone, is tested on a simulated clock in
    // test/userData/presenceSweep.test.ts.)
    await s.running.userData.syncing(alice.userId, 'unavailable');
    const unavailable = (await collect(s, bob, { since: quiet.to })).data.presence;
    assert.equal((unavailable[0]?.['content'] as Record<string, unknown>)['presence'], 'unavailable');
  });

  test('users who stopped syncing are swept offline, and their room-mates hear of it', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await s.running.userData.syncing(alice.userId, 'online');
    await s.running.userData.syncing(bob.userId, 'online');
    // Alice's last refresh was ten minutes ago; Bob is still syncing.
    await s.running.db.query('UPDATE presence SET last_active_ts = last_active_ts - 600000 WHERE user_id = $1', [alice.userId]);
    const before = await collect(s, bob);
    assert.ok((await s.running.userData.presence.sweep()) >= 1);
    const after = await collect(s, bob, { since: before.to });
    assert.deepEqual(
      after.data.presence.map((e) => [e['sender'], (e['content'] as Record<string, unknown>)['presence']]),
      [[alice.userId, 'offline']],
    );
    assert.equal((await call(s, 'GET', `${V3}/presence/${enc(bob.userId)}/status`, alice))['presence'], 'online');
    const quiet = await collect(s, bob);
    await s.running.userData.presence.sweep();
    assert.deepEqual((await collect(s, bob, { since: quiet.to })).data.presence, [], 'offline users are not swept again');
  });

  test('bad input: another user, unknown state, wrong types, invalid user id', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const url = (userId: string) => `${V3}/presence/${enc(userId)}/status`;
    await fails(s, 'PUT', url(bob.userId), alice, { presence: 'online' }, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', url(alice.userId), alice, { presence: 'away' }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url(alice.userId), alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url(alice.userId), alice, { presence: 'online', status_msg: 5 }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url('nobody'), alice, { presence: 'online' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', url('nobody'), alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', url(bob.userId), alice, undefined, 403, 'M_FORBIDDEN');
    assert.deepEqual(await call(s, 'GET', url(bob.userId), bob), { presence: 'offline' });
  });
});

test('presence turned off: nothing stored or collected, GET answers offline', async (t) => {
  const s = await startTestServer(t, { config: { presence: { enabled: false } } });
  const alice = await newUser(s, 'alice');
  const bob = await newUser(s, 'bob');
  const roomId = await createRoom(s, alice, { preset: 'public_chat' });
  await join(s, bob, roomId);
  await call(s, 'PUT', `${V3}/presence/${enc(alice.userId)}/status`, alice, { presence: 'online', status_msg: 'hi' });
  await s.running.userData.syncing(alice.userId, 'online');
  assert.deepEqual(await call(s, 'GET', `${V3}/presence/${enc(alice.userId)}/status`, bob), { presence: 'offline' });
  assert.deepEqual((await collect(s, bob)).data.presence, []);
  const { rows } = await s.running.db.query('SELECT 1 FROM presence');
  assert.equal(rows.length, 0);
});
