// Statements with parameters are kept prepared per PostgreSQL connection, one name per SQL text (PGlite has no such
// thing): they answer like unnamed ones, with other parameters, in and out of transactions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../helpers/database.ts';

forEachBackend('prepared statements', (b) => {
  test('a prepared statement answers like an unnamed one, run again with other parameters, in and out of transactions', async (t) => {
    const db = await b.fresh(t);
    const sql = 'SELECT $1::int + $2::int AS n';
    for (const [x, y] of [[1, 2], [40, 2], [-5, 5]] as const) {
      const { rows } = await db.query<{ n: number }>(sql, [x, y]);
      assert.deepEqual(rows, [{ n: x + y }]);
    }
    const names = await db.transaction(async (tx) => {
      assert.deepEqual((await tx.query<{ n: number }>(sql, [3, 4])).rows, [{ n: 7 }]);
      assert.deepEqual((await tx.query<{ n: number }>(sql, [5, 6])).rows, [{ n: 11 }]);
      return (await tx.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements')).rows.map((r) => r.statement);
    });
    if (b.name === 'postgres') assert.ok(names.includes(sql), JSON.stringify(names));
    // An error from a prepared statement is the database's, as for any other statement.
    await assert.rejects(db.query('SELECT 1 / $1::int', [0]), (e: { code?: string }) => e.code === '22012');
    assert.deepEqual((await db.query('SELECT 1 / $1::int AS q', [1])).rows, [{ q: 1 }]);
  });
});

forEachBackend('statements kept prepared without a name given', (b) => {
  test('on PostgreSQL a statement with parameters is prepared once per text; one without parameters is not', async (t) => {
    const db = await b.fresh(t);
    const prepared = await db.transaction(async (tx) => {
      for (const x of [1, 2, 3]) assert.deepEqual((await tx.query<{ n: number }>('SELECT $1::int * 2 AS n', [x])).rows, [{ n: x * 2 }]);
      assert.deepEqual((await tx.query<{ n: number }>('SELECT $1::int * 3 AS n', [1])).rows, [{ n: 3 }]);
      assert.deepEqual((await tx.query<{ n: number }>('SELECT 7 AS n')).rows, [{ n: 7 }]);
      return (await tx.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements ORDER BY prepare_time')).rows.map((r) => r.statement);
    });
    if (b.name !== 'postgres') return;
    assert.equal(prepared.filter((s) => s === 'SELECT $1::int * 2 AS n').length, 1, JSON.stringify(prepared));
    assert.equal(prepared.filter((s) => s === 'SELECT $1::int * 3 AS n').length, 1);
    assert.equal(prepared.includes('SELECT 7 AS n'), false);
    // A failing prepared statement leaves the name usable.
    await assert.rejects(db.query('SELECT 1 / $1::int AS q', [0]), (e: { code?: string }) => e.code === '22012');
    assert.deepEqual((await db.query('SELECT 1 / $1::int AS q', [1])).rows, [{ q: 1 }]);
  });
});
