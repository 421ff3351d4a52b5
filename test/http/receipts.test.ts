// Receipts and read markers over real HTTP, and how collect() shares them: m.read with the room, m.read.private
// only with its user, m.fully_read as room account data; readUpTo() for unread counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, join, newUser, sendMessage, suiteServer } from '../rooms/client.ts';
import { collect } from '../userData/client.ts';

function receipt(s: TestServer, user: TestUser, roomId: string, type: string, eventId: string, body: unknown = {}, status = 200) {
  return call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/${enc(type)}/${enc(eventId)}`, user, body, status);
}

async function twoInARoom(s: TestServer): Promise<{ alice: TestUser; bob: TestUser; roomId: string }> {
  const alice = await newUser(s, 'alice');
  const bob = await newUser(s, 'bob');
  const roomId = await createRoom(s, alice, { preset: 'public_chat' });
  await join(s, bob, roomId);
  return { alice, bob, roomId };
}

forEachBackend('receipts over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('m.read reaches every member; m.read.private only its user', async () => {
    const s = server();
    const { alice, bob, roomId } = await twoInARoom(s);
    const first = await sendMessage(s, alice, roomId, 'one');
    const second = await sendMessage(s, alice, roomId, 'two');
    const aliceBefore = await collect(s, alice);
    const bobBefore = await collect(s, bob);
    await receipt(s, bob, roomId, 'm.read', first);
    await receipt(s, bob, roomId, 'm.read.private', second);

    const forAlice = await collect(s, alice, { since: aliceBefore.to });
    const aliceSees = forAlice.data.rooms.get(roomId)?.ephemeral.find((e) => e['type'] === 'm.receipt');
    assert.ok(aliceSees, 'alice gets the m.receipt');
    const content = aliceSees['content'] as Record<string, Record<string, Record<string, { ts: number }>>>;
    assert.deepEqual(Object.keys(content), [first]);
    assert.equal(typeof content[first]?.['m.read']?.[bob.userId]?.ts, 'number');

    const forBob = await collect(s, bob, { since: bobBefore.to });
    const bobSees = forBob.data.rooms.get(roomId)?.ephemeral.find((e) => e['type'] === 'm.receipt')?.['content'] as Record<string, Record<string, unknown>>;
    assert.ok(bobSees[first]?.['m.read']);
    assert.ok(bobSees[second]?.['m.read.private'], 'bob sees his own private receipt');

    // On an initial sync too, the private receipt stays private.
    const initial = await collect(s, alice);
    const all = initial.data.rooms.get(roomId)?.ephemeral.find((e) => e['type'] === 'm.receipt')?.['content'] as Record<string, Record<string, unknown>>;
    assert.ok(!JSON.stringify(all).includes('m.read.private'));
    const upTo = await s.running.userData.readUpTo(bob.userId, [roomId]);
    const { rows } = await s.running.db.query<{ stream_ordering: number }>('SELECT stream_ordering FROM events WHERE event_id = $1', [second]);
    assert.equal(upTo.get(roomId), rows[0]?.stream_ordering, 'the private receipt counts for unread counts');
  });

  test('a receipt wakes the other members; receipts only move forward; a repeat is harmless', async () => {
    const s = server();
    const { alice, bob, roomId } = await twoInARoom(s);
    const first = await sendMessage(s, alice, roomId, 'one');
    const second = await sendMessage(s, alice, roomId, 'two');
    const since = s.running.actors.notifier.currentToken();
    const waiting = s.running.actors.notifier.waitForEvents(alice.userId, since, 5000);
    await receipt(s, bob, roomId, 'm.read', second);
    const woke = await waiting;
    assert.equal(woke.reason, 'advanced');
    assert.ok(woke.token.get('receipts') > since.get('receipts'));
    await receipt(s, bob, roomId, 'm.read', first);
    // No body at all is taken as {}.
    const bare = await s.request('POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(second)}`, { token: bob.accessToken });
    assert.equal(bare.status, 200, JSON.stringify(bare.body));
    const all = (await collect(s, alice)).data.rooms.get(roomId)?.ephemeral.find((e) => e['type'] === 'm.receipt')?.['content'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(all), [second]);
  });

  test('threaded receipts carry thread_id; bad thread ids are M_INVALID_PARAM', async () => {
    const s = server();
    const { alice, bob, roomId } = await twoInARoom(s);
    const root = await sendMessage(s, alice, roomId, 'root');
    const inThread = (
      await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/thr1`, alice, {
        msgtype: 'm.text',
        body: 'reply',
        'm.relates_to': { rel_type: 'm.thread', event_id: root },
      })
    )['event_id'] as string;
    await receipt(s, bob, roomId, 'm.read', inThread, { thread_id: root });
    await receipt(s, bob, roomId, 'm.read', root, { thread_id: 'main' });
    const content = (await collect(s, alice)).data.rooms.get(roomId)?.ephemeral.find((e) => e['type'] === 'm.receipt')?.['content'] as Record<
      string,
      Record<string, Record<string, { thread_id?: string }>>
    >;
    assert.equal(content[inThread]?.['m.read']?.[bob.userId]?.thread_id, root);
    assert.equal(content[root]?.['m.read']?.[bob.userId]?.thread_id, 'main');
    const url = (type: string, eventId: string) => `${V3}/rooms/${enc(roomId)}/receipt/${enc(type)}/${enc(eventId)}`;
    await fails(s, 'POST', url('m.read', root), bob, { thread_id: '' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url('m.read', root), bob, { thread_id: 7 }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url('m.read', root), bob, { thread_id: 'side' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url('m.read', root), bob, { thread_id: inThread }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url('m.fully_read', root), bob, { thread_id: 'main' }, 400, 'M_INVALID_PARAM');
  });

  test('bad input and forbidden: unknown type, bad ids, unknown event, event of another room, non-member', async () => {
    const s = server();
    const { alice, bob, roomId } = await twoInARoom(s);
    const eventId = await sendMessage(s, alice, roomId, 'one');
    const other = await createRoom(s, alice);
    const elsewhere = await sendMessage(s, alice, other, 'elsewhere');
    const outsider = await newUser(s, 'carol');
    const url = (room: string, type: string, id: string) => `${V3}/rooms/${enc(room)}/receipt/${enc(type)}/${enc(id)}`;
    await fails(s, 'POST', url(roomId, 'm.seen', eventId), bob, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url('nope', 'm.read', eventId), bob, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url(roomId, 'm.read', 'nope'), bob, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', url(roomId, 'm.read', '$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), bob, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', url(roomId, 'm.read', elsewhere), bob, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', url(roomId, 'm.read', eventId), outsider, {}, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', url(roomId, 'm.read', eventId), bob, '[]', 400, 'M_NOT_JSON');
    await fails(s, 'GET', url(roomId, 'm.read', eventId), bob, undefined, 405, 'M_UNRECOGNIZED');
    assert.equal((await collect(s, alice)).data.rooms.get(roomId)?.ephemeral.length ?? 0, 0, 'nothing was stored');
  });

  test('read markers: m.fully_read becomes room account data, m.read a receipt; checked before anything is set', async () => {
    const s = server();
    const { alice, bob, roomId } = await twoInARoom(s);
    const first = await sendMessage(s, alice, roomId, 'one');
    const second = await sendMessage(s, alice, roomId, 'two');
    const markers = `${V3}/rooms/${enc(roomId)}/read_markers`;
    await call(s, 'POST', markers, bob, { 'm.fully_read': second, 'm.read': first });
    const marker = await call(s, 'GET', `${V3}/user/${enc(bob.userId)}/rooms/${enc(roomId)}/account_data/m.fully_read`, bob);
    assert.deepEqual(marker, { event_id: second });
    // Backwards is ignored; the receipt type m.fully_read is the same marker.
    await receipt(s, bob, roomId, 'm.fully_read', first);
    assert.deepEqual(await call(s, 'GET', `${V3}/user/${enc(bob.userId)}/rooms/${enc(roomId)}/account_data/m.fully_read`, bob), { event_id: second });
    const bobData = await collect(s, bob);
    assert.deepEqual(bobData.data.rooms.get(roomId)?.accountData, [{ type: 'm.fully_read', content: { event_id: second } }]);
    const aliceData = await collect(s, alice);
    assert.ok(!JSON.stringify([...aliceData.data.rooms.values()]).includes('m.fully_read'), 'the marker is private');
    const receipts = aliceData.data.rooms.get(roomId)?.ephemeral.find((e) => e['type'] === 'm.receipt')?.['content'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(receipts), [first]);

    const third = await sendMessage(s, alice, roomId, 'three');
    await fails(s, 'POST', markers, bob, { 'm.fully_read': third, 'm.read': '$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, 404, 'M_NOT_FOUND');
    assert.deepEqual(await call(s, 'GET', `${V3}/user/${enc(bob.userId)}/rooms/${enc(roomId)}/account_data/m.fully_read`, bob), { event_id: second });
    await fails(s, 'POST', markers, bob, { 'm.read': 5 }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', markers, bob, { 'm.read': 'nope' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', markers, await newUser(s, 'dave'), { 'm.read': third }, 403, 'M_FORBIDDEN');
  });
});
