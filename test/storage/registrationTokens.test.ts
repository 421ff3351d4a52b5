// Registration token uses: a pending use lapses with its session, is completed or released once, and the last use
// cannot be taken twice even by registrations racing on separate connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PostgresRegistrationTokenStore, reserveRegistrationToken } from '../../src/storage/registrationTokens.ts';
import { forEachBackend } from '../helpers/database.ts';

forEachBackend('RegistrationTokenStore', (b) => {
  test('pending uses lapse with their session; release gives a use back; complete counts it once', async (t) => {
    const db = await b.fresh(t);
    const store = new PostgresRegistrationTokenStore(db);
    assert.equal(await store.create('tok', 1, null), true);
    assert.equal(await store.create('tok', 5, null), false);
    assert.equal(await reserveRegistrationToken(db, 'tok', 's1', 1000, 2000), true);
    // The same session again keeps its use; another session finds none left.
    assert.equal(await reserveRegistrationToken(db, 'tok', 's1', 1100, 2000), true);
    assert.equal(await reserveRegistrationToken(db, 'tok', 's2', 1200, 2200), false);
    assert.deepEqual(await store.get('tok', 1200), { token: 'tok', uses_allowed: 1, pending: 1, completed: 0, expiry_time: null });
    // s1's session lapsed at 2000: its use is free again.
    assert.equal((await store.get('tok', 2000))?.pending, 0);
    assert.equal(await reserveRegistrationToken(db, 'tok', 's2', 2100, 4000), true);
    await store.releaseUse('s2');
    assert.equal((await store.get('tok', 2200))?.pending, 0);
    assert.equal(await reserveRegistrationToken(db, 'tok', 's3', 2300, 5000), true);
    await store.completeUse('s3');
    await store.completeUse('s3');
    assert.deepEqual(await store.get('tok', 2400), { token: 'tok', uses_allowed: 1, pending: 0, completed: 1, expiry_time: null });
    assert.equal(await reserveRegistrationToken(db, 'tok', 's4', 2500, 6000), false);
    assert.equal(await reserveRegistrationToken(db, 'missing', 's5', 2500, 6000), false);
    // Expiry: valid until expiry_time.
    await store.create('dated', null, 3000);
    assert.equal(await reserveRegistrationToken(db, 'dated', 's6', 2999, 6000), true);
    assert.equal(await reserveRegistrationToken(db, 'dated', 's7', 3000, 6000), false);
    assert.deepEqual((await store.list(3000, true)).map((x) => x.token), []);
    assert.deepEqual((await store.list(2000, true)).map((x) => x.token), ['dated']);
  });

  test('registrations racing for the last uses: only as many as are left get one', async (t) => {
    const db = await b.fresh(t);
    await new PostgresRegistrationTokenStore(db).create('last', 3, null);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => reserveRegistrationToken(db, 'last', `s${i}`, 1000, 9000)));
    assert.equal(results.filter(Boolean).length, 3);
    assert.equal((await new PostgresRegistrationTokenStore(db).get('last', 1000))?.pending, 3);
  });
});
