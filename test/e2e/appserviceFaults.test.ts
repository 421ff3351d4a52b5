// Fault test: a service that fails for a while (HTTP 500, connection refused, a hang past the transaction
// timeout, dropped connections) and then recovers, with a Troupe restart in the middle on the same database.
// Every one of 1,000 events sent meanwhile arrives exactly once after deduplication by txnId, in stream order,
// and no transaction carries more than 100 events.
//
// Speed: the actor system runs on a clock 100 times faster than real time (StartOptions.clock), so the
// recoverer's 2, 4, 8, ... s back-off and the 20 s transaction timeout (app_service_transaction_timeout) take
// 20, 40, 80, ... ms and 200 ms. The schedule itself is proven on a SimulatedClock in test/machines/appservice.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunningServer } from '../../src/main.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startFakeService, writeRegistration, type FakeService, type ReceivedTransaction } from '../appservice/fakeService.ts';
import { addUser, call as callOn, deduplicated, fastTroupe, until } from '../appservice/fastTroupe.ts';

const SPEED = 100;
const TOTAL = 1000;

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
    const start = await fastTroupe(database.db, 'faults.test', file, SPEED);
    let troupe: RunningServer = await start();
    t.after(() => troupe.close());

    const aliceToken = (await addUser(database.db, '@alice:faults.test')).token;
    const bridgedToken = (await addUser(database.db, '@bridge_bob:faults.test')).token;
    const call = (token: string, method: string, urlPath: string, body: unknown) => callOn(troupe, token, method, urlPath, body);
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
      const events: string[] = [];
      for (const txn of deduplicated(received)) {
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
