// The application services' stored ephemeral positions (migrations/0015): where new services start, how streams a
// service is not sent are moved at boot, how completing a transaction moves them (in the statement that deletes
// it), and reading to-device messages after a position inside one send.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PostgresAppserviceStore } from '../../src/storage/appservices.ts';
import type { Database } from '../../src/storage/database.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { forEachBackend, MIGRATIONS_DIR } from '../helpers/database.ts';

async function addToDevice(db: Database, streamId: number, targets: readonly [string, string][]): Promise<void> {
  for (const [userId, deviceId] of targets) {
    await db.query(
      `INSERT INTO to_device_messages (user_id, device_id, stream_id, sender, type, content) VALUES ($1, $2, $3, '@s:hs', 'm.x', $4)`,
      [userId, deviceId, streamId, { streamId }],
    );
  }
}

forEachBackend('appservice store', (backend) => {
  test('migration 0015 starts services stored before it at the streams\' current positions', async (t) => {
    const db = await backend.fresh(t, { migrate: false });
    const before = await mkdtemp(path.join(tmpdir(), 'troupe-before-0015-'));
    t.after(() => rm(before, { recursive: true, force: true }));
    for (const name of await readdir(MIGRATIONS_DIR)) {
      if (/^\d{4}_.*\.sql$/.test(name) && Number(name.slice(0, 4)) < 15) await copyFile(path.join(MIGRATIONS_DIR, name), path.join(before, name));
    }
    await migrate(db, { migrationsDir: before });
    await db.query("INSERT INTO appservice_state (service_id, stream_position) VALUES ('old', 12)");
    await addToDevice(db, 9, [['@u:hs', 'D']]);
    await db.query(
      `INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, event_stream_ordering, ts, stream_id)
       VALUES ('!r:hs', 'm.read', '@u:hs', '', '$e', 1, 1, 4)`,
    );
    await migrate(db, { migrationsDir: MIGRATIONS_DIR });
    const store = new PostgresAppserviceStore(db);
    assert.deepEqual(await store.nextWork('old'), {
      position: 12,
      ephemeral: { receipts: 4, presence: 0, toDevice: { streamId: 9, after: null } },
      oldest: null,
    });
  });

  test('new services start at the given positions; streams a service is not sent move to the current ones at boot', async (t) => {
    const store = new PostgresAppserviceStore(await backend.fresh(t));
    const services = [
      { serviceId: 'all', ephemeral: true, toDevice: true },
      { serviceId: 'none', ephemeral: false, toDevice: false },
    ];
    await store.ensureServices(services, 10, { receipts: 3, presence: 4, toDevice: 5 });
    assert.deepEqual((await store.nextWork('all'))?.ephemeral, { receipts: 3, presence: 4, toDevice: { streamId: 5, after: null } });
    // A later boot: the rows exist; only the streams a service is not sent move on.
    await store.ensureServices(services, 20, { receipts: 30, presence: 40, toDevice: 50 });
    assert.deepEqual(await store.nextWork('all'), { position: 10, ephemeral: { receipts: 3, presence: 4, toDevice: { streamId: 5, after: null } }, oldest: null });
    assert.deepEqual((await store.nextWork('none'))?.ephemeral, { receipts: 30, presence: 40, toDevice: { streamId: 50, after: null } });
  });

  test('completing a transaction moves the positions stored with it; advancing moves only those given', async (t) => {
    const store = new PostgresAppserviceStore(await backend.fresh(t));
    await store.ensureServices([{ serviceId: 'a', ephemeral: true, toDevice: true }], 0, { receipts: 0, presence: 0, toDevice: 0 });
    const txnId = await store.storeTransaction('a', {
      contents: '{}',
      toPosition: 8,
      eventCount: 1,
      createdTs: 1,
      ephemeralTo: { receipts: 2, toDevice: { streamId: 6, after: { userId: '@u:hs', deviceId: 'D' } } },
    });
    // Stored, not acknowledged: nothing moved yet.
    assert.deepEqual((await store.nextWork('a'))?.ephemeral, { receipts: 0, presence: 0, toDevice: { streamId: 0, after: null } });
    await store.completeTransaction('a', txnId, 8);
    assert.deepEqual(await store.nextWork('a'), {
      position: 8,
      ephemeral: { receipts: 2, presence: 0, toDevice: { streamId: 6, after: { userId: '@u:hs', deviceId: 'D' } } },
      oldest: null,
    });
    // Completing it again (a resend answered twice) moves nothing back.
    await store.completeTransaction('a', txnId, 3);
    assert.equal((await store.nextWork('a'))?.position, 8);
    await store.advancePosition('a', 9, { presence: 5, toDevice: { streamId: 7, after: null } });
    assert.deepEqual(await store.nextWork('a'), {
      position: 9,
      ephemeral: { receipts: 2, presence: 5, toDevice: { streamId: 7, after: null } },
      oldest: null,
    });
  });

  test('to-device messages are read after a message inside a send, in (stream id, user, device) order', async (t) => {
    const db = await backend.fresh(t);
    const store = new PostgresAppserviceStore(db);
    await addToDevice(db, 1, [['@b:hs', 'D2'], ['@a:hs', 'D1'], ['@b:hs', 'D1']]);
    await addToDevice(db, 2, [['@a:hs', 'D1']]);
    await addToDevice(db, 3, [['@a:hs', 'D1']]);
    const keys = (rows: { streamId: number; userId: string; deviceId: string }[]) => rows.map((r) => `${r.streamId} ${r.userId} ${r.deviceId}`);
    assert.deepEqual(keys(await store.toDeviceBetween({ streamId: 0, after: null }, 2, 10)), ['1 @a:hs D1', '1 @b:hs D1', '1 @b:hs D2', '2 @a:hs D1']);
    assert.deepEqual(keys(await store.toDeviceBetween({ streamId: 1, after: { userId: '@b:hs', deviceId: 'D1' } }, 3, 10)), [
      '1 @b:hs D2',
      '2 @a:hs D1',
      '3 @a:hs D1',
    ]);
    assert.deepEqual(keys(await store.toDeviceBetween({ streamId: 1, after: null }, 3, 1)), ['2 @a:hs D1']);
    assert.deepEqual(await store.toDeviceBetween({ streamId: 3, after: null }, 3, 10), []);
  });
});
