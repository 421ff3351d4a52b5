// Pieces both backends use: the "no Database calls from inside its own transaction" guard, channel names,
// and delivering notifications outside the database's own call stack.
import { AsyncLocalStorage } from 'node:async_hooks';
import { DatabaseUsageError } from './errors.ts';
import type { StorageLogger } from './logger.ts';

/**
 * Tracks, per async call chain, which Database's transaction callback we are inside. `active` turns false when
 * that transaction ends, so work the callback left running (a timer, say) may use the Database afterwards.
 */
const insideTransactionOf = new AsyncLocalStorage<{ owner: object; active: boolean }>();

export async function runInsideTransaction<T>(owner: object, fn: () => Promise<T>): Promise<T> {
  const marker = { owner, active: true };
  try {
    return await insideTransactionOf.run(marker, fn);
  } finally {
    marker.active = false;
  }
}

export function assertNotInsideTransaction(owner: object, what: string): void {
  const marker = insideTransactionOf.getStore();
  if (marker?.owner === owner && marker.active) {
    throw new DatabaseUsageError(
      `Database.${what}() called from inside one of its own transactions: use the transaction's handle (tx) instead`,
    );
  }
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertChannelName(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw new DatabaseUsageError(
      `invalid notification channel ${JSON.stringify(channel)}: use lowercase letters, digits and _ (at most 63)`,
    );
  }
}

/**
 * Calls onNotify later, from a fresh call stack outside any transaction context, so a listener may itself use
 * the Database, and a listener that throws is logged rather than crashing the process.
 */
export function deliverNotification(
  onNotify: (payload: string) => void,
  payload: string,
  channel: string,
  logger: StorageLogger,
): void {
  insideTransactionOf.exit(() => {
    setImmediate(() => {
      try {
        onNotify(payload);
      } catch (err) {
        logger.error({ err, channel }, 'notification listener threw');
      }
    });
  });
}

/** Runs async functions one at a time, in call order. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
