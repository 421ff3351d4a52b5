import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { getShortestPaths } from '@xstate/graph';
import {
  appserviceFigures,
  appserviceMachine,
  appserviceStateOf,
  backoffDelayMs,
  MAX_EVENTS_PER_TRANSACTION,
} from '../../machines/appservice.ts';
import type {
  BackoffChange,
  AppserviceEvent,
  AppserviceInput,
  AppserviceSnapshot,
  CompleteOutcome,
  CompleteTransactionInput,
  SendOutcome,
  SendTransactionInput,
  TakeTransactionInput,
  TakenTransaction,
} from '../../machines/appservice.ts';

// Lets every settled promise deliver its done event (and the chains that follow). Not a sleep: no
// machine time passes; only the SimulatedClock moves machine time.
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface StoredTxn {
  txnId: string;
  toPosition: number;
  events: number[];
}

type Answer = number | null | 'reject' | 'hang';

/**
 * A fake of the storage and the service, shaped like the real one: committed events are positions;
 * `takeTransaction` returns the oldest stored transaction or stores a new one from the events after
 * the position (at most `limits.events`); `completeTransaction` advances the position and deletes the row.
 */
function harness(options: {
  input?: Partial<AppserviceInput>;
  stored?: StoredTxn[];
  committed?: number;
  position?: number;
  answer?: (txnId: string, attempt: number) => Answer;
} = {}) {
  const clock = new SimulatedClock();
  clock.set(1_000_000);
  const store = {
    position: options.position ?? 0,
    committed: options.committed ?? 0,
    rows: [...(options.stored ?? [])],
    nextTxn: 1,
  };
  const log = {
    takes: [] as TakeTransactionInput[],
    sends: [] as string[],
    completes: [] as string[],
    markDown: 0,
    markUp: 0,
    /** The back-off steps persisted, in order. */
    backoff: [] as number[],
    inFlight: 0,
    maxInFlight: 0,
    aborted: 0,
  };
  const hung: { resolve: (o: SendOutcome) => void }[] = [];
  const answer = options.answer ?? (() => 200);
  const machine = appserviceMachine.provide({
    actors: {
      takeTransaction: fromPromise<TakenTransaction | null, TakeTransactionInput>(async ({ input }) => {
        log.takes.push(input);
        let row = store.rows[0];
        if (!row) {
          const from = store.position + 1;
          const to = Math.min(store.committed, store.position + input.limits.events);
          if (to < from) return null;
          const events = Array.from({ length: to - from + 1 }, (_, i) => from + i);
          row = { txnId: `txn${store.nextTxn++}`, toPosition: to, events };
          store.rows.push(row);
        }
        return { txnId: row.txnId, toPosition: row.toPosition, events: row.events.length, ephemeral: 0, toDevice: 0, at: clock.now() };
      }),
      sendTransaction: fromPromise<SendOutcome, SendTransactionInput>(async ({ input, signal }) => {
        log.sends.push(input.txnId);
        const attempt = log.sends.filter((t) => t === input.txnId).length;
        const a = answer(input.txnId, attempt);
        log.inFlight++;
        log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
        try {
          if (a === 'reject') throw Object.assign(new Error('ECONNREFUSED'), { at: clock.now() });
          if (a === 'hang') {
            return await new Promise<SendOutcome>((resolve, reject) => {
              hung.push({ resolve });
              signal.addEventListener('abort', () => {
                log.aborted++;
                reject(new Error('aborted'));
              });
            });
          }
          return { status: a, at: clock.now() };
        } finally {
          log.inFlight--;
        }
      }),
      completeTransaction: fromPromise<CompleteOutcome, CompleteTransactionInput>(async ({ input }) => {
        log.completes.push(input.txnId);
        const i = store.rows.findIndex((r) => r.txnId === input.txnId);
        assert.ok(i >= 0, `completing a stored transaction (${input.txnId})`);
        store.rows.splice(i, 1);
        store.position = Math.max(store.position, input.toPosition);
        return { at: clock.now() };
      }),
    },
    actions: {
      markDown: () => {
        log.markDown++;
      },
      markUp: () => {
        log.markUp++;
      },
      persistBackoff: (_args, change: BackoffChange) => {
        log.backoff.push(change.backoffStep);
      },
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { serviceId: 'irc', position: store.position, now: clock.now(), ...options.input },
  });
  const state = () => appserviceStateOf(actor.getSnapshot());
  const ctx = () => actor.getSnapshot().context;
  /** New events committed up to `to`, and the NOTIFY the supervisor would send. */
  const commit = (to: number) => {
    store.committed = to;
    actor.send({ type: 'NOTIFY', position: to });
  };
  return { clock, store, log, hung, actor, state, ctx, commit };
}

describe('appservice machine: sending while up', () => {
  test('a NOTIFY builds one stored transaction, PUTs it, completes it, then idles', async () => {
    const h = harness({ input: { pending: false } });
    h.actor.start();
    assert.equal(h.state(), 'up.idle');
    assert.equal(h.log.takes.length, 0);
    h.commit(3);
    await settle();
    assert.deepEqual(h.log.sends, ['txn1']);
    assert.deepEqual(h.log.completes, ['txn1']);
    assert.equal(h.store.position, 3);
    assert.equal(h.ctx().position, 3);
    assert.equal(h.state(), 'up.idle');
    assert.equal(h.ctx().transactionsSent, 1);
    assert.equal(h.log.markDown, 0);
  });

  test('the takeTransaction input carries the limits: 100 events, 100 ephemeral, 100 to-device', async () => {
    const h = harness({ input: { pending: false } });
    h.actor.start();
    h.commit(250);
    await settle();
    assert.deepEqual(h.log.takes[0]?.limits, { events: 100, ephemeral: 100, toDevice: 100 });
    assert.equal(MAX_EVENTS_PER_TRANSACTION, 100);
    // 250 events: three full-as-possible batches, then a look that finds nothing.
    assert.deepEqual(h.log.sends, ['txn1', 'txn2', 'txn3']);
    assert.equal(h.store.position, 250);
    assert.equal(h.state(), 'up.idle');
  });

  test('at most one request in flight however many NOTIFY arrive', async () => {
    const h = harness({ input: { pending: false }, answer: (txnId) => (txnId === 'txn1' ? 'hang' : 200) });
    h.actor.start();
    h.commit(1);
    await settle();
    assert.equal(h.state(), 'up.sending.putting');
    for (let p = 2; p <= 60; p++) h.commit(p);
    await settle();
    assert.equal(h.log.sends.length, 1, 'NOTIFY while sending only records that there is more');
    assert.equal(h.ctx().pending, true);
    assert.equal(h.ctx().notifiedPosition, 60);
    h.hung[0]?.resolve({ status: 200, at: h.clock.now() });
    await settle();
    // The rest goes out as one batch, not one transaction per NOTIFY.
    assert.deepEqual(h.log.sends, ['txn1', 'txn2']);
    assert.equal(h.store.position, 60);
    assert.equal(h.log.maxInFlight, 1);
    assert.equal(h.state(), 'up.idle');
    assert.equal(h.ctx().pending, false);
  });

  test('boot while UP resends a transaction stored before a crash with the same txnId', async () => {
    const h = harness({ stored: [{ txnId: 'old7', toPosition: 5, events: [4, 5] }], position: 3, committed: 5 });
    h.actor.start();
    await settle();
    assert.deepEqual(h.log.sends, ['old7']);
    assert.equal(h.store.position, 5);
    assert.equal(h.state(), 'up.idle');
  });

  test('a PING_OK or RETRY_NOW while up sends nothing', async () => {
    const h = harness({ input: { pending: false } });
    h.actor.start();
    h.actor.send({ type: 'PING_OK' });
    h.actor.send({ type: 'RETRY_NOW' });
    await settle();
    assert.equal(h.log.takes.length, 0);
    assert.equal(h.state(), 'up.idle');
  });

  for (const [name, answer, kind] of [
    ['HTTP 500', 500, 'status'],
    ['a connection refused', 'reject', 'unreachable'],
    ['no answer (status null)', null, 'unreachable'],
  ] as const) {
    test(`${name} marks the service DOWN and starts the recoverer`, async () => {
      const h = harness({ input: { pending: false }, answer: () => answer });
      h.actor.start();
      h.commit(1);
      await settle();
      assert.equal(h.state(), 'down.waiting');
      assert.equal(h.log.markDown, 1);
      assert.equal(h.ctx().status, 'down');
      assert.equal(h.ctx().backoffStep, 1);
      assert.equal(h.ctx().lastFailure?.kind, kind);
      assert.equal(h.ctx().nextRetryAt, h.clock.now() + 2000);
      assert.deepEqual(h.store.rows.map((r) => r.txnId), ['txn1'], 'the stored transaction stays for the retry');
      assert.equal(h.store.position, 0);
    });
  }

  test('a PUT that hangs past the timeout fails, and the request is aborted', async () => {
    const h = harness({ input: { pending: false, transactionTimeoutMs: 30_000 }, answer: () => 'hang' });
    h.actor.start();
    h.commit(1);
    await settle();
    h.clock.increment(29_999);
    await settle();
    assert.equal(h.state(), 'up.sending.putting');
    h.clock.increment(1);
    await settle();
    assert.equal(h.state(), 'down.waiting');
    assert.equal(h.ctx().lastFailure?.kind, 'timeout');
    assert.equal(h.log.aborted, 1);
    assert.equal(h.ctx().nextRetryAt, h.clock.now() + 2000);
  });
});

describe('appservice machine: the recoverer', () => {
  test('retries after 2, 4, 8, ..., 512, 512 s, resending the same stored transaction', async () => {
    const h = harness({ input: { pending: false }, answer: () => 500 });
    h.actor.start();
    h.commit(1);
    await settle();
    assert.equal(h.log.sends.length, 1);
    const schedule = [2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512];
    schedule.forEach((seconds, i) => assert.equal(backoffDelayMs(Math.min(i + 1, 9)), seconds * 1000));
    for (const [i, seconds] of schedule.entries()) {
      assert.equal(h.state(), 'down.waiting');
      assert.equal(h.ctx().backoffStep, Math.min(i + 1, 9));
      assert.equal(h.ctx().nextRetryAt, h.clock.now() + seconds * 1000);
      h.clock.increment(seconds * 1000 - 1);
      await settle();
      assert.equal(h.log.sends.length, i + 1, `no retry before ${seconds} s`);
      h.clock.increment(1);
      await settle();
      assert.equal(h.log.sends.length, i + 2, `a retry at ${seconds} s`);
    }
    assert.ok(h.log.sends.every((t) => t === 'txn1'));
    assert.equal(h.log.markDown, 1, 'DOWN is persisted once, not per retry');
    assert.equal(h.log.markUp, 0);
  });

  test('each wait persists its back-off step, so a restart resumes the schedule', async () => {
    const h = harness({ input: { pending: false }, answer: () => 500 });
    h.actor.start();
    h.commit(1);
    await settle();
    for (const seconds of [2, 4, 8]) {
      h.clock.increment(seconds * 1000);
      await settle();
    }
    assert.deepEqual(h.log.backoff, [1, 2, 3, 4]);
    assert.equal(h.ctx().backoffStep, 4);
  });

  test('a success resets the back-off: the next failure waits 2 s again', async () => {
    // txn1 fails three times then succeeds; txn2 fails.
    const h = harness({
      input: { pending: false },
      answer: (txnId, attempt) => (txnId === 'txn1' ? (attempt <= 3 ? 500 : 200) : 500),
    });
    h.actor.start();
    h.commit(100);
    await settle();
    for (const seconds of [2, 4]) {
      h.clock.increment(seconds * 1000);
      await settle();
    }
    assert.equal(h.ctx().backoffStep, 3);
    h.commit(150);
    h.clock.increment(8000);
    await settle();
    // txn1 went through; draining then built txn2 from the events after it, which failed.
    assert.deepEqual(h.log.completes, ['txn1']);
    assert.equal(h.log.sends.at(-1), 'txn2');
    assert.equal(h.state(), 'down.waiting');
    assert.equal(h.ctx().backoffStep, 1);
    assert.equal(h.ctx().nextRetryAt, h.clock.now() + 2000);
    assert.equal(h.ctx().position, 100);
  });

  test('drains 3 stored transactions in order, then marks the service UP', async () => {
    const stored = [
      { txnId: 'a1', toPosition: 100, events: [] },
      { txnId: 'a2', toPosition: 200, events: [] },
      { txnId: 'a3', toPosition: 250, events: [] },
    ];
    const h = harness({ stored, committed: 250, input: { down: true, pending: true } });
    h.actor.start();
    await settle();
    assert.equal(h.state(), 'down.waiting');
    assert.equal(h.log.sends.length, 0);
    h.clock.increment(2000);
    await settle();
    assert.deepEqual(h.log.sends, ['a1', 'a2', 'a3']);
    assert.deepEqual(h.log.completes, ['a1', 'a2', 'a3']);
    assert.equal(h.store.position, 250);
    assert.equal(h.ctx().position, 250);
    assert.equal(h.log.markUp, 1);
    assert.equal(h.state(), 'up.idle');
    assert.equal(h.ctx().status, 'up');
    assert.equal(h.ctx().backoffStep, 0);
    assert.equal(h.ctx().nextRetryAt, null);
  });

  test('events that arrive while DOWN are caught up in full batches, not one transaction each', async () => {
    const h = harness({ input: { pending: false }, answer: (txnId, attempt) => (txnId === 'txn1' && attempt === 1 ? 500 : 200) });
    h.actor.start();
    h.commit(1);
    await settle();
    assert.equal(h.state(), 'down.waiting');
    for (let p = 2; p <= 301; p++) h.commit(p);
    await settle();
    assert.deepEqual(h.log.sends, ['txn1'], 'no request while waiting');
    h.clock.increment(2000);
    await settle();
    // txn1 (the stored one, event 1), then 300 events in three batches of 100.
    assert.deepEqual(h.log.sends, ['txn1', 'txn1', 'txn2', 'txn3', 'txn4']);
    assert.equal(h.store.position, 301);
    assert.equal(h.state(), 'up.idle');
  });

  for (const type of ['PING_OK', 'RETRY_NOW'] as const) {
    test(`${type} retries at once while DOWN`, async () => {
      const h = harness({ input: { pending: false }, answer: (_t, attempt) => (attempt <= 5 ? 500 : 200) });
      h.actor.start();
      h.commit(1);
      await settle();
      for (const seconds of [2, 4, 8, 16]) {
        h.clock.increment(seconds * 1000);
        await settle();
      }
      assert.equal(h.ctx().backoffStep, 5);
      assert.equal(h.log.sends.length, 5);
      h.actor.send({ type } as AppserviceEvent);
      await settle();
      assert.equal(h.log.sends.length, 6, 'retried without waiting 32 s');
      assert.equal(h.state(), 'up.idle');
      assert.equal(h.log.markUp, 1);
      assert.equal(h.store.position, 1);
    });
  }

  test('a ping while a retry is already in flight makes no second request', async () => {
    const h = harness({ input: { down: true, pending: true }, committed: 1, answer: () => 'hang' });
    h.actor.start();
    h.actor.send({ type: 'PING_OK' });
    await settle();
    assert.equal(h.state(), 'down.retrying.putting');
    h.actor.send({ type: 'PING_OK' });
    h.actor.send({ type: 'RETRY_NOW' });
    await settle();
    assert.equal(h.log.sends.length, 1);
    assert.equal(h.log.maxInFlight, 1);
  });

  test('a service stored as DOWN starts in its recoverer', async () => {
    const h = harness({ input: { down: true, backoffStep: 4, pending: true }, committed: 2 });
    h.actor.start();
    await settle();
    assert.equal(h.state(), 'down.waiting');
    assert.equal(h.ctx().status, 'down');
    assert.equal(h.ctx().backoffStep, 4);
    assert.equal(h.ctx().nextRetryAt, h.clock.now() + 16_000);
    assert.equal(h.log.markDown, 0, 'already stored as DOWN');
    assert.equal(h.log.takes.length, 0);
    h.clock.increment(15_999);
    await settle();
    assert.equal(h.log.sends.length, 0);
    h.clock.increment(1);
    await settle();
    assert.deepEqual(h.log.sends, ['txn1']);
    assert.equal(h.state(), 'up.idle');
    assert.equal(h.log.markUp, 1);
  });

  test('a DOWN service with nothing stored becomes UP after its first retry', async () => {
    const h = harness({ input: { down: true } });
    h.actor.start();
    h.clock.increment(2000);
    await settle();
    assert.equal(h.log.sends.length, 0);
    assert.equal(h.state(), 'up.idle');
    assert.equal(h.log.markUp, 1);
  });

  test('a storage failure while taking also backs off (nothing is lost: the rows stay)', async () => {
    const clock = new SimulatedClock();
    let failTakes = 1;
    const machine = appserviceMachine.provide({
      actors: {
        takeTransaction: fromPromise<TakenTransaction | null, TakeTransactionInput>(async () => {
          if (failTakes-- > 0) throw new Error('database unavailable');
          return null;
        }),
      },
    });
    const actor = createActor(machine, { clock, input: { serviceId: 'irc' } });
    actor.start();
    await settle();
    assert.equal(appserviceStateOf(actor.getSnapshot()), 'down.waiting');
    assert.equal(actor.getSnapshot().context.lastFailure?.kind, 'storage');
    clock.increment(2000);
    await settle();
    assert.equal(appserviceStateOf(actor.getSnapshot()), 'up.idle');
  });
});

describe('appservice machine: inspection', () => {
  test('context is JSON-serialisable and the figures name the state', async () => {
    const h = harness({ input: { pending: false }, answer: () => 503 });
    h.actor.start();
    h.commit(4);
    await settle();
    const context = h.ctx();
    assert.deepEqual(JSON.parse(JSON.stringify(context)), context);
    assert.deepEqual(appserviceFigures(h.actor.getSnapshot()), {
      serviceId: 'irc',
      state: 'down.waiting',
      status: 'down',
      backoffStep: 1,
      nextRetryAt: h.clock.now() + 2000,
      pending: false,
      position: 0,
      notifiedPosition: 4,
      inFlightTxnId: null,
      transactionsSent: 0,
      transactionsFailed: 1,
      lastFailure: 'status',
    });
  });

  test('every state is reachable (paths generated by @xstate/graph)', () => {
    const taken = { txnId: 't1', toPosition: 1, events: 1, ephemeral: 0, toDevice: 0 };
    type GraphEvent = AppserviceEvent | { type: string; output?: unknown; error?: unknown };
    const events: GraphEvent[] = [
      { type: 'NOTIFY', position: 1 },
      { type: 'PING_OK' },
      { type: 'RETRY_NOW' },
      { type: 'xstate.done.actor.takeTransaction', output: taken },
      { type: 'xstate.done.actor.takeTransaction', output: null },
      { type: 'xstate.error.actor.takeTransaction', error: new Error('db') },
      { type: 'xstate.done.actor.sendTransaction', output: { status: 200 } },
      { type: 'xstate.done.actor.sendTransaction', output: { status: 500 } },
      { type: 'xstate.error.actor.sendTransaction', error: new Error('refused') },
      { type: 'xstate.done.actor.completeTransaction', output: {} },
      { type: 'xstate.after.retryDelay.appservice.down.waiting' },
      { type: 'xstate.after.transactionTimeout.appservice.up.sending.putting' },
      { type: 'xstate.after.transactionTimeout.appservice.down.retrying.putting' },
    ];
    const reached = new Set<string>();
    for (const input of [{ serviceId: 'irc', pending: false }, { serviceId: 'irc', down: true }]) {
      const paths = getShortestPaths(appserviceMachine, {
        input,
        events: events as AppserviceEvent[],
        // The state value and the flags that steer transitions; counters would make the space infinite.
        serializeState: (s) => {
          const snap = s as AppserviceSnapshot;
          return JSON.stringify([snap.value, snap.context.pending, snap.context.inFlight !== null]);
        },
      });
      for (const path of paths) reached.add(appserviceStateOf(path.state as AppserviceSnapshot));
    }
    // Every leaf state node, from the definition; `booting` is transient (it resolves before the first snapshot).
    const leaves: string[] = [];
    const walk = (node: { key: string; states: Record<string, unknown> }, prefix: string[]) => {
      const children = Object.values(node.states) as { key: string; states: Record<string, unknown> }[];
      if (children.length === 0) leaves.push(prefix.join('.'));
      for (const child of children) walk(child, [...prefix, child.key]);
    };
    walk(appserviceMachine.root as unknown as { key: string; states: Record<string, unknown> }, []);
    const expected = leaves.filter((l) => l !== 'booting').sort();
    assert.deepEqual(expected, [
      'down.retrying.completing',
      'down.retrying.putting',
      'down.retrying.taking',
      'down.waiting',
      'up.checking',
      'up.idle',
      'up.sending.completing',
      'up.sending.putting',
      'up.sending.taking',
    ]);
    assert.deepEqual([...reached].sort(), expected);
  });
});
