// A long poll from where every stream still is (what each woken client asks next) waits before computing anything:
// it can only be empty until something moves. Over real HTTP; the to-device messages such a poll's `since`
// acknowledges are still deleted, once its wait ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer, type TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, join, newUsers, sendMessage } from '../rooms/client.ts';
import { bodiesOf, isWaiting, joinedRoom, sync, until } from '../sync/client.ts';

const sendToDevice = (s: TestServer, from: TestUser, to: TestUser, txnId: string, n: number) =>
  call(s, 'PUT', `${V3}/sendToDevice/org.example.ping/${txnId}`, from, { messages: { [to.userId]: { [to.deviceId]: { n } } } });

forEachBackend('a long poll from the current position', (backend) => {
  test('waits before computing anything, then answers with what woke it', async (t) => {
    const s = await startTestServer(t, { backend: backend.name });
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const first = await sync(s, bob, { timeout: 0 });
    // A short poll first, so that bob's notification stream is open (his rooms are read when it opens).
    const since = (await sync(s, bob, { timeout: 50, since: first.next_batch })).next_batch;

    // Every response reads the user's data streams: counting those reads counts the responses computed.
    const userData = s.running.userData;
    const collect = userData.collect.bind(userData);
    let computed = 0;
    userData.collect = (request) => {
      computed++;
      return collect(request);
    };
    t.after(() => {
      userData.collect = collect;
    });
    const poll = sync(s, bob, { timeout: 30000, since });
    await until(() => isWaiting(s, bob));
    assert.equal(computed, 0, 'nothing is computed before waiting');

    await sendMessage(s, alice, roomId, 'wake up');
    const woken = await poll;
    assert.equal(computed, 1, 'one response, computed once woken');
    assert.deepEqual(bodiesOf(joinedRoom(woken, roomId).timeline.events), ['wake up']);
  });

  test('to-device messages up to its since are deleted when its wait ends, and never sent again', async (t) => {
    const s = await startTestServer(t, { backend: backend.name });
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const start = await sync(s, bob, { timeout: 0 });
    await sendToDevice(s, alice, bob, 't1', 1);
    const delivered = await sync(s, bob, { timeout: 0, since: start.next_batch });
    assert.equal(delivered.to_device.events.length, 1);

    // The poll from the next token times out with nothing; by its answer the message is acknowledged.
    const timedOut = await sync(s, bob, { timeout: 50, since: delivered.next_batch });
    assert.deepEqual(timedOut.to_device.events, []);
    const { rows } = await s.running.db.query('SELECT 1 FROM to_device_messages WHERE user_id = $1', [bob.userId]);
    assert.equal(rows.length, 0);

    // The same when the wait ends because something moved.
    await sendToDevice(s, alice, bob, 't2', 2);
    const second = await sync(s, bob, { timeout: 0, since: timedOut.next_batch });
    assert.equal(second.to_device.events.length, 1);
    const poll = sync(s, bob, { timeout: 30000, since: second.next_batch });
    await until(() => isWaiting(s, bob));
    await sendToDevice(s, alice, bob, 't3', 3);
    const woken = await poll;
    assert.deepEqual(woken.to_device.events, [{ type: 'org.example.ping', sender: alice.userId, content: { n: 3 } }]);
    const left = await s.running.db.query<{ content: string }>('SELECT content FROM to_device_messages WHERE user_id = $1', [bob.userId]);
    assert.deepEqual(left.rows.map((r) => (typeof r.content === 'string' ? JSON.parse(r.content) : r.content)), [{ n: 3 }], 'only the unacknowledged one is kept');
  });
});
