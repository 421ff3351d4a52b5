// One remote server we send federation transactions to (DESIGN.md §4, Destination).
// States: idle, sending (one transaction in flight), backingOff (a named delay), catchingUp (the first
// attempt after a back-off). The transaction sender is an injected actor so tests (and later the
// federation client) control it; retry timings are handed to an injected persistence action.
import { and, assign, fromPromise, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { DEFAULT_RETRY_POLICY, classifyTransactionStatus, jitterFrom, nextRandom, nextRetryInterval, seedFrom } from './policy.ts';
import type { RetryPolicy } from './policy.ts';

export const MAX_PDUS_PER_TRANSACTION = 50;
export const MAX_EDUS_PER_TRANSACTION = 100;

/** PDUs and EDUs are opaque JSON here; the federation layer builds them. */
export type OutboundPdu = unknown;
export type OutboundEdu = unknown;

export interface OutboundTransaction {
  server: string;
  txnId: string;
  pdus: OutboundPdu[];
  edus: OutboundEdu[];
}

/**
 * What the injected sender resolves with: the HTTP status (null when there was no answer: DNS, TLS,
 * connection refused, timeout) and the time the attempt ended, from the actor system's clock.
 */
export interface TransactionOutcome {
  status: number | null;
  at: number;
}

/** Durable figures, written by the provided `persistRetryTimings` action (DESIGN.md §2). */
export interface DestinationRetryTimings {
  server: string;
  /** 0 when the destination is healthy. */
  retryIntervalMs: number;
  /** When the last failed attempt ended. */
  lastRetryTs: number | null;
  /** When the current run of failures began. */
  failureTs: number | null;
}

export interface DestinationInput {
  server: string;
  policy?: Partial<RetryPolicy>;
  /** PRNG seed for jitter; defaults to a hash of the server name. */
  seed?: number;
  /** Prefix making transaction ids unique across restarts (e.g. the boot time). */
  txnIdPrefix?: string;
  /** Hydration from the stored row: a destination still backing off resumes the remaining wait. */
  retryIntervalMs?: number;
  lastRetryTs?: number | null;
  failureTs?: number | null;
  /** The clock's time at hydration, to compute the remaining wait. */
  now?: number;
}

export interface DestinationContext {
  server: string;
  policy: RetryPolicy;
  prng: number;
  txnIdPrefix: string;
  txnCounter: number;
  queuedPdus: OutboundPdu[];
  queuedEdus: OutboundEdu[];
  inFlight: OutboundTransaction | null;
  retryIntervalMs: number;
  /** The wait of the current back-off: the interval, or what remained of it at boot. */
  backoffDelayMs: number;
  lastRetryTs: number | null;
  failureTs: number | null;
  transactionsSent: number;
  transactionsFailed: number;
  transactionsRejected: number;
}

export type DestinationEvent =
  | { type: 'PDU_QUEUED'; pdus: OutboundPdu[] }
  | { type: 'EDU_QUEUED'; edus: OutboundEdu[] }
  /** Any inbound request from this server: it is reachable, stop waiting. */
  | { type: 'REMOTE_UP' };

function outcomeOf(output: unknown): TransactionOutcome {
  const o = output as Partial<TransactionOutcome> | null | undefined;
  return { status: typeof o?.status === 'number' ? o.status : null, at: typeof o?.at === 'number' ? o.at : NaN };
}

function timeOf(value: unknown): number | null {
  const at = (value as { at?: unknown } | null | undefined)?.at;
  return typeof at === 'number' && Number.isFinite(at) ? at : null;
}

// Hands the durable figures, as they are after the preceding assign, to the provided persistence action.
const PERSIST = {
  type: 'persistRetryTimings',
  params: ({ context }: { context: DestinationContext }): DestinationRetryTimings => ({
    server: context.server,
    retryIntervalMs: context.retryIntervalMs,
    lastRetryTs: context.lastRetryTs,
    failureTs: context.failureTs,
  }),
} as const;

// One transaction in flight, settled by its outcome; shared by `sending` and `catchingUp`.
const transmitOneTransaction = {
  entry: 'takeBatch',
  invoke: {
    id: 'sendTransaction',
    src: 'sendTransaction',
    input: ({ context }: { context: DestinationContext }) => context.inFlight as OutboundTransaction,
    onDone: [
      { guard: and(['sent', 'isFailing']), target: 'idle', actions: ['recordSuccess', 'resetRetry', PERSIST] },
      { guard: 'sent', target: 'idle', actions: 'recordSuccess' },
      { guard: and(['rejected', 'isFailing']), target: 'idle', actions: ['recordRejection', 'resetRetry', PERSIST] },
      { guard: 'rejected', target: 'idle', actions: 'recordRejection' },
      { target: 'backingOff', actions: ['recordFailure', PERSIST] },
    ],
    onError: { target: 'backingOff', actions: ['recordFailure', PERSIST] },
  },
} as const;

export const destinationMachine = setup({
  types: {
    context: {} as DestinationContext,
    events: {} as DestinationEvent,
    input: {} as DestinationInput,
  },
  actors: {
    sendTransaction: fromPromise<TransactionOutcome, OutboundTransaction>(async () => {
      throw new Error('sendTransaction must be provided');
    }),
  },
  actions: {
    persistRetryTimings: (_args, _timings: DestinationRetryTimings) => {},
    takeBatch: assign(({ context }) => {
      const txnCounter = context.txnCounter + 1;
      return {
        txnCounter,
        queuedPdus: context.queuedPdus.slice(MAX_PDUS_PER_TRANSACTION),
        queuedEdus: context.queuedEdus.slice(MAX_EDUS_PER_TRANSACTION),
        inFlight: {
          server: context.server,
          txnId: `${context.txnIdPrefix}${txnCounter}`,
          pdus: context.queuedPdus.slice(0, MAX_PDUS_PER_TRANSACTION),
          edus: context.queuedEdus.slice(0, MAX_EDUS_PER_TRANSACTION),
        },
      };
    }),
    recordSuccess: assign({ inFlight: null, transactionsSent: ({ context }) => context.transactionsSent + 1 }),
    // The remote answered and refused this transaction for good: drop it. The server is evidently up,
    // so this is no reason to back off.
    recordRejection: assign({ inFlight: null, transactionsRejected: ({ context }) => context.transactionsRejected + 1 }),
    recordFailure: assign(({ context, event }) => {
      const e = event as { output?: unknown; error?: unknown };
      const at = 'output' in e ? timeOf(outcomeOf(e.output)) : timeOf(e.error);
      const [random, prng] = nextRandom(context.prng);
      const retryIntervalMs = nextRetryInterval(context.retryIntervalMs, context.policy, jitterFrom(random));
      const failed = context.inFlight;
      return {
        prng,
        retryIntervalMs,
        backoffDelayMs: retryIntervalMs,
        lastRetryTs: at ?? context.lastRetryTs,
        failureTs: context.failureTs ?? at,
        transactionsFailed: context.transactionsFailed + 1,
        // The failed transaction goes back to the front and is retried first with the same contents.
        inFlight: null,
        txnCounter: failed ? context.txnCounter - 1 : context.txnCounter,
        queuedPdus: failed ? [...failed.pdus, ...context.queuedPdus] : context.queuedPdus,
        queuedEdus: failed ? [...failed.edus, ...context.queuedEdus] : context.queuedEdus,
      };
    }),
    resetRetry: assign({ retryIntervalMs: 0, backoffDelayMs: 0, lastRetryTs: null, failureTs: null }),
  },
  guards: {
    hasQueued: ({ context }) => context.queuedPdus.length > 0 || context.queuedEdus.length > 0,
    isFailing: ({ context }) => context.retryIntervalMs > 0,
    resumesBackoff: ({ context }) => context.retryIntervalMs > 0 && context.backoffDelayMs > 0,
    sent: ({ event }) => classifyTransactionStatus(outcomeOf((event as { output?: unknown }).output).status) === 'sent',
    rejected: ({ event }) => classifyTransactionStatus(outcomeOf((event as { output?: unknown }).output).status) === 'rejected',
  },
  delays: {
    retryBackoff: ({ context }) => context.backoffDelayMs,
  },
}).createMachine({
  id: 'destination',
  context: ({ input }) => {
    const policy = { ...DEFAULT_RETRY_POLICY, ...input.policy };
    const retryIntervalMs = input.retryIntervalMs ?? 0;
    const lastRetryTs = input.lastRetryTs ?? null;
    const remaining =
      retryIntervalMs > 0 && lastRetryTs !== null && input.now !== undefined
        ? Math.max(0, lastRetryTs + retryIntervalMs - input.now)
        : retryIntervalMs;
    return {
      server: input.server,
      policy,
      prng: input.seed ?? seedFrom(input.server),
      txnIdPrefix: input.txnIdPrefix ?? '',
      txnCounter: 0,
      queuedPdus: [],
      queuedEdus: [],
      inFlight: null,
      retryIntervalMs,
      backoffDelayMs: remaining,
      lastRetryTs,
      failureTs: input.failureTs ?? null,
      transactionsSent: 0,
      transactionsFailed: 0,
      transactionsRejected: 0,
    };
  },
  initial: 'booting',
  on: {
    PDU_QUEUED: { actions: assign({ queuedPdus: ({ context, event }) => [...context.queuedPdus, ...event.pdus] }) },
    EDU_QUEUED: { actions: assign({ queuedEdus: ({ context, event }) => [...context.queuedEdus, ...event.edus] }) },
  },
  states: {
    // Transient: a destination hydrated with a pending retry interval resumes its back-off.
    booting: {
      always: [{ guard: 'resumesBackoff', target: 'backingOff' }, { target: 'idle' }],
    },
    idle: {
      on: { REMOTE_UP: { guard: 'isFailing', actions: ['resetRetry', PERSIST] } },
      always: [
        { guard: and(['hasQueued', 'isFailing']), target: 'catchingUp' },
        { guard: 'hasQueued', target: 'sending' },
      ],
    },
    sending: transmitOneTransaction,
    backingOff: {
      after: {
        retryBackoff: [{ guard: 'hasQueued', target: 'catchingUp' }, { target: 'idle' }],
      },
      on: {
        REMOTE_UP: [
          { guard: 'hasQueued', target: 'catchingUp', actions: ['resetRetry', PERSIST] },
          { target: 'idle', actions: ['resetRetry', PERSIST] },
        ],
      },
    },
    // The first transaction after a back-off: same mechanics as sending, kept apart so the admin page
    // and metrics show a destination that is probing a server which was down.
    catchingUp: transmitOneTransaction,
  },
});

export type DestinationActor = ActorRefFrom<typeof destinationMachine>;
export type DestinationSnapshot = SnapshotFrom<typeof destinationMachine>;

/** Key figures for the admin listing. */
export function destinationFigures(context: DestinationContext): Record<string, number | string | null> {
  return {
    server: context.server,
    queuedPdus: context.queuedPdus.length,
    queuedEdus: context.queuedEdus.length,
    inFlightTxnId: context.inFlight?.txnId ?? null,
    retryIntervalMs: context.retryIntervalMs,
    failureTs: context.failureTs,
    transactionsSent: context.transactionsSent,
    transactionsFailed: context.transactionsFailed,
  };
}
