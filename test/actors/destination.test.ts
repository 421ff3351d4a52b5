import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor } from 'xstate';
import { provideDestination } from '../../actors/destination.ts';
import type { DestinationRetryTimings, OutboundTransaction } from '../../machines/destination.ts';

const settle = () => new Promise((r) => setImmediate(r));

describe('destination wiring', () => {
  test('a transport that throws is a failure stamped with the system clock, and the timings are persisted', async () => {
    const clock = new SimulatedClock();
    clock.set(5_000);
    const sent: OutboundTransaction[] = [];
    const stored: DestinationRetryTimings[] = [];
    const machine = provideDestination({
      clock,
      sendTransaction: async (txn) => {
        sent.push(txn);
        if (sent.length === 1) throw new Error('ECONNREFUSED');
        return { status: 200 };
      },
      persistRetryTimings: async (t) => void stored.push(t),
    });
    const actor = createActor(machine, { input: { server: 'remote.example' }, clock }).start();
    actor.send({ type: 'PDU_QUEUED', pdus: [{ event_id: '$1' }] });
    await settle();
    assert.equal(actor.getSnapshot().value, 'backingOff');
    assert.deepEqual(stored, [{ server: 'remote.example', retryIntervalMs: 600_000, lastRetryTs: 5_000, failureTs: 5_000 }]);
    clock.increment(600_000);
    await settle();
    assert.equal(actor.getSnapshot().value, 'idle');
    assert.equal(sent.length, 2);
    assert.deepEqual(stored.at(-1), { server: 'remote.example', retryIntervalMs: 0, lastRetryTs: null, failureTs: null });
  });
});
