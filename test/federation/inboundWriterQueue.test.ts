// RoomWriter.submitRemote, the way federation stores remote events: the work runs in the room's queue, alone
// between local batches; its stream ids complete whether it succeeds or fails; a failure reaches only its caller;
// and the room's cached state is dropped afterwards, so the next local event sees what the remote write changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Notifier, StreamNotification } from '../../src/notifier.ts';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import { EventStore } from '../../src/storage/events.ts';
import { RoomService } from '../../src/rooms/service.ts';
import { RoomWriter } from '../../src/rooms/writer.ts';
import { StreamIdGenerator } from '../../src/streams/idGenerator.ts';
import { StreamToken } from '../../src/streams/token.ts';
import type { Database } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';

const SERVER = 'queue.test';
const ALICE = `@alice:${SERVER}`;

async function setup(db: Database) {
  const notifications: StreamNotification[] = [];
  const notifier: Notifier = {
    notify: (n) => notifications.push(n),
    membershipChanged: () => undefined,
    waitForEvents: async () => ({ reason: 'timeout', token: StreamToken.ZERO }),
    historyVisibilityChanged: () => undefined,
    roomsVersion: () => 0,
    currentToken: () => StreamToken.ZERO,
  };
  const stream = new StreamIdGenerator({ stream: 'events', initialPosition: 0 });
  const writer = new RoomWriter({ db, serverName: SERVER, signingKey: generateSigningKey('q1'), notifier, stream, now: Date.now });
  const rooms = new RoomService({ db, writer, serverName: SERVER, now: Date.now });
  const roomId = await rooms.createRoom(ALICE, {});
  const send = (body: string) => writer.submit(roomId, { type: 'm.room.message', sender: ALICE, content: { msgtype: 'm.text', body } });
  return { writer, stream, notifications, roomId, send, events: new EventStore(db) };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

forEachBackend('room writer: remote writes', (backend) => {
  test('remote work never overlaps a local batch of the same room', async (t) => {
    const db = await backend.fresh(t);
    const { writer, roomId, send } = await setup(db);
    const count = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE room_id = $1', [roomId])).rows[0]?.n;
    const seen: [number | undefined, number | undefined][] = [];
    const remote = (i: number) =>
      writer.submitRemote(roomId, async () => {
        const before = await count();
        await pause(30);
        seen.push([before, await count()]);
        return i;
      });
    const initial = await count();
    const results = await Promise.all([send('1'), send('2'), remote(1), send('3'), remote(2), send('4'), send('5')]);
    assert.equal(results[2], 1);
    assert.equal(results[4], 2);
    assert.equal(seen.length, 2);
    for (const [before, after] of seen) assert.equal(after, before, 'no local event was stored while remote work ran');
    assert.equal(await count(), (initial ?? 0) + 5);
  });

  test('ids reserved by failed remote work complete; the failure reaches only its caller; the queue goes on', async (t) => {
    const db = await backend.fresh(t);
    const { writer, stream, roomId, send } = await setup(db);
    let reserved = 0;
    const failing = writer.submitRemote(roomId, async (ids) => {
      reserved = ids.reserve();
      throw new Error('remote write failed');
    });
    const after = send('after the failure');
    await assert.rejects(failing, /remote write failed/);
    const persisted = await after;
    assert.ok(reserved > 0);
    assert.ok(stream.position >= persisted.streamOrdering, 'the failed id does not hold the stream back');
    assert.equal(stream.inFlight, 0);
  });

  test('an announced remote id reaches the notifier; the next local event builds on what the remote write stored', async (t) => {
    const db = await backend.fresh(t);
    const { writer, roomId, send, notifications, events } = await setup(db);
    const first = await send('before');
    // Stand in for a remote event: a new forward extremity the writer's cache does not know.
    const id = await writer.submitRemote(roomId, async (ids) => {
      const streamOrdering = ids.reserve();
      await db.query(
        `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu)
         VALUES ($1, '$remote', $2, 'm.room.message', NULL, '@bob:remote.test', 99, 0, $3)`,
        [
          streamOrdering,
          roomId,
          JSON.stringify({ room_id: roomId, sender: '@bob:remote.test', type: 'm.room.message', content: {}, prev_events: [], auth_events: [], depth: 99, origin_server_ts: 0 }),
        ],
      );
      await db.query('INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)', [roomId, '$remote']);
      ids.announce(streamOrdering, { rooms: [roomId] });
      return streamOrdering;
    });
    assert.ok(notifications.some((n) => n.position === id && n.rooms?.includes(roomId)));
    const next = await send('after');
    const stored = await events.getEvent(next.eventId);
    assert.deepEqual([...(stored?.pdu['prev_events'] as string[])].sort(), ['$remote', first.eventId].sort());
  });
});
