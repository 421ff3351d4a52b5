import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUniqueViolation } from '../../src/storage/errors.ts';
import { PostgresUserStore } from '../../src/storage/users.ts';
import { forEachBackend } from '../helpers/database.ts';

forEachBackend('UserStore', (b) => {
  test('createUser stores the account and getUser reads it back', async (t) => {
    const users = new PostgresUserStore(await b.fresh(t));
    const created = await users.createUser({
      userId: '@alice:example.org',
      passwordHash: '$scrypt$fake',
      admin: true,
      creationTs: 1_700_000_000_123,
    });
    const expected = {
      userId: '@alice:example.org',
      passwordHash: '$scrypt$fake',
      admin: true,
      deactivated: false,
      creationTs: 1_700_000_000_123,
    };
    assert.deepEqual(created, expected);
    assert.deepEqual(await users.getUser('@alice:example.org'), expected);
  });

  test('defaults: not admin, not deactivated, created now; a null password hash is kept', async (t) => {
    const users = new PostgresUserStore(await b.fresh(t));
    const before = Date.now();
    const created = await users.createUser({ userId: '@bot:example.org', passwordHash: null });
    const after = Date.now();
    assert.equal(created.admin, false);
    assert.equal(created.deactivated, false);
    assert.equal(created.passwordHash, null);
    assert.ok(created.creationTs >= before && created.creationTs <= after);
  });

  test('getUser of an unknown id is null, and ids are compared exactly', async (t) => {
    const users = new PostgresUserStore(await b.fresh(t));
    await users.createUser({ userId: '@alice:example.org', passwordHash: null, creationTs: 1 });
    assert.equal(await users.getUser('@nobody:example.org'), null);
    assert.equal(await users.getUser('@Alice:example.org'), null);
  });

  test('creating a taken user id rejects with a unique violation and leaves the account untouched', async (t) => {
    const users = new PostgresUserStore(await b.fresh(t));
    await users.createUser({ userId: '@alice:example.org', passwordHash: 'first', creationTs: 1 });
    await assert.rejects(
      users.createUser({ userId: '@alice:example.org', passwordHash: 'second', admin: true, creationTs: 2 }),
      (err) => isUniqueViolation(err),
    );
    const kept = await users.getUser('@alice:example.org');
    assert.equal(kept?.passwordHash, 'first');
    assert.equal(kept?.admin, false);
  });

  test('a store on a transaction handle takes part in that transaction', async (t) => {
    const db = await b.fresh(t);
    await assert.rejects(
      db.transaction(async (tx) => {
        await new PostgresUserStore(tx).createUser({ userId: '@temp:example.org', passwordHash: null, creationTs: 1 });
        throw new Error('abort');
      }),
    );
    assert.equal(await new PostgresUserStore(db).getUser('@temp:example.org'), null);
  });
});
