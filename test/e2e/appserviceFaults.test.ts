// Fault test: a service that fails for a while (HTTP 500, connection refused, a hang past the transaction
// timeout, dropped connections) and then recovers, with a Troupe restart in the middle on the same database.
// Every one of 1,000 events sent meanwhile arrives exactly once after deduplication by txnId, in stream order,
// and no transaction carries more than 100 events.
//
// Speed: the actor system runs on a clock 100 times faster than real time (StartOptions.clock), so the
// recoverer's 2, 4, 8, ... s back-off and the 20 s transaction timeout (app_service_transaction_timeout) take
// 20, 40, 80, ... ms and 200 ms. The schedule itself is proven on a SimulatedClock in test/machines/appservice.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { SystemClock } from '../../actors/clock.ts';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { normaliseConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import type { Database } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startFakeService, writeRegistration, type FakeService, type ReceivedTransaction } from '../appservice/fakeService.ts';

const SPEED = 100;
const TOTAL = 1000;

function fastClock(speed: number): SystemClock {
  const t0 = Date.now();
  return {
    setTimeout: (fn, ms) => setTimeout(fn, ms / speed),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
    now: () => t0 + (Date.now() - t0) * speed,
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function addUser(db: Database, userId: string): Promise<string> {
  const token = generateAccessToken();
  const deviceId = generateDeviceId();
  const now = Date.now();
  await db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, NULL, false, $2)', [userId, now]);
  await db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, $3)', [userId, deviceId, now]);
  await db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [
    hashAccessToken(token),
    userId,
    deviceId,
    now,
  ]);
  return token;
}

forEachBackend('appservice faults', (backend) => {
  test('1,000 events through 500s, refusals, hangs and a Troupe restart arrive exactly once, in order', async (t) => {
    const database = await backend.create();
    t.after(() => database.close());
    let service: FakeService = await startFakeService();
    const port = service.port;
    const received: ReceivedTransaction[] = [];
    const drain = () => received.push(...service.transactions.splice(0));
    t.after(() => service.close());
    const file = await writeRegistration({ url: service.url });
    const config = normaliseConfig(
      {
        server_name: 'faults.test',
        data_directory: await mkdtemp(path.join(tmpdir(), 'troupe-faults-')),
        listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }],
        app_service_config_files: [file],
        app_service_transaction_timeout: '20s',
      },
      {},
    );
    const logger = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
    const start = () => startServer(config, logger, { db: database.db, clock: fastClock(SPEED) });
    let troupe: RunningServer = await start();
    t.after(() => troupe.close());

    const aliceToken = await addUser(database.db, '@alice:faults.test');
    const bridgedToken = await addUser(database.db, '@bridge_bob:faults.test');
    const call = async (token: string, method: string, urlPath: string, body: unknown) => {
      const res = await fetch(`${troupe.listeners[0]?.url ?? ''}/_matrix/client/v3${urlPath}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 200, JSON.stringify(json));
      return json;
    };
    const roomId = (await call(aliceToken, 'POST', '/createRoom', { preset: 'public_chat' }))['room_id'] as string;
    await call(bridgedToken, 'POST', `/join/${encodeURIComponent(roomId)}`, {});
    let sent = 0;
    const send = async (count: number) => {
      // Ten at a time: the room writer batches them, as it would for a busy room.
      for (let i = 0; i < count; i += 10) {
        await Promise.all(
          Array.from({ length: Math.min(10, count - i) }, () => {
            const n = sent++;
            return call(aliceToken, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m${n}`, { msgtype: 'm.text', body: `m${n}` });
          }),
        );
      }
    };
    const status = () => troupe.admin.list().find((r) => r.id === 'as:bridge')?.figures['status'];

    // 500s.
    service.mode = 500;
    await send(200);
    await until(() => status() === 'down', 'DOWN after 500s');
    // Connection refused: nobody listens on the port.
    drain();
    await service.close();
    await send(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A service that accepts and never answers (past the 20 s timeout, 200 ms here).
    service = await startFakeService(port);
    service.mode = 'hang';
    await send(200);
    await until(() => service.attempts >= 2, 'hung attempts');

    // Troupe restarts on the same database: the service was stored DOWN and starts in its recoverer.
    await troupe.close();
    troupe = await start();
    assert.match(String(troupe.admin.list().find((r) => r.id === 'as:bridge')?.state), /^down/);
    service.mode = 'reset';
    await send(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Recovery.
    service.mode = 'ok';
    await send(200);
    assert.equal(sent, TOTAL);

    const { rows } = await database.db.query<{ event_id: string }>(
      "SELECT event_id FROM events WHERE room_id = $1 AND type = 'm.room.message' ORDER BY stream_ordering",
      [roomId],
    );
    assert.equal(rows.length, TOTAL);
    const expected = rows.map((r) => r.event_id);
    const delivered = () => {
      drain();
      const byTxn = new Map<string, string>();
      const events: string[] = [];
      for (const txn of received) {
        const contents = JSON.stringify(txn.body);
        const earlier = byTxn.get(txn.txnId);
        if (earlier !== undefined) {
          assert.equal(contents, earlier, `txnId ${txn.txnId} resent with the same contents`);
          continue;
        }
        byTxn.set(txn.txnId, contents);
        assert.ok((txn.body.events ?? []).length <= 100, `transaction ${txn.txnId} has at most 100 events`);
        for (const e of txn.body.events ?? []) if (e['type'] === 'm.room.message') events.push(e['event_id'] as string);
      }
      return events;
    };
    await until(() => delivered().length >= TOTAL, 'every event delivered', 120_000);
    assert.deepEqual(delivered(), expected, 'each event exactly once, in stream order');
    // What piled up while DOWN was caught up in full batches, not one transaction per event.
    assert.ok(received.some((txn) => (txn.body.events ?? []).length === 100), 'full catch-up batches');
    await until(() => status() === 'up', 'UP again');
    await until(async () => {
      const { rows: state } = await database.db.query<{ state: string; backoff_step: number }>(
        "SELECT state, backoff_step FROM appservice_state WHERE service_id = 'bridge'",
      );
      return state[0]?.state === 'up' && state[0].backoff_step === 0;
    }, 'UP stored');
  });
});
