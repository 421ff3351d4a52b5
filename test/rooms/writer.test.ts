// The room writer against a real database on each backend: events are valid PDUs of their room version, signed and
// hashed, chained linearly in the DAG with contiguous stream orderings even under concurrent sends, stored with
// their state, and announced to the notifier only once the stream position covers them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Notifier, StreamNotification } from '../../src/notifier.ts';
import { validatePdu } from '../../src/protocol/eventFormat.ts';
import { checkContentHash } from '../../src/protocol/hashes.ts';
import { checkEventSignedBy } from '../../src/protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import type { Database } from '../../src/storage/database.ts';
import { EventStore } from '../../src/storage/events.ts';
import { RoomService } from '../../src/rooms/service.ts';
import { RoomWriter } from '../../src/rooms/writer.ts';
import { RoomError } from '../../src/rooms/errors.ts';
import { StreamIdGenerator } from '../../src/streams/idGenerator.ts';
import { StreamToken } from '../../src/streams/token.ts';
import { forEachBackend } from '../helpers/database.ts';

const SERVER = 'writer.test';
const ALICE = `@alice:${SERVER}`;
const BOB = `@bob:${SERVER}`;

function recordingNotifier(): Notifier & { notifications: StreamNotification[]; memberships: [string, string, string][] } {
  const notifications: StreamNotification[] = [];
  const memberships: [string, string, string][] = [];
  return {
    notifications,
    memberships,
    notify: (n) => notifications.push(n),
    membershipChanged: (roomId, userId, membership) => memberships.push([roomId, userId, membership]),
    waitForEvents: async () => ({ reason: 'timeout', token: StreamToken.ZERO }),
    historyVisibilityChanged: () => undefined,
    roomsVersion: () => 0,
    currentToken: () => StreamToken.ZERO,
  };
}

function setup(db: Database, initialPosition = 0) {
  const key = generateSigningKey('t1');
  const notifier = recordingNotifier();
  const stream = new StreamIdGenerator({ stream: 'events', initialPosition });
  const writer = new RoomWriter({ db, serverName: SERVER, signingKey: key, notifier, stream, now: Date.now });
  const rooms = new RoomService({ db, writer, serverName: SERVER, now: Date.now });
  const verifyKeys = new Map([[key.keyId, { key: key.publicKey }]]);
  return { key, notifier, stream, writer, rooms, verifyKeys, events: new EventStore(db) };
}

forEachBackend('room writer', (backend) => {
  for (const versionId of ['1', '3', '10', '11', '12']) {
    test(`room version ${versionId}: valid, signed, hashed PDUs chained one after another`, async (t) => {
      const db = await backend.fresh(t);
      const { rooms, events, verifyKeys, stream, notifier } = setup(db);
      const roomId = await rooms.createRoom(ALICE, { room_version: versionId, preset: 'public_chat', name: 'n' });
      const v = getRoomVersion(versionId) as RoomVersion;
      await Promise.all(Array.from({ length: 30 }, (_, i) => rooms.send({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.message', { body: `${i}` }, `t${i}`)));
      const stored = await events.roomEvents(roomId, 'f', 0, 1000);
      assert.equal(stored.length, 7 + 30);
      assert.deepEqual(
        stored.map((e) => e.streamOrdering),
        Array.from({ length: stored.length }, (_, i) => i + 1),
        'contiguous stream orderings',
      );
      assert.equal(stream.position, stored.length);
      let previous: string | undefined;
      for (const [i, e] of stored.entries()) {
        assert.deepEqual(validatePdu(e.pdu, v), { ok: true }, `${e.type} is a valid v${versionId} PDU`);
        assert.ok(checkContentHash(e.pdu, v), 'content hash');
        assert.equal(checkEventSignedBy(e.pdu, v, SERVER, verifyKeys).ok, true, 'signed by this server');
        assert.equal(e.depth, i + 1);
        const prev = (e.pdu['prev_events'] as unknown[]).map((p) => (Array.isArray(p) ? p[0] : p));
        assert.deepEqual(prev, previous === undefined ? [] : [previous]);
        previous = e.eventId;
      }
      const extremities = await events.forwardExtremities(roomId);
      assert.deepEqual(extremities.map((e) => e.eventId), [previous]);
      // Every notification is at or below the final position and the last one reaches it.
      assert.ok(notifier.notifications.length > 0);
      assert.equal(notifier.notifications.at(-1)?.position, stored.length);
      assert.deepEqual(notifier.memberships, [[roomId, ALICE, 'join']]);
    });
  }

  test('state: current state, state at a position and state history agree', async (t) => {
    const db = await backend.fresh(t);
    const { rooms, events } = setup(db);
    const roomId = await rooms.createRoom(ALICE, { preset: 'public_chat' });
    const first = await rooms.sendState({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.topic', '', { topic: 'one' });
    const firstAt = (await events.getEvent(first))?.streamOrdering as number;
    await rooms.join(BOB, roomId);
    await rooms.sendState({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.topic', '', { topic: 'two' });
    const current = await events.currentState(roomId);
    const topic = current.find((e) => e.type === 'm.room.topic');
    assert.equal((topic?.pdu['content'] as Record<string, unknown>)['topic'], 'two');
    const then = await events.stateAt(roomId, firstAt);
    assert.equal((then.find((e) => e.type === 'm.room.topic')?.pdu['content'] as Record<string, unknown>)['topic'], 'one');
    assert.equal(then.some((e) => e.stateKey === BOB), false, 'bob joined later');
    assert.equal(current.some((e) => e.stateKey === BOB), true);
    assert.deepEqual(await events.joinedRooms(BOB), [roomId]);
    // What changed after the first topic: bob's join and the second topic (newest per key, in stream order).
    const changed = await events.stateChangesBetween(roomId, firstAt, await events.maxStreamOrdering());
    assert.deepEqual(changed.map((e) => [e.type, e.stateKey]), [['m.room.member', BOB], ['m.room.topic', '']]);
    assert.deepEqual(await events.stateChangesBetween(roomId, 0, firstAt - 1).then((c) => c.some((e) => e.type === 'm.room.topic')), false);
  });

  test('a rejected event is never stored and does not hold the stream back', async (t) => {
    const db = await backend.fresh(t);
    const { rooms, events, stream } = setup(db);
    const roomId = await rooms.createRoom(ALICE, {});
    const before = stream.position;
    await assert.rejects(
      rooms.send({ userId: BOB, deviceId: 'D' }, roomId, 'm.room.message', { body: 'no' }, 'x'),
      (e: unknown) => e instanceof RoomError && e.errcode === 'M_FORBIDDEN' && /not joined/.test(e.message),
    );
    await assert.rejects(
      rooms.send({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.message', { body: 'x'.repeat(70_000) }, 'big'),
      (e: unknown) => e instanceof RoomError && e.errcode === 'M_TOO_LARGE',
    );
    assert.equal(stream.position, before);
    assert.equal((await events.roomEvents(roomId, 'f', 0, 100)).length, 6);
    const ok = await rooms.send({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.message', { body: 'yes' }, 'y');
    assert.equal((await events.getEvent(ok))?.streamOrdering, before + 1);
  });

  test('the writer resumes from stored positions after a restart', async (t) => {
    const db = await backend.fresh(t);
    const first = setup(db);
    const roomId = await first.rooms.createRoom(ALICE, { preset: 'public_chat' });
    const original = await first.rooms.send({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.message', { body: '1' }, 'a');
    const position = await first.events.maxStreamOrdering();
    const second = setup(db, position);
    const again = await second.rooms.send({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.message', { body: '1' }, 'a');
    const next = await second.rooms.send({ userId: ALICE, deviceId: 'D' }, roomId, 'm.room.message', { body: '2' }, 'b');
    // Above the stored position (the repeated txn may have used up an id on its first, refused, attempt).
    assert.ok(((await second.events.getEvent(next))?.streamOrdering ?? 0) > position);
    assert.equal(second.stream.position, (await second.events.getEvent(next))?.streamOrdering);
    assert.equal((await second.events.roomEvents(roomId, 'f', 0, 100)).filter((e) => e.type === 'm.room.message').length, 2);
    assert.equal(again, original, 'the txn id is remembered across the restart');
  });
});
