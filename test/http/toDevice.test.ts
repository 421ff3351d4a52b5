// /sendToDevice over real HTTP and to-device delivery through collect(): exactly once across a reconnect,
// txnId idempotency, "*" for every device, pages of 100, remote users ignored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, enc, fails, newUser, suiteServer } from '../rooms/client.ts';
import { collect } from '../userData/client.ts';

async function secondDevice(s: TestServer, user: TestUser): Promise<TestUser> {
  const deviceId = generateDeviceId();
  const accessToken = generateAccessToken();
  await s.running.db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, $3)', [user.userId, deviceId, Date.now()]);
  await s.running.db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [
    hashAccessToken(accessToken),
    user.userId,
    deviceId,
    Date.now(),
  ]);
  return { ...user, deviceId, accessToken };
}

let txn = 0;
const send = (s: TestServer, from: TestUser, messages: unknown, type = 'org.example.ping', txnId = `t${++txn}`) =>
  call(s, 'PUT', `${V3}/sendToDevice/${enc(type)}/${enc(txnId)}`, from, { messages });

forEachBackend('to-device over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('delivered once per device, again after a reconnect with the old since, deleted once a later since arrives', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const start = await collect(s, bob);
    assert.deepEqual(start.data.toDevice, []);
    const waiting = s.running.actors.notifier.waitForEvents(bob.userId, start.next, 5000);
    await send(s, alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
    assert.equal((await waiting).reason, 'advanced');
    const first = await collect(s, bob, { since: start.next });
    assert.deepEqual(first.data.toDevice, [{ type: 'org.example.ping', sender: alice.userId, content: { n: 1 } }]);
    // The client lost the response and retries with the same since: the same message again.
    const retry = await collect(s, bob, { since: start.next });
    assert.deepEqual(retry.data.toDevice, first.data.toDevice);
    // It moves on: nothing more, and the row is gone.
    const next = await collect(s, bob, { since: retry.next });
    assert.deepEqual(next.data.toDevice, []);
    const { rows } = await s.running.db.query('SELECT 1 FROM to_device_messages WHERE user_id = $1', [bob.userId]);
    assert.equal(rows.length, 0);
    const again = await collect(s, bob, { since: start.next });
    assert.deepEqual(again.data.toDevice, [], 'acknowledged messages are not resent');
  });

  test('the same txnId is sent once; "*" reaches every device; explicit ids only existing devices', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const bob2 = await secondDevice(s, bob);
    const before = await collect(s, bob);
    await send(s, alice, { [bob.userId]: { '*': { all: true } } }, 'm.x', 'same');
    await send(s, alice, { [bob.userId]: { '*': { all: 'again' } } }, 'm.x', 'same');
    await send(s, alice, { [bob.userId]: { NOSUCHDEVICE: { lost: true }, [bob2.deviceId]: { only: 2 } } });
    const one = await collect(s, bob, { since: before.next });
    assert.deepEqual(one.data.toDevice.map((m) => m['content']), [{ all: true }]);
    const two = await collect(s, bob2, { since: before.next });
    assert.deepEqual(two.data.toDevice.map((m) => m['content']), [{ all: true }, { only: 2 }]);
    // Another device of the sender may reuse the txn id.
    const alice2 = await secondDevice(s, alice);
    await send(s, alice2, { [bob.userId]: { [bob.deviceId]: { from: 'alice2' } } }, 'm.x', 'same');
    assert.deepEqual((await collect(s, bob, { since: one.next })).data.toDevice.map((m) => m['content']), [{ from: 'alice2' }]);
  });

  test('at most 100 per response; next_batch points at the last one delivered so the rest follows', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const before = await collect(s, bob);
    for (let i = 0; i < 130; i++) await send(s, alice, { [bob.userId]: { [bob.deviceId]: { i } } });
    const page1 = await collect(s, bob, { since: before.next });
    assert.equal(page1.data.toDevice.length, 100);
    assert.ok(page1.next.get('to_device') < page1.to.get('to_device'));
    const page2 = await collect(s, bob, { since: page1.next });
    assert.deepEqual(page2.data.toDevice.map((m) => (m['content'] as { i: number }).i), Array.from({ length: 30 }, (_, i) => 100 + i));
    assert.equal(page2.next.get('to_device'), page2.to.get('to_device'));
  });

  test('remote users are skipped; bad input changes nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const before = await collect(s, bob);
    await send(s, alice, { '@far:remote.example': { DEV: { x: 1 } }, [bob.userId]: { [bob.deviceId]: { x: 2 } } });
    assert.deepEqual((await collect(s, bob, { since: before.next })).data.toDevice.map((m) => m['content']), [{ x: 2 }]);
    const url = `${V3}/sendToDevice/m.x/bad1`;
    await fails(s, 'PUT', url, alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url, alice, { messages: [] }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url, alice, { messages: { [bob.userId]: { [bob.deviceId]: 'text' } } }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url, alice, { messages: { 'not-a-user': { D: {} } } }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url, alice, 'x', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', url, undefined, { messages: {} }, 401, 'M_MISSING_TOKEN');
    await fails(s, 'POST', url, alice, { messages: {} }, 405, 'M_UNRECOGNIZED');
    // The failed txn id was not used up.
    await call(s, 'PUT', url, alice, { messages: { [bob.userId]: { [bob.deviceId]: { x: 3 } } } });
    assert.deepEqual((await collect(s, bob, { since: before.next })).data.toDevice.map((m) => m['content']), [{ x: 2 }, { x: 3 }]);
  });
});
