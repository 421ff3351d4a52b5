import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { getShortestPaths } from '@xstate/graph';
import {
  MAX_EDUS_PER_TRANSACTION,
  MAX_PDUS_PER_TRANSACTION,
  destinationMachine,
} from '../../machines/destination.ts';
import type {
  DestinationEvent,
  DestinationInput,
  DestinationRetryTimings,
  OutboundTransaction,
  TransactionOutcome,
} from '../../machines/destination.ts';
import { DEFAULT_RETRY_POLICY, JITTER_MAX, JITTER_MIN } from '../../machines/policy.ts';

const MIN = 10 * 60_000;
const DAY = 24 * 60 * 60_000;

interface Call {
  txn: OutboundTransaction;
  resolve: (o: TransactionOutcome) => void;
  reject: (e: unknown) => void;
}

/** Lets settled promises reach the actor (no machine timing depends on it). */
const settle = () => new Promise((r) => setImmediate(r));

function harness(input: Partial<DestinationInput> = {}) {
  const clock = new SimulatedClock();
  const calls: Call[] = [];
  const persisted: DestinationRetryTimings[] = [];
  const machine = destinationMachine.provide({
    actors: {
      sendTransaction: fromPromise<TransactionOutcome, OutboundTransaction>(
        ({ input: txn }) => new Promise((resolve, reject) => calls.push({ txn, resolve, reject })),
      ),
    },
    actions: { persistRetryTimings: (_args, timings) => void persisted.push(timings) },
  });
  const actor = createActor(machine, { input: { server: 'remote.example', ...input }, clock }).start();
  const last = () => calls[calls.length - 1] as Call;
  return {
    clock,
    calls,
    persisted,
    actor,
    state: () => actor.getSnapshot().value,
    ctx: () => actor.getSnapshot().context,
    /** Answers the transaction in flight with `status` at the clock's time, then lets the machine react. */
    async answer(status: number | null) {
      last().resolve({ status, at: clock.now() });
      await settle();
    },
    pdu: (n = 1) => actor.send({ type: 'PDU_QUEUED', pdus: Array.from({ length: n }, (_, i) => ({ event_id: `$${i}` })) }),
  };
}

describe('destination machine', () => {
  test('sends queued PDUs in one transaction and returns to idle', async () => {
    const h = harness();
    assert.equal(h.state(), 'idle');
    h.pdu(3);
    assert.equal(h.state(), 'sending');
    assert.equal(h.calls.length, 1);
    assert.equal(h.calls[0]?.txn.pdus.length, 3);
    assert.equal(h.calls[0]?.txn.server, 'remote.example');
    await h.answer(200);
    assert.equal(h.state(), 'idle');
    assert.equal(h.ctx().transactionsSent, 1);
    assert.deepEqual(h.persisted, [], 'a healthy destination writes no retry timings');
  });

  test('at most one transaction in flight, at most 50 PDUs and 100 EDUs each, however many events arrive', async () => {
    const h = harness();
    h.pdu(1);
    for (let i = 0; i < 120; i++) {
      h.pdu(1);
      h.actor.send({ type: 'EDU_QUEUED', edus: [{ edu_type: 'm.typing', n: i }, { edu_type: 'm.receipt', n: i }] });
    }
    assert.equal(h.calls.length, 1, 'one request in flight');
    const sizes: Array<[number, number]> = [];
    while (h.state() === 'sending') {
      const before = h.calls.length;
      const txn = (h.calls[before - 1] as Call).txn;
      sizes.push([txn.pdus.length, txn.edus.length]);
      await h.answer(200);
      assert.ok(h.calls.length <= before + 1, 'never two in flight');
    }
    assert.deepEqual(sizes, [[1, 0], [50, 100], [50, 100], [20, 40]]);
    assert.ok(sizes.every(([p, e]) => p <= MAX_PDUS_PER_TRANSACTION && e <= MAX_EDUS_PER_TRANSACTION));
    assert.equal(new Set(h.calls.map((c) => c.txn.txnId)).size, 4, 'distinct transaction ids');
  });

  test('retry schedule: 10 min, then ×2 with jitter in [0.8, 1.4), capped at 7 days; never gives up', async () => {
    const h = harness({ seed: 1234 });
    h.pdu(1);
    await h.answer(500);
    assert.equal(h.state(), 'backingOff');
    assert.equal(h.ctx().retryIntervalMs, MIN, 'first failure waits the minimum');
    assert.deepEqual(h.persisted.at(-1), { server: 'remote.example', retryIntervalMs: MIN, lastRetryTs: 0, failureTs: 0 });

    h.clock.increment(MIN - 1);
    assert.equal(h.state(), 'backingOff', 'not a millisecond early');
    assert.equal(h.calls.length, 1);
    h.clock.increment(1);
    assert.equal(h.state(), 'catchingUp', 'retries when the interval has passed');
    assert.equal(h.calls.length, 2);
    assert.deepEqual(h.calls[1]?.txn.pdus, h.calls[0]?.txn.pdus, 'the failed transaction is retried first');
    assert.equal(h.calls[1]?.txn.txnId, h.calls[0]?.txn.txnId, 'with the same transaction id');

    let previous = MIN;
    let capped = 0;
    for (let i = 0; i < 40; i++) {
      await h.answer(i % 2 ? null : 503);
      assert.equal(h.state(), 'backingOff');
      const interval = h.ctx().retryIntervalMs;
      const low = Math.min(DAY * 7, previous * 2 * JITTER_MIN);
      const high = Math.min(DAY * 7, previous * 2 * JITTER_MAX);
      assert.ok(interval >= Math.floor(low) && (interval < high + 1 || interval === DAY * 7), `${interval} in [${low}, ${high})`);
      assert.ok(interval <= DEFAULT_RETRY_POLICY.maxRetryIntervalMs);
      if (interval === DAY * 7) capped++;
      assert.equal(h.persisted.at(-1)?.retryIntervalMs, interval, 'every new interval is persisted');
      assert.equal(h.persisted.at(-1)?.failureTs, 0, 'failure_ts stays at the start of the run');
      assert.equal(h.persisted.at(-1)?.lastRetryTs, h.clock.now());
      previous = interval;
      const callsBefore: number = h.calls.length;
      h.clock.increment(interval);
      assert.equal(h.state(), 'catchingUp', 'it keeps trying, even at the cap');
      assert.equal(h.calls.length, callsBefore + 1);
    }
    assert.ok(capped > 20, 'reached the 7-day cap and stayed there');
  });

  test('jitter is reproducible from the seed kept in context, and differs between seeds', async () => {
    const intervals = async (seed: number) => {
      const h = harness({ seed });
      h.pdu(1);
      const out: number[] = [];
      for (let i = 0; i < 4; i++) {
        await h.answer(500);
        out.push(h.ctx().retryIntervalMs);
        h.clock.increment(h.ctx().retryIntervalMs);
      }
      return out;
    };
    assert.deepEqual(await intervals(7), await intervals(7));
    assert.notDeepEqual(await intervals(7), await intervals(8));
  });

  test('success resets the interval (persisted), so the next failure waits the minimum again', async () => {
    const h = harness();
    h.pdu(1);
    await h.answer(500);
    h.clock.increment(MIN);
    await h.answer(500);
    assert.ok(h.ctx().retryIntervalMs > MIN);
    h.clock.increment(h.ctx().retryIntervalMs);
    assert.equal(h.state(), 'catchingUp');
    await h.answer(200);
    assert.equal(h.state(), 'idle');
    assert.equal(h.ctx().retryIntervalMs, 0);
    assert.deepEqual(h.persisted.at(-1), { server: 'remote.example', retryIntervalMs: 0, lastRetryTs: null, failureTs: null });
    h.pdu(1);
    await h.answer(502);
    assert.equal(h.ctx().retryIntervalMs, MIN);
  });

  test('REMOTE_UP wakes a backing-off destination at once', async () => {
    const h = harness();
    h.pdu(2);
    await h.answer(null);
    assert.equal(h.state(), 'backingOff');
    h.clock.increment(60_000);
    h.actor.send({ type: 'REMOTE_UP' });
    assert.equal(h.state(), 'catchingUp', 'no waiting for the remaining 9 minutes');
    assert.equal(h.calls.length, 2);
    assert.equal(h.persisted.at(-1)?.retryIntervalMs, 0, 'timings reset and persisted');
    await h.answer(200);
    assert.equal(h.state(), 'idle');
    h.clock.increment(MIN);
    assert.equal(h.calls.length, 2, 'the cancelled back-off timer does not fire later');
  });

  test('REMOTE_UP while idle or sending changes nothing', async () => {
    const h = harness();
    h.actor.send({ type: 'REMOTE_UP' });
    assert.equal(h.state(), 'idle');
    h.pdu(1);
    h.actor.send({ type: 'REMOTE_UP' });
    assert.equal(h.state(), 'sending');
    assert.equal(h.calls.length, 1);
  });

  test('a 4xx other than 401/429 does not back off: the transaction is dropped and sending goes on', async () => {
    const h = harness();
    h.pdu(60);
    await h.answer(400);
    assert.equal(h.state(), 'sending', 'the next batch goes at once');
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]?.txn.pdus.length, 10, 'the rejected 50 are not resent');
    assert.equal(h.ctx().transactionsRejected, 1);
    await h.answer(403);
    assert.equal(h.state(), 'idle');
    assert.equal(h.ctx().retryIntervalMs, 0);
    assert.deepEqual(h.persisted, []);
  });

  test('401 and 429 do back off, and so does a rejected promise (network failure)', async () => {
    for (const status of [401, 429]) {
      const h = harness();
      h.pdu(1);
      await h.answer(status);
      assert.equal(h.state(), 'backingOff', String(status));
    }
    const h = harness();
    h.pdu(1);
    h.calls[0]?.reject(new Error('ECONNREFUSED'));
    await settle();
    assert.equal(h.state(), 'backingOff');
    assert.equal(h.ctx().retryIntervalMs, MIN);
  });

  test('hydrated from its row, a destination resumes the remaining back-off', () => {
    const h = harness({ retryIntervalMs: 20 * 60_000, lastRetryTs: 1_000_000, failureTs: 0, now: 1_000_000 + 5 * 60_000 });
    assert.equal(h.state(), 'backingOff');
    h.pdu(1);
    h.clock.increment(15 * 60_000 - 1);
    assert.equal(h.state(), 'backingOff');
    h.clock.increment(1);
    assert.equal(h.state(), 'catchingUp');
    const expired = harness({ retryIntervalMs: 20 * 60_000, lastRetryTs: 0, failureTs: 0, now: 60 * 60_000 });
    assert.equal(expired.state(), 'idle', 'a back-off that ran out while we were down: idle, still failing');
    expired.pdu(1);
    assert.equal(expired.state(), 'catchingUp');
  });

  test('a back-off that ends with nothing queued waits idle, still failing; the next PDU probes and failure grows the interval', async () => {
    const h = harness({ retryIntervalMs: MIN, lastRetryTs: 0, failureTs: 0, now: 0 });
    assert.equal(h.state(), 'backingOff');
    h.clock.increment(MIN);
    assert.equal(h.state(), 'idle');
    assert.equal(h.calls.length, 0);
    assert.equal(h.ctx().retryIntervalMs, MIN, 'not reset: nothing proved the server is back');
    h.pdu(1);
    assert.equal(h.state(), 'catchingUp');
    await h.answer(500);
    assert.ok(h.ctx().retryIntervalMs >= MIN * 2 * JITTER_MIN);
  });

  test('context is JSON-serialisable', async () => {
    const h = harness();
    h.pdu(3);
    await h.answer(500);
    const ctx = h.ctx();
    assert.deepEqual(JSON.parse(JSON.stringify(ctx)), ctx);
  });

  test('every state is reachable (@xstate/graph)', () => {
    const output = (status: number | null) => ({ type: 'xstate.done.actor.sendTransaction', output: { status, at: 5 } });
    const events = [
      { type: 'PDU_QUEUED', pdus: [{}] },
      { type: 'EDU_QUEUED', edus: [{}] },
      { type: 'REMOTE_UP' },
      output(200),
      output(400),
      output(500),
      { type: 'xstate.error.actor.sendTransaction', error: new Error('down') },
      { type: 'xstate.after.retryBackoff.destination.backingOff' },
    ] as unknown as DestinationEvent[];
    // Abstract the context to what steers transitions (queue empty or not, failing or not) so the
    // traversal is finite.
    const serializeState = (snapshot: { value: unknown; context: { queuedPdus: unknown[]; queuedEdus: unknown[]; retryIntervalMs: number } }) =>
      JSON.stringify([snapshot.value, snapshot.context.queuedPdus.length + snapshot.context.queuedEdus.length > 0, snapshot.context.retryIntervalMs > 0]);
    const paths = getShortestPaths(destinationMachine, { events, input: { server: 'remote.example' }, serializeState, limit: 5000 });
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    assert.deepEqual(
      [...reached].sort(),
      ['"backingOff"', '"catchingUp"', '"idle"', '"sending"'],
      'booting is transient: every path passes through it',
    );
    const resumed = getShortestPaths(destinationMachine, {
      events,
      input: { server: 'remote.example', retryIntervalMs: 1000, lastRetryTs: 0, now: 10 },
      serializeState,
      limit: 5000,
    });
    assert.equal(JSON.stringify(resumed[0]?.state.value), '"backingOff"', 'booting -> backingOff for a hydrated destination');
  });
});
