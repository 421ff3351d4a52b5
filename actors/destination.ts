// Wiring of the destination machine (the federation sender provides the real transport later): the
// injected sender is wrapped so that every attempt ends in an outcome stamped with the system clock,
// whether the transport answered or threw, and retry timings go to the provided store.
import { fromPromise } from 'xstate';
import { destinationMachine } from '../machines/destination.ts';
import type { DestinationRetryTimings, OutboundTransaction, TransactionOutcome } from '../machines/destination.ts';
import type { SystemClock } from './clock.ts';

export interface DestinationEffects {
  clock: SystemClock;
  /** PUT /_matrix/federation/v1/send/{txnId}; resolves with the HTTP status, throws when there was no answer. */
  sendTransaction(txn: OutboundTransaction): Promise<{ status: number }>;
  persistRetryTimings(timings: DestinationRetryTimings): void | Promise<void>;
  onPersistError?(error: unknown, timings: DestinationRetryTimings): void;
}

export function provideDestination(effects: DestinationEffects) {
  return destinationMachine.provide({
    actors: {
      sendTransaction: fromPromise<TransactionOutcome, OutboundTransaction>(async ({ input }) => {
        try {
          const { status } = await effects.sendTransaction(input);
          return { status, at: effects.clock.now() };
        } catch {
          return { status: null, at: effects.clock.now() };
        }
      }),
    },
    actions: {
      persistRetryTimings: (_args, timings) => {
        Promise.resolve()
          .then(() => effects.persistRetryTimings(timings))
          .catch((error: unknown) => effects.onPersistError?.(error, timings));
      },
    },
  });
}
