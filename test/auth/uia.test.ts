// The generic user-interactive auth module against its real session store, on both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SESSION_TTL_MS, StageFailure, UiaChallenge, dummyStage, requireUserInteractiveAuth, type UiaOptions } from '../../src/auth/uia.ts';
import { MatrixError } from '../../src/http/errors.ts';
import type { Database } from '../../src/storage/database.ts';
import { PostgresUiaSessionStore } from '../../src/storage/uia.ts';
import { forEachBackend } from '../helpers/database.ts';

function options(db: Database, overrides: Partial<UiaOptions> = {}): UiaOptions {
  return {
    store: new PostgresUiaSessionStore(db),
    now: 1_000_000,
    operation: 'POST /_matrix/client/v3/delete_devices',
    userId: '@alice:hs',
    flows: [{ stages: ['m.login.dummy', 'org.example.pin'] }, { stages: ['org.example.pin', 'org.example.other'] }],
    params: { 'org.example.pin': { length: 4 } },
    stages: {
      'm.login.dummy': dummyStage,
      'org.example.pin': async (auth) => {
        if (auth['pin'] !== '1234') throw new StageFailure('M_FORBIDDEN', 'wrong pin');
      },
      'org.example.other': dummyStage,
    },
    ...overrides,
  };
}

/** Runs a UIA step that must end in a 401 challenge and returns that body. */
async function challenged(auth: unknown, opts: UiaOptions): Promise<Record<string, unknown>> {
  try {
    await requireUserInteractiveAuth(auth, opts);
  } catch (error) {
    assert.ok(error instanceof UiaChallenge, `expected a challenge, got ${String(error)}`);
    assert.equal(error.status, 401);
    return error.toJSON();
  }
  assert.fail('expected a 401 challenge');
}

async function refused(auth: unknown, opts: UiaOptions, status: number, errcode: string): Promise<void> {
  await assert.rejects(requireUserInteractiveAuth(auth, opts), (error: unknown) => {
    assert.ok(error instanceof MatrixError && !(error instanceof UiaChallenge), String(error));
    assert.equal(error.status, status);
    assert.equal(error.errcode, errcode);
    return true;
  });
}

forEachBackend('uia', (backend) => {
  test('multi-stage flows: challenge, stage failures, completion, and the session is spent', async (t) => {
    const db = await backend.fresh(t);
    const first = await challenged(undefined, options(db));
    assert.deepEqual(Object.keys(first).sort(), ['completed', 'flows', 'params', 'session']);
    assert.deepEqual(first['completed'], []);
    assert.deepEqual(first['params'], { 'org.example.pin': { length: 4 } });
    const session = first['session'] as string;

    const wrongPin = await challenged({ type: 'org.example.pin', pin: '0000', session }, options(db));
    assert.equal(wrongPin['errcode'], 'M_FORBIDDEN');
    assert.equal(wrongPin['error'], 'wrong pin');
    assert.deepEqual(wrongPin['completed'], []);

    const afterPin = await challenged({ type: 'org.example.pin', pin: '1234', session }, options(db));
    assert.deepEqual(afterPin['completed'], ['org.example.pin']);
    assert.equal(afterPin['errcode'], undefined);
    // Doing a stage twice records it once.
    const again = await challenged({ type: 'org.example.pin', pin: '1234', session }, options(db));
    assert.deepEqual(again['completed'], ['org.example.pin']);

    const done = await requireUserInteractiveAuth({ type: 'm.login.dummy', session }, options(db));
    assert.deepEqual(done.completed.sort(), ['m.login.dummy', 'org.example.pin']);
    await refused({ type: 'm.login.dummy', session }, options(db), 400, 'M_UNKNOWN');
  });

  test('a session survives a new store (a restart) and expires after its lifetime', async (t) => {
    const db = await backend.fresh(t);
    const first = await challenged({ type: 'org.example.pin', pin: '1234' }, options(db));
    const session = first['session'] as string;
    assert.deepEqual(first['completed'], ['org.example.pin']);
    // A fresh store over the same database: what a restarted server would use.
    const restarted = options(db, { store: new PostgresUiaSessionStore(db), now: 1_000_000 + SESSION_TTL_MS - 1 });
    const result = await requireUserInteractiveAuth({ type: 'org.example.other', session }, restarted);
    assert.deepEqual(result.completed, ['org.example.pin', 'org.example.other']);

    const second = await challenged(undefined, options(db));
    await refused({ type: 'm.login.dummy', session: second['session'] }, options(db, { now: 1_000_000 + SESSION_TTL_MS }), 400, 'M_UNKNOWN');
    // Expired sessions are swept when a new one is created.
    await challenged(undefined, options(db, { now: 1_000_000 + SESSION_TTL_MS }));
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM uia_sessions');
    assert.equal(rows[0]?.n, 1);
  });

  test('a session is bound to its operation and its user; malformed auth is 400', async (t) => {
    const db = await backend.fresh(t);
    const first = await challenged({ type: 'org.example.pin', pin: '1234' }, options(db));
    const session = first['session'];
    await refused({ type: 'm.login.dummy', session }, options(db, { operation: 'DELETE /_matrix/client/v3/devices/X' }), 403, 'M_FORBIDDEN');
    await refused({ type: 'm.login.dummy', session }, options(db, { userId: '@mallory:hs' }), 403, 'M_FORBIDDEN');
    await refused({ type: 'm.login.dummy', session }, options(db, { userId: null }), 403, 'M_FORBIDDEN');
    await refused('dummy', options(db), 400, 'M_BAD_JSON');
    await refused([], options(db), 400, 'M_BAD_JSON');
    await refused({ type: 5 }, options(db), 400, 'M_BAD_JSON');
    await refused({ type: 'm.login.dummy', session: 5 }, options(db), 400, 'M_BAD_JSON');
    const unknownStage = await challenged({ type: 'm.login.password', session }, options(db));
    assert.equal(unknownStage['errcode'], 'M_UNRECOGNIZED');
    assert.deepEqual(unknownStage['completed'], ['org.example.pin']);
    // Nothing above spent or changed the session.
    const result = await requireUserInteractiveAuth({ type: 'm.login.dummy', session }, options(db));
    assert.deepEqual(result.completed, ['org.example.pin', 'm.login.dummy']);
  });
});
