// The presence sweep's schedule on simulated timers, on each backend: it runs every SWEEP_INTERVAL_MS, sets
// offline whoever nothing refreshed for OFFLINE_AFTER_MS, tells their audience, arms itself again, and stops on
// close. Off when presence is turned off.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createLogger } from '../../src/log.ts';
import type { Notifier, StreamNotification } from '../../src/notifier.ts';
import { createSyncUserData, loadUserDataPositions } from '../../src/sync/userDataSource.ts';
import { LAST_ACTIVE_GRANULARITY_MS, OFFLINE_AFTER_MS, SWEEP_INTERVAL_MS } from '../../src/userData/presence.ts';
import { forEachBackend } from '../helpers/database.ts';
import { SimulatedTimers } from './simulatedTimers.ts';

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

forEachBackend('presence sweep', (backend) => {
  /** The sync user data with presence on, its clock at `start` plus what the simulated timers advanced. */
  async function setUp(t: TestContext, start: number) {
    const db = await backend.fresh(t);
    const notifications: StreamNotification[] = [];
    const notifier = { notify: (n: StreamNotification) => notifications.push(n) } as unknown as Notifier;
    const timers = new SimulatedTimers();
    const userData = createSyncUserData({
      db,
      notifier,
      logger: createLogger({ level: 'silent' }),
      serverName: 'test.local',
      presenceEnabled: true,
      positions: await loadUserDataPositions(db, () => start),
      now: () => start + timers.now,
      timers,
    });
    t.after(() => userData.close());
    return { db, notifications, timers, userData };
  }

  test('runs on its interval, sets stale users offline, re-arms, and stops on close', async (t) => {
    const now = 10 * OFFLINE_AFTER_MS;
    const { db, notifications, timers, userData } = await setUp(t, now);
    await db.query(
      `INSERT INTO presence (user_id, state, status_msg, last_active_ts, currently_active, stream_id)
       VALUES ('@gone:test.local', 'online', NULL, $1, true, 0), ('@here:test.local', 'online', NULL, $2, true, 0)`,
      [now - OFFLINE_AFTER_MS - 1, now],
    );
    assert.equal(timers.pending, 1, 'armed at start');
    timers.advance(SWEEP_INTERVAL_MS - 1);
    assert.equal(notifications.length, 0);
    timers.advance(1);
    await until(() => timers.pending === 1, 'the sweep to finish and re-arm');
    const { rows } = await db.query<{ user_id: string; state: string }>('SELECT user_id, state FROM presence ORDER BY user_id');
    assert.deepEqual(rows, [
      { user_id: '@gone:test.local', state: 'offline' },
      { user_id: '@here:test.local', state: 'online' },
    ]);
    assert.deepEqual(
      notifications.map((n) => [n.stream, n.users]),
      [['presence', ['@gone:test.local']]],
    );
    userData.close();
    assert.equal(timers.pending, 0, 'close cancels the next run');
  });

  test('a syncing user is written at most once a minute, silently; once swept offline, the next sync is online again', async (t) => {
    const start = 10 * OFFLINE_AFTER_MS;
    const { db, notifications, timers, userData } = await setUp(t, start);
    const alice = '@alice:test.local';
    const stored = async () =>
      (await db.query<{ state: string; t: string | number }>('SELECT state, last_active_ts AS t FROM presence WHERE user_id = $1', [alice])).rows.map((r) => ({
        state: r.state,
        t: Number(r.t),
      }));
    const presenceNotifications = () => notifications.filter((n) => n.stream === 'presence').length;
    /** Moves the clock, letting a sweep that falls due finish and re-arm. */
    const advance = async (ms: number) => {
      timers.advance(ms);
      await until(() => timers.pending === 1, 'the sweep to re-arm');
    };

    await userData.syncing(alice, 'online');
    assert.deepEqual(await stored(), [{ state: 'online', t: start }]);
    assert.equal(presenceNotifications(), 1);
    await advance(LAST_ACTIVE_GRANULARITY_MS / 2);
    await userData.syncing(alice, 'online');
    assert.deepEqual(await stored(), [{ state: 'online', t: start }], 'nothing written within the minute');
    await advance(LAST_ACTIVE_GRANULARITY_MS);
    await userData.syncing(alice, 'online');
    const refreshed = start + LAST_ACTIVE_GRANULARITY_MS * 1.5;
    assert.deepEqual(await stored(), [{ state: 'online', t: refreshed }], 'refreshed for the sweep');
    assert.equal(presenceNotifications(), 1, 'a refresh wakes nobody');

    // No sync for longer than OFFLINE_AFTER_MS: the sweep sets her offline.
    for (let waited = 0; waited <= OFFLINE_AFTER_MS + SWEEP_INTERVAL_MS; waited += SWEEP_INTERVAL_MS) await advance(SWEEP_INTERVAL_MS);
    assert.equal((await stored())[0]?.state, 'offline');
    assert.equal(presenceNotifications(), 2);
    await userData.syncing(alice, 'online');
    assert.equal((await stored())[0]?.state, 'online', 'back online, not answered from what was known before the sweep');
    assert.equal(presenceNotifications(), 3);
  });

  test('not armed when presence is off', async (t) => {
    const db = await backend.fresh(t);
    const timers = new SimulatedTimers();
    const userData = createSyncUserData({
      db,
      notifier: { notify: () => undefined } as unknown as Notifier,
      logger: createLogger({ level: 'silent' }),
      serverName: 'test.local',
      presenceEnabled: false,
      positions: await loadUserDataPositions(db, () => 0),
      now: () => 0,
      timers,
    });
    t.after(() => userData.close());
    assert.equal(timers.pending, 0);
  });
});
