// The access-token cache of PostgresDeviceStore: hits spare the database, and every revocation is seen at once,
// including one made by a transaction that is still open while the token is looked up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database, Queryable } from '../../src/storage/database.ts';
import { PostgresDeviceStore, revokeCachedTokens } from '../../src/storage/devices.ts';
import { openPostgres } from '../../src/storage/postgres.ts';
import { forEachBackend } from '../helpers/database.ts';

const ALICE = '@alice:example.org';

/** The database with a count of the statements sent through this handle. */
function counting(db: Database): { handle: Queryable; count(): number } {
  let n = 0;
  return {
    handle: {
      query: (sql, params) => {
        n++;
        return db.query(sql, params);
      },
    },
    count: () => n,
  };
}

async function seed(db: Database, devices: string[]): Promise<Buffer[]> {
  await db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, null, false, 1)', [ALICE]);
  const store = new PostgresDeviceStore(db);
  const hashes: Buffer[] = [];
  for (const [i, device] of devices.entries()) {
    await store.upsertDevice(ALICE, device, null, 1);
    const hash = Buffer.alloc(32, i + 1);
    await store.addAccessToken(hash, ALICE, device, 1);
    hashes.push(hash);
  }
  return hashes;
}

forEachBackend('DeviceStore token cache', (b) => {
  test('a second lookup of a token is answered from memory; an unknown token is asked every time', async (t) => {
    const db = await b.fresh(t);
    const [token] = (await seed(db, ['D1'])) as [Buffer];
    const { handle, count } = counting(db);
    const store = new PostgresDeviceStore(handle);
    const owner = { userId: ALICE, deviceId: 'D1', validUntilTs: null, deactivated: false };
    assert.deepEqual(await store.findTokenOwner(token), owner);
    assert.deepEqual(await store.findTokenOwner(Buffer.from(token)), owner);
    assert.equal(count(), 1);
    assert.equal(await store.findTokenOwner(Buffer.alloc(32, 99)), null);
    assert.equal(await store.findTokenOwner(Buffer.alloc(32, 99)), null);
    assert.equal(count(), 3);
  });

  test('deleting a token, a device, other devices or a device\'s other tokens refuses the cached token at once', async (t) => {
    const db = await b.fresh(t);
    const [t1, t2, t3, t4] = (await seed(db, ['D1', 'D2', 'D3', 'D4'])) as [Buffer, Buffer, Buffer, Buffer];
    const store = new PostgresDeviceStore(db);
    const extra = Buffer.alloc(32, 50);
    await store.addAccessToken(extra, ALICE, 'D4', 1);
    for (const token of [t1, t2, t3, t4, extra]) assert.notEqual(await store.findTokenOwner(token), null);

    await new PostgresDeviceStore(db).deleteAccessToken(t1);
    assert.equal(await store.findTokenOwner(t1), null);
    await new PostgresDeviceStore(db).deleteDevices(ALICE, ['D2']);
    assert.equal(await store.findTokenOwner(t2), null);
    await new PostgresDeviceStore(db).deleteDeviceTokens(ALICE, 'D4', t4);
    assert.equal(await store.findTokenOwner(extra), null);
    assert.notEqual(await store.findTokenOwner(t4), null);
    await new PostgresDeviceStore(db).deleteOtherDevices(ALICE, 'D4');
    assert.equal(await store.findTokenOwner(t3), null);
    assert.notEqual(await store.findTokenOwner(t4), null);
    await new PostgresDeviceStore(db).deleteDevices(ALICE);
    assert.equal(await store.findTokenOwner(t4), null);
  });

  test('a revocation inside a transaction: refused once committed, still valid after a rollback', async (t) => {
    const db = await b.fresh(t);
    const [t1, t2] = (await seed(db, ['D1', 'D2'])) as [Buffer, Buffer];
    const store = new PostgresDeviceStore(db);
    assert.notEqual(await store.findTokenOwner(t1), null);
    assert.notEqual(await store.findTokenOwner(t2), null);
    await assert.rejects(
      db.transaction(async (tx) => {
        await new PostgresDeviceStore(tx).deleteDevices(ALICE, ['D2']);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.notEqual(await store.findTokenOwner(t2), null);
    await db.transaction(async (tx) => {
      await new PostgresDeviceStore(tx).deleteDevices(ALICE, ['D1']);
      await tx.query('UPDATE users SET deactivated = true WHERE user_id = $1', [ALICE]);
    });
    assert.equal(await store.findTokenOwner(t1), null);
    // The deactivation flag is read with the token, so a token of a deactivated user is never served from memory.
    assert.equal((await store.findTokenOwner(t2))?.deactivated, true);
    assert.equal((await store.findTokenOwner(t2))?.deactivated, true);
  });

  if (b.name === 'postgres') {
    test('a lookup made while a revoking transaction is open waits for it and does not cache the token', async (t) => {
      const created = await b.create();
      const db = created.db;
      // The revoking transaction and the lookup on two handles, as two requests of a server would be.
      const other = await openPostgres({ url: created.url ?? '' });
      t.after(async () => {
        await other.close();
        await created.close();
      });
      const [token] = (await seed(db, ['D1'])) as [Buffer];
      const store = new PostgresDeviceStore(other);
      assert.notEqual(await store.findTokenOwner(token), null);
      let lookup: Promise<unknown> | undefined;
      await db.transaction(async (tx) => {
        await new PostgresDeviceStore(tx).deleteAccessToken(token);
        // Another connection looks the token up before the commit: it must not find (or cache) the old row.
        lookup = store.findTokenOwner(token);
        const settled = await Promise.race([lookup.then(() => 'answered'), new Promise((r) => setTimeout(r, 200, 'waiting'))]);
        assert.equal(settled, 'waiting');
      });
      assert.equal(await lookup, null);
      assert.equal(await store.findTokenOwner(token), null);
    });
  }

  test("revoking one user's token keeps other users' tokens cached", async (t) => {
    const db = await b.fresh(t);
    const [aliceToken] = (await seed(db, ['D1'])) as [Buffer];
    await db.query("INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ('@bob:example.org', null, false, 1)");
    const bobToken = Buffer.alloc(32, 77);
    await new PostgresDeviceStore(db).upsertDevice('@bob:example.org', 'B1', null, 1);
    await new PostgresDeviceStore(db).addAccessToken(bobToken, '@bob:example.org', 'B1', 1);
    const { handle, count } = counting(db);
    const store = new PostgresDeviceStore(handle);
    await store.findTokenOwner(aliceToken);
    await store.findTokenOwner(bobToken);
    assert.equal(count(), 2);
    await new PostgresDeviceStore(db).deleteAccessToken(aliceToken);
    assert.equal(await store.findTokenOwner(aliceToken), null);
    assert.equal((await store.findTokenOwner(bobToken))?.userId, '@bob:example.org');
    assert.equal(count(), 3);
  });

  test('a lookup that was in flight when the cache was emptied does not fill it', async (t) => {
    const db = await b.fresh(t);
    const [token] = (await seed(db, ['D1'])) as [Buffer];
    const { handle, count } = counting(db);
    const store = new PostgresDeviceStore(handle);
    const inFlight = store.findTokenOwner(token);
    revokeCachedTokens();
    assert.notEqual(await inFlight, null);
    await store.findTokenOwner(token);
    assert.equal(count(), 2);
    await store.findTokenOwner(token);
    assert.equal(count(), 2);
  });
});
