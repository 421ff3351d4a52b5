// The per-user data streams through GET /sync itself, on each backend: typing, receipts, account data and tags,
// presence, to-device exactly once across a reconnect, device lists; each response checked against the spec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, join, newUser, sendMessage, suiteServer } from '../rooms/client.ts';
import { joinedRoom, sync, type SyncBody } from '../sync/client.ts';

type Full = SyncBody & { device_lists?: { changed?: string[]; left?: string[] }; device_one_time_keys_count?: Record<string, number> };

async function pair(s: TestServer): Promise<{ alice: TestUser; bob: TestUser; roomId: string }> {
  const alice = await newUser(s, 'alice');
  const bob = await newUser(s, 'bob');
  const roomId = await createRoom(s, alice, { preset: 'public_chat' });
  await join(s, bob, roomId);
  return { alice, bob, roomId };
}

const ephemeral = (body: SyncBody, roomId: string, type: string) =>
  body.rooms.join[roomId]?.ephemeral.events.filter((e) => e.type === type) ?? [];

forEachBackend('per-user data through /sync', (backend) => {
  const server = suiteServer(backend.name);

  test('a waiting /sync wakes for typing and carries m.typing; a receipt follows in ephemeral', async () => {
    const s = server();
    const { alice, bob, roomId } = await pair(s);
    const eventId = await sendMessage(s, alice, roomId, 'hello');
    const first = await sync(s, bob);
    const waiting = sync(s, bob, { since: first.next_batch, timeout: 10_000 });
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice, { typing: true, timeout: 30_000 });
    const woke = await waiting;
    assert.deepEqual(ephemeral(woke, roomId, 'm.typing'), [{ type: 'm.typing', content: { user_ids: [alice.userId] } }]);

    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, alice, {});
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read.private/${enc(eventId)}`, bob, {});
    const next = await sync(s, bob, { since: woke.next_batch, timeout: 10_000 });
    const receipts = ephemeral(next, roomId, 'm.receipt');
    assert.equal(receipts.length, 1);
    const content = receipts[0]?.content as Record<string, Record<string, Record<string, unknown>>>;
    assert.ok(content[eventId]?.['m.read']?.[alice.userId]);
    assert.ok(content[eventId]?.['m.read.private']?.[bob.userId], 'bob sees his private receipt');
    const forAlice = await sync(s, alice);
    const aliceReceipts = JSON.stringify(ephemeral(forAlice, roomId, 'm.receipt'));
    assert.ok(!aliceReceipts.includes('m.read.private'), 'alice never sees bob\'s private receipt');
    assert.deepEqual(ephemeral(forAlice, roomId, 'm.typing'), [{ type: 'm.typing', content: { user_ids: [alice.userId] } }]);
  });

  test('account data and tags reach /sync, only what changed on an incremental sync', async () => {
    const s = server();
    const { alice, roomId } = await pair(s);
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/account_data/org.example.a`, alice, { a: 1 });
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/rooms/${enc(roomId)}/tags/m.favourite`, alice, { order: 0.5 });
    const first = await sync(s, alice);
    assert.deepEqual(
      first.account_data.events.filter((e) => e.type === 'org.example.a'),
      [{ type: 'org.example.a', content: { a: 1 } }],
    );
    assert.deepEqual(joinedRoom(first, roomId).account_data.events, [{ type: 'm.tag', content: { tags: { 'm.favourite': { order: 0.5 } } } }]);
    const waiting = sync(s, alice, { since: first.next_batch, timeout: 10_000 });
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/account_data/org.example.b`, alice, { b: 2 });
    const next = await waiting;
    assert.deepEqual(next.account_data.events, [{ type: 'org.example.b', content: { b: 2 } }]);
    assert.equal(next.rooms.join[roomId]?.account_data.events.length ?? 0, 0);
  });

  test('to-device through /sync: delivered, again after a reconnect with the old since, gone once acknowledged', async () => {
    const s = server();
    const { alice, bob } = await pair(s);
    const first = await sync(s, bob);
    const waiting = sync(s, bob, { since: first.next_batch, timeout: 10_000 });
    await call(s, 'PUT', `${V3}/sendToDevice/m.room_key_request/txn1`, alice, { messages: { [bob.userId]: { [bob.deviceId]: { k: 1 } } } });
    const got = await waiting;
    assert.deepEqual(got.to_device.events, [{ type: 'm.room_key_request', sender: alice.userId, content: { k: 1 } }]);
    const retried = await sync(s, bob, { since: first.next_batch });
    assert.deepEqual(retried.to_device.events, got.to_device.events, 'the response was lost: sent again');
    const after = await sync(s, bob, { since: retried.next_batch });
    assert.deepEqual(after.to_device.events, []);
    const old = await sync(s, bob, { since: first.next_batch });
    assert.deepEqual(old.to_device.events, [], 'acknowledged: never twice');
  });

  test('presence: syncing makes you online for room-mates; set_presence=offline does not', async () => {
    const s = server();
    const { alice, bob } = await pair(s);
    const stranger = await newUser(s, 'stranger');
    const first = await sync(s, bob, { set_presence: 'offline' });
    const strangerFirst = await sync(s, stranger, { set_presence: 'offline' });
    await sync(s, alice, { set_presence: 'offline' });
    const quiet = await sync(s, bob, { since: first.next_batch, set_presence: 'offline' });
    assert.deepEqual(quiet.presence.events, []);
    await sync(s, alice);
    const seen = await sync(s, bob, { since: first.next_batch, set_presence: 'offline' });
    const event = (seen.presence.events as { sender: string; content: { presence: string } }[]).find((e) => e.sender === alice.userId);
    assert.equal(event?.content.presence, 'online');
    const unseen = await sync(s, stranger, { since: strangerFirst.next_batch, set_presence: 'offline' });
    assert.deepEqual(unseen.presence.events, []);
  });

  test('only presence moved: presence and no room; nothing moved: the same token back; then a message brings the room', async () => {
    const s = server();
    const { alice, bob, roomId } = await pair(s);
    const first = await sync(s, bob, { set_presence: 'offline' });
    await sync(s, alice);
    const presenceOnly = await sync(s, bob, { since: first.next_batch, set_presence: 'offline' });
    const online = (presenceOnly.presence.events as { sender: string; content: { presence: string } }[]).find((e) => e.sender === alice.userId);
    assert.equal(online?.content.presence, 'online');
    assert.deepEqual(Object.keys(presenceOnly.rooms.join), []);
    assert.notEqual(presenceOnly.next_batch, first.next_batch);
    const nothing = await sync(s, bob, { since: presenceOnly.next_batch, set_presence: 'offline' });
    assert.equal(nothing.next_batch, presenceOnly.next_batch);
    assert.deepEqual(nothing.presence.events, []);
    assert.deepEqual(Object.keys(nothing.rooms.join), []);
    const waiting = sync(s, bob, { since: nothing.next_batch, set_presence: 'offline', timeout: 10_000 });
    await sendMessage(s, alice, roomId, 'after the quiet');
    const next = await waiting;
    const bodies = joinedRoom(next, roomId).timeline.events.map((e) => (e.content as { body?: string }).body);
    assert.deepEqual(bodies, ['after the quiet']);
  });

  test('device lists: a new login of a room-mate is in device_lists.changed; one-time key counts are there', async () => {
    const s = server();
    const { alice, bob } = await pair(s);
    const first = (await sync(s, bob)) as Full;
    assert.deepEqual(first.device_one_time_keys_count, { signed_curve25519: 0 });
    const waiting = sync(s, bob, { since: first.next_batch, timeout: 10_000 });
    await call(s, 'POST', `${V3}/login`, undefined, { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: alice.password });
    const next = (await waiting) as Full;
    assert.deepEqual(next.device_lists?.changed, [alice.userId]);
  });
});
