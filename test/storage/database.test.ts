import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../../src/storage/database.ts';
import { databaseErrorCode, DatabaseUsageError, isUniqueViolation, UNIQUE_VIOLATION } from '../../src/storage/errors.ts';
import { openPostgres } from '../../src/storage/postgres.ts';
import { backend, forEachBackend, freshDatabase, testBackends } from '../helpers/database.ts';

/** A promise with its resolve function, to wait for a callback without timers. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets already-queued work (microtasks, I/O callbacks, immediates) run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Resolves with the next `count` payloads heard on channel. */
async function collect(db: Database, channel: string, count: number): Promise<{ heard: Promise<string[]>; stop: () => Promise<void> }> {
  const payloads: string[] = [];
  const done = deferred<string[]>();
  const stop = await db.listen(channel, (payload) => {
    payloads.push(payload);
    if (payloads.length === count) done.resolve([...payloads]);
  });
  return { heard: done.promise, stop };
}

forEachBackend('Database', (b) => {
  test('query returns rows and rowCount for SELECT, INSERT, UPDATE and DDL', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    assert.deepEqual((await db.query('CREATE TABLE t (id int PRIMARY KEY, v text)')).rowCount, 0);
    const inserted = await db.query('INSERT INTO t (id, v) VALUES (1, $1), (2, $2), (3, $3)', ['a', 'b', 'c']);
    assert.equal(inserted.rowCount, 3);
    assert.deepEqual(inserted.rows, []);
    const selected = await db.query<{ id: number; v: string }>('SELECT id, v FROM t WHERE id >= $1 ORDER BY id', [2]);
    assert.deepEqual(selected.rows, [
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
    ]);
    assert.equal(selected.rowCount, 2);
    assert.equal((await db.query('UPDATE t SET v = $1 WHERE id > 1', ['z'])).rowCount, 2);
    assert.equal((await db.query('UPDATE t SET v = $1 WHERE id > 10', ['z'])).rowCount, 0);
    const returning = await db.query('DELETE FROM t WHERE id = 1 RETURNING id');
    assert.deepEqual(returning.rows, [{ id: 1 }]);
    assert.equal(returning.rowCount, 1);
  });

  test('values round-trip identically: int8 as number, boolean, json, jsonb, bytea as Buffer, numeric as string', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query(`CREATE TABLE v (
      i8 bigint, i4 integer, flag boolean, j json, jb jsonb, bytes bytea, num numeric, txt text, ts timestamptz,
      i8s bigint[], txts text[])`);
    const bytes = Buffer.from([0, 1, 2, 127, 128, 255]);
    const when = new Date('2026-01-02T03:04:05.678Z');
    await db.query('INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)', [
      1_700_000_000_123,
      -7,
      true,
      { a: 1, nested: { b: [1, 'two', null] } },
      JSON.stringify([1, { c: 'd' }]),
      bytes,
      '12345678901234567890.5',
      'héllo \u{1F600}',
      when,
      [1, 9_007_199_254_740_991],
      ['x', 'y'],
    ]);
    await db.query('INSERT INTO v (i8, flag, bytes) VALUES ($1, $2, $3)', [42n, false, new Uint8Array([9, 8])]);
    const { rows } = await db.query('SELECT * FROM v ORDER BY i8 DESC');
    assert.deepEqual(rows[0], {
      i8: 1_700_000_000_123,
      i4: -7,
      flag: true,
      j: { a: 1, nested: { b: [1, 'two', null] } },
      jb: [1, { c: 'd' }],
      bytes,
      num: '12345678901234567890.5',
      txt: 'héllo \u{1F600}',
      ts: when,
      i8s: [1, 9_007_199_254_740_991],
      txts: ['x', 'y'],
    });
    const second = rows[1] as Record<string, unknown>;
    assert.equal(second['i8'], 42);
    assert.equal(second['flag'], false);
    assert.ok(Buffer.isBuffer(second['bytes']), 'bytea is a Buffer on both backends');
    assert.deepEqual(second['bytes'], Buffer.from([9, 8]));
    assert.equal(second['j'], null);

    const { rows: counted } = await db.query<{ n: unknown; s: unknown }>('SELECT count(*) AS n, sum(i4) AS s FROM v');
    assert.deepEqual(counted, [{ n: 2, s: -7 }], 'count(*) and sum(int4) are int8: numbers');
    const { rows: inList } = await db.query('SELECT i8 FROM v WHERE i8 = ANY($1::bigint[]) ORDER BY i8', [[42, 1]]);
    assert.deepEqual(inList, [{ i8: 42 }]);
  });

  test('an int8 beyond the safe integer range throws instead of losing precision', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    assert.deepEqual((await db.query('SELECT 9007199254740991::int8 AS v')).rows, [{ v: Number.MAX_SAFE_INTEGER }]);
    await assert.rejects(db.query('SELECT 9007199254740993::int8 AS v'), RangeError);
    // The database is still usable afterwards.
    assert.deepEqual((await db.query('SELECT 1::int8 AS v')).rows, [{ v: 1 }]);
  });

  test('database errors pass through with their SQLSTATE', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query('CREATE TABLE u (id text PRIMARY KEY)');
    await db.query('INSERT INTO u VALUES ($1)', ['a']);
    const err = await db.query('INSERT INTO u VALUES ($1)', ['a']).then(
      () => assert.fail('duplicate insert succeeded'),
      (e: unknown) => e,
    );
    assert.equal(databaseErrorCode(err), UNIQUE_VIOLATION);
    assert.ok(isUniqueViolation(err));
    assert.equal((err as { constraint?: string }).constraint, 'u_pkey');
    const syntax = await db.query('SELEC 1').then(
      () => assert.fail('bad SQL succeeded'),
      (e: unknown) => e,
    );
    assert.equal(databaseErrorCode(syntax), '42601');
    assert.equal(isUniqueViolation(syntax), false);
    assert.equal(databaseErrorCode(new Error('plain')), undefined);
  });

  test('a transaction commits when its callback resolves and returns its value', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query('CREATE TABLE t (id int PRIMARY KEY)');
    const result = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (1), (2)');
      const { rows } = await tx.query<{ n: number }>('SELECT count(*) AS n FROM t');
      return rows[0]?.n;
    });
    assert.equal(result, 2);
    assert.deepEqual((await db.query('SELECT id FROM t ORDER BY id')).rows, [{ id: 1 }, { id: 2 }]);
  });

  test('a transaction rolls back when its callback throws, and the error comes through unchanged', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query('CREATE TABLE t (id int PRIMARY KEY)');
    const boom = new Error('boom');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        throw boom;
      }),
      (err) => err === boom,
    );
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (2)');
        await tx.query('INSERT INTO t VALUES (2)');
      }),
      (err) => isUniqueViolation(err),
    );
    assert.deepEqual((await db.query('SELECT id FROM t')).rows, []);
  });

  test('a transaction whose failed statement was swallowed is rolled back and rejects with 25P02', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query('CREATE TABLE t (id int PRIMARY KEY)');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        await tx.query('INSERT INTO t VALUES (1)').catch(() => undefined);
        return 'looks fine';
      }),
      (err) => databaseErrorCode(err) === '25P02',
    );
    assert.deepEqual((await db.query('SELECT id FROM t')).rows, []);
  });

  test('exec runs a multi-statement script inside a transaction', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.transaction((tx) => tx.exec('CREATE TABLE a (x int); CREATE TABLE b (y int); INSERT INTO a VALUES (5);'));
    assert.deepEqual((await db.query('SELECT x FROM a')).rows, [{ x: 5 }]);
    await assert.rejects(db.transaction((tx) => tx.exec('CREATE TABLE c (z int); SELEC 1;')));
    assert.deepEqual((await db.query(`SELECT to_regclass('c') IS NULL AS gone`)).rows, [{ gone: true }]);
  });

  test('using the Database (not tx) inside its own transaction throws instead of deadlocking', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await assert.rejects(
      db.transaction(async () => {
        await db.query('SELECT 1');
      }),
      DatabaseUsageError,
    );
    await assert.rejects(
      db.transaction(() => db.transaction(async () => undefined)),
      DatabaseUsageError,
    );
    await assert.rejects(
      db.transaction(() => db.listen('chan', () => undefined)),
      DatabaseUsageError,
    );
    // Work a transaction left behind may use the Database once that transaction has ended.
    const later = deferred<Promise<unknown>>();
    const ended = deferred();
    await db.transaction(async () => {
      void ended.promise.then(() => later.resolve(db.query('SELECT 2 AS two')));
    });
    ended.resolve();
    assert.deepEqual((await (await later.promise) as { rows: unknown[] }).rows, [{ two: 2 }]);
    // Outside any transaction the Database is usable again.
    assert.deepEqual((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  });

  test('a transaction handle cannot be used after its transaction ended', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    let kept: Parameters<Parameters<Database['transaction']>[0]>[0] | undefined;
    await db.transaction(async (tx) => {
      kept = tx;
    });
    assert.ok(kept);
    await assert.rejects(kept.query('SELECT 1'), DatabaseUsageError);
  });

  test('concurrent transactions each commit or roll back on their own', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query('CREATE TABLE t (id int PRIMARY KEY)');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES ($1)', [i]);
          await turn();
          if (i % 2 === 1) throw new Error(`odd ${i}`);
          await tx.query('INSERT INTO t VALUES ($1)', [100 + i]);
        }),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      Array.from({ length: 10 }, (_, i) => (i % 2 === 1 ? 'rejected' : 'fulfilled')),
    );
    const { rows } = await db.query<{ id: number }>('SELECT id FROM t ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r.id),
      [0, 2, 4, 6, 8, 100, 102, 104, 106, 108],
    );
  });

  test('LISTEN/NOTIFY delivers payloads, from a query and from a committed transaction, in order', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const { heard, stop } = await collect(db, 'stream_events', 3);
    await db.query('SELECT pg_notify($1, $2)', ['stream_events', 'one']);
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_notify($1, $2)', ['stream_events', 'two']);
      await tx.query('SELECT pg_notify($1, $2)', ['stream_events', 'three']);
    });
    assert.deepEqual(await heard, ['one', 'two', 'three']);
    await stop();
  });

  test('a notification sent in a rolled-back transaction is never delivered', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    const { heard, stop } = await collect(db, 'chan', 1);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`SELECT pg_notify('chan', 'rolled back')`);
        throw new Error('abort');
      }),
    );
    await db.query(`SELECT pg_notify('chan', 'committed')`);
    assert.deepEqual(await heard, ['committed']);
    await stop();
  });

  test('unlisten stops one registration and leaves the others; listeners may use the database', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    await db.query('CREATE TABLE seen (payload text)');
    const first: string[] = [];
    const stopFirst = await db.listen('chan', (p) => first.push(p));
    const stored = deferred();
    const stopSecond = await db.listen('chan', (p) => {
      // Runs outside the notifying transaction, so using the Database here is allowed.
      void db.query('INSERT INTO seen VALUES ($1)', [p]).then(() => stored.resolve());
    });
    await stopFirst();
    await stopFirst(); // a second call is harmless
    await db.transaction((tx) => tx.query(`SELECT pg_notify('chan', 'hello')`));
    await stored.promise;
    await turn();
    assert.deepEqual(first, []);
    assert.deepEqual((await db.query('SELECT payload FROM seen')).rows, [{ payload: 'hello' }]);
    await stopSecond();
  });

  test('listen refuses channel names that are not lowercase identifiers', async (t) => {
    const db = await b.fresh(t, { migrate: false });
    for (const bad of ['', 'Upper', 'has space', 'semi;colon', '1digit', 'x'.repeat(64), 'a"b']) {
      await assert.rejects(db.listen(bad, () => undefined), DatabaseUsageError, bad);
    }
  });

  test('close makes further queries fail', async () => {
    const created = await b.create({ migrate: false });
    await created.close();
    await assert.rejects(created.db.query('SELECT 1'));
  });
});

test('PGlite: a query from another caller waits for an open transaction instead of running inside it', async (t) => {
  const db = await freshDatabase(t, 'pglite', { migrate: false });
  await db.query('CREATE TABLE t (id int)');
  const order: string[] = [];
  const started = deferred();
  const release = deferred();
  const tx = db.transaction(async (q) => {
    await q.query('INSERT INTO t VALUES (1)');
    started.resolve();
    await release.promise;
    await q.query('INSERT INTO t VALUES (2)');
    order.push('transaction done');
  });
  await started.promise;
  const outside = db.query<{ n: number }>('SELECT count(*) AS n FROM t').then((r) => {
    order.push('outside query');
    return r.rows[0]?.n;
  });
  // Give the outside query every chance to run now, were it not queued behind the transaction.
  for (let i = 0; i < 20; i++) await turn();
  assert.deepEqual(order, []);
  release.resolve();
  await tx;
  assert.equal(await outside, 2, 'the outside query saw the committed transaction, not half of it');
  assert.deepEqual(order, ['transaction done', 'outside query']);
});

test('PGlite: concurrent read-modify-write transactions never interleave', async (t) => {
  const db = await freshDatabase(t, 'pglite', { migrate: false });
  await db.query('CREATE TABLE counter (n int)');
  await db.query('INSERT INTO counter VALUES (0)');
  const active = { now: 0, most: 0 };
  await Promise.all(
    Array.from({ length: 25 }, () =>
      db.transaction(async (tx) => {
        active.now++;
        active.most = Math.max(active.most, active.now);
        const { rows } = await tx.query<{ n: number }>('SELECT n FROM counter');
        await turn();
        await tx.query('UPDATE counter SET n = $1', [(rows[0]?.n ?? 0) + 1]);
        active.now--;
      }),
    ),
  );
  assert.equal(active.most, 1);
  assert.deepEqual((await db.query('SELECT n FROM counter')).rows, [{ n: 25 }]);
});

if (testBackends().includes('postgres')) {
  test('PostgreSQL: the LISTEN connection reconnects and re-listens after the server drops it', async (t) => {
    const created = await backend('postgres').create({ migrate: false });
    t.after(() => created.close());
    assert.ok(created.url);
    const db = await openPostgres({ url: created.url, listenReconnectDelayMs: 5, allowExitOnIdle: true });
    t.after(() => db.close());
    const heard: string[] = [];
    let wake = deferred();
    await db.listen('chan', (p) => {
      heard.push(p);
      wake.resolve();
    });
    await db.query(`SELECT pg_notify('chan', 'before')`);
    await wake.promise;
    const { rows } = await created.db.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
    );
    assert.deepEqual(rows, [{ killed: true }]);
    // Keep notifying until the re-established LISTEN hears one (notifications sent while it is down are lost).
    for (let i = 0; !heard.some((p) => p.startsWith('after')); i++) {
      assert.ok(i < 2000, 'the LISTEN connection never came back');
      wake = deferred();
      await db.query('SELECT pg_notify($1, $2)', ['chan', `after ${i}`]);
      await Promise.race([wake.promise, new Promise((r) => setTimeout(r, 10))]);
    }
    assert.equal(heard[0], 'before');
  });
}

if (testBackends().includes('postgres')) {
  test('PostgreSQL: a transaction whose connection dies rejects, and the pool keeps working', async (t) => {
    const created = await backend('postgres').create({ migrate: false });
    t.after(() => created.close());
    assert.ok(created.url);
    const db = await openPostgres({ url: created.url, max: 1, allowExitOnIdle: true });
    t.after(() => db.close());
    await assert.rejects(
      db.transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await created.db.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
        await tx.query('SELECT 1');
      }),
    );
    // With one connection in the pool, this only works if the dead one was discarded.
    assert.deepEqual((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    assert.equal(await db.transaction(async (tx) => (await tx.query('SELECT 2 AS two')).rows[0]?.['two']), 2);
  });
}
