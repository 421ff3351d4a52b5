// The room writer builds the requests that arrive while a batch is being stored on top of that batch, and sends
// them the moment it has committed. These tests hold the batch statement at a gate to make that moment explicit:
// what arrives meanwhile is stored as the next batch, chained on the first; a batch that fails takes what was built
// on it back to the queue; a repeated txn id is answered with the event being stored; remote writes are not starved.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import type { Database } from '../../src/storage/database.ts';
import { EventStore } from '../../src/storage/events.ts';
import { RoomService } from '../../src/rooms/service.ts';
import { RoomWriter } from '../../src/rooms/writer.ts';
import { StreamIdGenerator } from '../../src/streams/idGenerator.ts';
import { StreamToken } from '../../src/streams/token.ts';
import type { Notifier } from '../../src/notifier.ts';
import { forEachBackend } from '../helpers/database.ts';

const SERVER = 'pipeline.test';
const ALICE = `@alice:${SERVER}`;
const device = { userId: ALICE, deviceId: 'D' };

const notifier: Notifier = {
  notify: () => undefined,
  membershipChanged: () => undefined,
  waitForEvents: async () => ({ reason: 'timeout', token: StreamToken.ZERO }),
  historyVisibilityChanged: () => undefined,
  roomsVersion: () => 0,
  currentToken: () => StreamToken.ZERO,
};

/** A database whose event batch statements can be held, failed, and are logged with the bodies they store. */
function gated(db: Database) {
  const log: string[] = [];
  let gate: { release: () => void; fail: (error: Error) => void; promise: Promise<void> } | null = null;
  let arrivedAtGate: () => void = () => undefined;
  const wrapper: Database = {
    kind: db.kind,
    async query<Row>(sql: string, params?: readonly unknown[]) {
      if (sql.includes('INSERT INTO events (stream_ordering')) {
        const pdus = (params ?? []).find((v): v is string[] => Array.isArray(v) && typeof v[0] === 'string' && v[0].startsWith('{')) ?? [];
        const label = (pdu: string) => {
          const content = (JSON.parse(pdu) as { content: { body?: string; topic?: string } }).content;
          return content.body ?? content.topic ?? '?';
        };
        log.push(pdus.map(label).join('+'));
        const held = gate;
        if (held) {
          gate = null;
          arrivedAtGate();
          await held.promise;
        }
      }
      return db.query<Row>(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    listen: (channel, onNotify) => db.listen(channel, onNotify),
    close: () => db.close(),
  };
  return {
    db: wrapper,
    log,
    /** Holds the next batch statement; resolves once it has reached the gate. */
    hold(): { reached: Promise<void>; release: () => void; fail: (error: Error) => void } {
      let release!: () => void;
      let fail!: (error: Error) => void;
      const promise = new Promise<void>((resolve, reject) => {
        release = resolve;
        fail = reject;
      });
      gate = { release, fail, promise };
      const reached = new Promise<void>((resolve) => (arrivedAtGate = resolve));
      return { reached, release, fail };
    },
  };
}

async function setup(db: Database) {
  const g = gated(db);
  const stream = new StreamIdGenerator({ stream: 'events', initialPosition: 0 });
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const writer = new RoomWriter({ db: g.db, serverName: SERVER, signingKey: generateSigningKey('t1'), notifier, stream, now });
  const rooms = new RoomService({ db: g.db, writer, serverName: SERVER, now });
  const roomId = await rooms.createRoom(ALICE, { preset: 'public_chat' });
  g.log.length = 0;
  const send = (body: string, txnId = body) => rooms.send(device, roomId, 'm.room.message', { body }, txnId);
  return { ...g, clock, writer, rooms, roomId, send, events: new EventStore(db), stream };
}

/** Lets the writer's promise callbacks and the requests' turns run. */
const turns = () => new Promise((resolve) => setTimeout(resolve, 20));

forEachBackend('room writer pipeline', (backend) => {
  test('what arrives while a batch commits is built on top of it and stored as the next batch', async (t) => {
    const db = await backend.fresh(t);
    const { rooms, roomId, send, hold, log, events, clock } = await setup(db);
    const before = (await events.forwardExtremities(roomId))[0]?.eventId;
    const gate = hold();
    const first = rooms.sendState(device, roomId, 'm.room.topic', '', { topic: 'one' });
    await gate.reached;
    const second = send('two');
    const third = rooms.sendState(device, roomId, 'm.room.topic', '', { topic: 'three' });
    await turns();
    clock.now = 2_000_000;
    gate.release();
    const ids = await Promise.all([first, second, third]);
    assert.deepEqual(log, ['one', 'two+three'], 'the two that came during the first commit went together, after it');
    const stored = await Promise.all(ids.map(async (id) => (await events.getEvent(id))?.pdu));
    assert.deepEqual(stored.map((p) => p?.['prev_events']), [[before], [ids[0]], [ids[1]]], 'chained one after another');
    assert.deepEqual(stored.map((p) => p?.['origin_server_ts']), [1_000_000, 1_000_000, 1_000_000], 'all built before the first committed');
    assert.deepEqual((await events.forwardExtremities(roomId)).map((e) => e.eventId), [ids[2]]);
    const topic = (await events.currentState(roomId)).find((e) => e.type === 'm.room.topic');
    assert.equal(topic?.eventId, ids[2]);
    // The second topic replaced the first, which was not yet committed when the second was built.
    const { rows } = await db.query<{ prev_event_id: string | null }>('SELECT prev_event_id FROM state_history WHERE event_id = $1', [ids[2]]);
    assert.deepEqual(rows, [{ prev_event_id: ids[0] }]);
  });

  test('a batch that fails takes what was built on it back to the queue, which is stored on what was committed', async (t) => {
    const { roomId, send, hold, log, events, stream } = await setup(await backend.fresh(t));
    const before = (await events.forwardExtremities(roomId))[0]?.eventId;
    const gate = hold();
    const failing = send('lost');
    await gate.reached;
    const later = [send('a'), send('b')];
    await turns();
    gate.fail(Object.assign(new Error('connection lost'), { code: undefined }));
    await assert.rejects(failing, /connection lost/);
    const [a, b] = await Promise.all(later);
    assert.deepEqual(log, ['lost', 'a+b'], 'built on the failed batch but never sent; built again and stored');
    const pa = (await events.getEvent(a as string))?.pdu;
    const pb = (await events.getEvent(b as string))?.pdu;
    assert.deepEqual(pa?.['prev_events'], [before], 'chained on what was committed, not on the lost event');
    assert.deepEqual(pb?.['prev_events'], [a]);
    assert.deepEqual((await events.forwardExtremities(roomId)).map((e) => e.eventId), [b]);
    assert.equal((await events.roomEvents(roomId, 'f', 0, 100)).filter((e) => e.type === 'm.room.message').length, 2);
    assert.equal(stream.position, await events.maxStreamOrdering(), 'the failed batch does not hold the stream back');
  });

  test('a txn id repeated while its batch commits is answered with the same event', async (t) => {
    const { roomId, send, hold, events } = await setup(await backend.fresh(t));
    const gate = hold();
    const first = send('once', 'txn-1');
    await gate.reached;
    const again = send('once again', 'txn-1');
    const other = send('other', 'txn-2');
    await turns();
    gate.release();
    const [id1, id2, id3] = await Promise.all([first, again, other]);
    assert.equal(id2, id1);
    assert.notEqual(id3, id1);
    const bodies = (await events.roomEvents(roomId, 'f', 0, 100)).filter((e) => e.type === 'm.room.message').map((e) => (e.pdu['content'] as { body: string }).body);
    assert.deepEqual(bodies, ['once', 'other']);
  });

  test('remote writes waiting stop the building ahead, so local sends cannot starve them', async (t) => {
    const { writer, roomId, send, hold, log } = await setup(await backend.fresh(t));
    const gate = hold();
    const first = send('1');
    await gate.reached;
    const second = send('2');
    await turns();
    const remote = writer.submitRemote(roomId, async () => {
      log.push('remote');
    });
    const third = send('3');
    await turns();
    gate.release();
    await Promise.all([first, second, remote, third]);
    assert.deepEqual(log, ['1', '2', 'remote', '3']);
  });
});
