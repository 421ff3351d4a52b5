// One application service we push transactions to (DESIGN.md §4, Appservice).
//
//   up.idle ──NOTIFY──▶ up.sending (taking → putting → completing) ──▶ up.checking ──more──▶ up.sending.putting
//                                         │ failure                          └──none──▶ up.idle
//                                         ▼
//   down.waiting ──2^n s / PING_OK / RETRY_NOW──▶ down.retrying (taking → putting → completing ─┐)
//        ▲                                             │ failure           ▲ drain on           │
//        └─────────────────────────────────────────────┘                   └────────────────────┘
//                                                      └── nothing left ──▶ markUp, up.idle
//
// The machine never holds events. Storage is the truth: the injected `takeTransaction` returns the oldest
// stored transaction for the service, or builds and STORES the next one from the events after the
// service's stored position (so the row exists before the PUT and a crash resends the same txnId with
// the same contents); `sendTransaction` PUTs a stored transaction; `completeTransaction` advances the
// stored position and deletes the row. NOTIFY only says "there is more": it never makes a second
// request while one is in flight, and while DOWN new events wait in storage for full catch-up batches.
//
// No clocks in here: waits are named delays, and times come from what the injected actors report
// (`at`, from the actor system's clock), or from the input at boot.
import { assign, fromPromise, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';

export const MAX_EVENTS_PER_TRANSACTION = 100;
export const MAX_EPHEMERAL_PER_TRANSACTION = 100;
export const MAX_TO_DEVICE_PER_TRANSACTION = 100;
/** Back-off step n waits 2^n seconds: n = 1 after the first failure, one more per failure, at most 9 (512 s). */
export const MIN_BACKOFF_STEP = 1;
export const MAX_BACKOFF_STEP = 9;
/** How long a PUT may take before it counts as failed (the sender should also abort on its signal). */
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000;

export interface TransactionLimits {
  events: number;
  ephemeral: number;
  toDevice: number;
}

export const TRANSACTION_LIMITS: TransactionLimits = {
  events: MAX_EVENTS_PER_TRANSACTION,
  ephemeral: MAX_EPHEMERAL_PER_TRANSACTION,
  toDevice: MAX_TO_DEVICE_PER_TRANSACTION,
};

export function backoffDelayMs(step: number): number {
  return 2 ** Math.min(MAX_BACKOFF_STEP, Math.max(MIN_BACKOFF_STEP, step)) * 1000;
}

export interface TakeTransactionInput {
  serviceId: string;
  /** The service's stored position as the machine knows it (storage decides). */
  afterPosition: number;
  limits: TransactionLimits;
}

/** A stored transaction, described; its contents stay in storage (the sender reads them by txnId). */
export interface TakenTransaction {
  txnId: string;
  /** The stream position the service will be at once this transaction is completed. */
  toPosition: number;
  events: number;
  ephemeral: number;
  toDevice: number;
  /** When it was taken, from the actor system's clock. */
  at?: number;
}

export interface SendTransactionInput {
  serviceId: string;
  txnId: string;
}

/** HTTP status of the PUT (null when there was no answer: refused, DNS, TLS, timeout) and when it ended. */
export interface SendOutcome {
  status: number | null;
  at?: number;
}

export interface CompleteTransactionInput {
  serviceId: string;
  txnId: string;
  toPosition: number;
}

export interface CompleteOutcome {
  at?: number;
}

/** What markDown / markUp persist. */
export interface ServiceStateChange {
  serviceId: string;
  /** When, as far as the machine knows (null before any actor reported a time). */
  at: number | null;
}

/** What persistBackoff persists: the step of the wait that starts now. */
export interface BackoffChange {
  serviceId: string;
  backoffStep: number;
}

export interface AppserviceInput {
  serviceId: string;
  /** The stored state at boot: a service that was DOWN starts in its recoverer. */
  down?: boolean;
  /** The stored stream position. */
  position?: number;
  /** Whether there may be something to send at boot (a stored transaction, or events past the position). */
  pending?: boolean;
  /** The back-off step to resume at when booting DOWN (default 1: first retry after 2 s). */
  backoffStep?: number;
  /** The clock's time at boot. */
  now?: number;
  transactionTimeoutMs?: number;
}

export type FailureKind = 'status' | 'unreachable' | 'timeout' | 'storage';

export interface InFlightTransaction {
  txnId: string;
  toPosition: number;
  events: number;
  ephemeral: number;
  toDevice: number;
}

export interface AppserviceContext {
  serviceId: string;
  /** UP or DOWN as persisted through markUp / markDown. */
  status: 'up' | 'down';
  /** n of the current back-off (0 while healthy). */
  backoffStep: number;
  /** When the recoverer will retry (null when not waiting, or when no time is known). */
  nextRetryAt: number | null;
  /** A NOTIFY (or boot) said there may be more than what was last taken. */
  pending: boolean;
  /** The last stored (completed) stream position. */
  position: number;
  /** The highest position a NOTIFY carried. */
  notifiedPosition: number;
  inFlight: InFlightTransaction | null;
  /** The latest time an injected actor reported. */
  clockAt: number | null;
  transactionTimeoutMs: number;
  transactionsSent: number;
  transactionsFailed: number;
  lastFailure: { kind: FailureKind; status: number | null; txnId: string | null } | null;
}

export type AppserviceEvent =
  /**
   * New facts may interest this service: events committed up to `position` (DESIGN.md §3), or, without a
   * position, receipts, typing, presence or to-device messages.
   */
  | { type: 'NOTIFY'; position?: number }
  /** The service answered a ping (POST /_matrix/client/v1/appservice/{id}/ping succeeded): retry now. */
  | { type: 'PING_OK' }
  /** An operator asked for a retry now. */
  | { type: 'RETRY_NOW' };

function isSuccess(status: number | null): boolean {
  return status !== null && status >= 200 && status < 300;
}

function timeIn(value: unknown): number | null {
  const at = (value as { at?: unknown } | null | undefined)?.at;
  return typeof at === 'number' && Number.isFinite(at) ? at : null;
}

function takenFrom(output: unknown): InFlightTransaction | null {
  const o = output as Partial<TakenTransaction> | null | undefined;
  if (!o || typeof o.txnId !== 'string' || typeof o.toPosition !== 'number') return null;
  return {
    txnId: o.txnId,
    toPosition: o.toPosition,
    events: o.events ?? 0,
    ephemeral: o.ephemeral ?? 0,
    toDevice: o.toDevice ?? 0,
  };
}

type Ev = { type: string; output?: unknown; error?: unknown };

const STATE_CHANGE = ({ context }: { context: AppserviceContext }): ServiceStateChange => ({
  serviceId: context.serviceId,
  at: context.clockAt,
});

const BACKOFF_CHANGE = ({ context }: { context: AppserviceContext }): BackoffChange => ({
  serviceId: context.serviceId,
  backoffStep: context.backoffStep,
});

/** Any failure (the service's, or storage's while sending): persist DOWN and start the recoverer. */
const GO_DOWN = { target: '#appservice.down', actions: ['recordFailure', 'setDown', { type: 'markDown', params: STATE_CHANGE }] } as const;

/** What takeTransaction needs: the oldest stored transaction, or the next batch after the stored position. */
const TAKE_INPUT = ({ context }: { context: AppserviceContext }) => ({
  serviceId: context.serviceId,
  afterPosition: context.position,
  limits: TRANSACTION_LIMITS,
});

/**
 * Reading (or building and storing) the next transaction: taken → PUT it; none, but a NOTIFY came meanwhile → look
 * again rather than miss it; none → idle. Both `up.sending.taking` and `up.checking` are this step; they differ in
 * what the admin page shows (starting to send, or checking for more after a success).
 */
const takeTransactionState = (self: '#appservice.up.sending.taking' | '#appservice.up.checking') =>
  ({
    entry: 'clearPending',
    invoke: {
      id: 'takeTransaction',
      src: 'takeTransaction',
      input: TAKE_INPUT,
      onDone: [
        { guard: 'taken', target: '#appservice.up.sending.putting', actions: 'recordTaken' },
        { guard: 'pending', target: self, reenter: true, actions: 'recordNoneTaken' },
        { target: '#appservice.up.idle', actions: 'recordNoneTaken' },
      ],
      onError: GO_DOWN,
    },
  }) as const;

export const appserviceMachine = setup({
  types: {
    context: {} as AppserviceContext,
    events: {} as AppserviceEvent,
    input: {} as AppserviceInput,
  },
  actors: {
    takeTransaction: fromPromise<TakenTransaction | null, TakeTransactionInput>(async () => {
      throw new Error('takeTransaction must be provided');
    }),
    sendTransaction: fromPromise<SendOutcome, SendTransactionInput>(async () => {
      throw new Error('sendTransaction must be provided');
    }),
    completeTransaction: fromPromise<CompleteOutcome, CompleteTransactionInput>(async () => {
      throw new Error('completeTransaction must be provided');
    }),
  },
  actions: {
    /** Persist DOWN (provided in actors/). */
    markDown: (_args, _change: ServiceStateChange) => {},
    /** Persist UP (provided in actors/). */
    markUp: (_args, _change: ServiceStateChange) => {},
    /** Persist the back-off step the recoverer waits on, so a restart resumes it (provided in actors/). */
    persistBackoff: (_args, _step: BackoffChange) => {},
    recordNotify: assign(({ context, event }) => ({
      pending: true,
      notifiedPosition: Math.max(context.notifiedPosition, (event as { position?: number }).position ?? 0),
    })),
    clearPending: assign({ pending: false }),
    recordTaken: assign(({ context, event }) => ({
      inFlight: takenFrom((event as Ev).output),
      clockAt: timeIn((event as Ev).output) ?? context.clockAt,
    })),
    recordNoneTaken: assign(({ context, event }) => ({ clockAt: timeIn((event as Ev).output) ?? context.clockAt })),
    recordSent: assign(({ context, event }) => ({
      clockAt: timeIn((event as Ev).output) ?? context.clockAt,
      transactionsSent: context.transactionsSent + 1,
    })),
    recordCompleted: assign(({ context, event }) => ({
      position: context.inFlight ? Math.max(context.position, context.inFlight.toPosition) : context.position,
      inFlight: null,
      clockAt: timeIn((event as Ev).output) ?? context.clockAt,
    })),
    /** A failed attempt: one more back-off step (capped). The stored transaction stays for the retry. */
    recordFailure: assign(({ context, event }) => {
      const e = event as Ev;
      let kind: FailureKind;
      let status: number | null = null;
      let at: number | null;
      if (e.type.startsWith('xstate.after.')) {
        kind = 'timeout';
        at = context.clockAt === null ? null : context.clockAt + context.transactionTimeoutMs;
      } else if (e.type === 'xstate.done.actor.sendTransaction') {
        status = (e.output as SendOutcome | undefined)?.status ?? null;
        kind = status === null ? 'unreachable' : 'status';
        at = timeIn(e.output);
      } else if (e.type === 'xstate.error.actor.sendTransaction') {
        kind = 'unreachable';
        at = timeIn(e.error);
      } else {
        kind = 'storage';
        at = timeIn(e.error);
      }
      return {
        backoffStep: Math.min(MAX_BACKOFF_STEP, Math.max(context.backoffStep + 1, MIN_BACKOFF_STEP)),
        clockAt: at ?? context.clockAt,
        transactionsFailed: context.transactionsFailed + 1,
        lastFailure: { kind, status, txnId: context.inFlight?.txnId ?? null },
        inFlight: null,
      };
    }),
    setDown: assign({ status: 'down' as const }),
    setUp: assign({ status: 'up' as const, backoffStep: 0, nextRetryAt: null }),
    scheduleRetry: assign(({ context }) => ({
      nextRetryAt: context.clockAt === null ? null : context.clockAt + backoffDelayMs(context.backoffStep),
    })),
    clearRetry: assign({ nextRetryAt: null }),
    resetBackoff: assign({ backoffStep: 0 }),
  },
  guards: {
    pending: ({ context }) => context.pending,
    bootedDown: ({ context }) => context.status === 'down',
    taken: ({ event }) => takenFrom((event as Ev).output) !== null,
    sent: ({ event }) => isSuccess(((event as Ev).output as SendOutcome | undefined)?.status ?? null),
  },
  delays: {
    retryDelay: ({ context }) => backoffDelayMs(context.backoffStep),
    transactionTimeout: ({ context }) => context.transactionTimeoutMs,
  },
}).createMachine({
  id: 'appservice',
  context: ({ input }) => ({
    serviceId: input.serviceId,
    status: input.down ? 'down' : 'up',
    backoffStep: input.down ? Math.min(MAX_BACKOFF_STEP, Math.max(MIN_BACKOFF_STEP, input.backoffStep ?? 1)) : 0,
    nextRetryAt: null,
    // Unknown at boot means "look": a stored transaction left by a crash must be resent.
    pending: input.pending ?? true,
    position: input.position ?? 0,
    notifiedPosition: input.position ?? 0,
    inFlight: null,
    clockAt: input.now ?? null,
    transactionTimeoutMs: input.transactionTimeoutMs ?? DEFAULT_TRANSACTION_TIMEOUT_MS,
    transactionsSent: 0,
    transactionsFailed: 0,
    lastFailure: null,
  }),
  initial: 'booting',
  // Anywhere not listed below, NOTIFY only records that there is more.
  on: { NOTIFY: { actions: 'recordNotify' } },
  states: {
    // Transient: a service stored as DOWN starts in its recoverer (DESIGN.md §2).
    booting: {
      always: [{ guard: 'bootedDown', target: 'down' }, { target: 'up' }],
    },
    up: {
      initial: 'idle',
      states: {
        idle: {
          always: { guard: 'pending', target: 'sending' },
          on: { NOTIFY: { target: 'sending', actions: 'recordNotify' } },
        },
        sending: {
          initial: 'taking',
          states: {
            taking: takeTransactionState('#appservice.up.sending.taking'),
            putting: {
              invoke: {
                id: 'sendTransaction',
                src: 'sendTransaction',
                input: ({ context }) => ({ serviceId: context.serviceId, txnId: context.inFlight?.txnId ?? '' }),
                onDone: [
                  { guard: 'sent', target: 'completing', actions: 'recordSent' },
                  GO_DOWN,
                ],
                onError: GO_DOWN,
              },
              after: {
                transactionTimeout: GO_DOWN,
              },
            },
            completing: {
              invoke: {
                id: 'completeTransaction',
                src: 'completeTransaction',
                input: ({ context }) => ({
                  serviceId: context.serviceId,
                  txnId: context.inFlight?.txnId ?? '',
                  toPosition: context.inFlight?.toPosition ?? context.position,
                }),
                onDone: { target: '#appservice.up.checking', actions: 'recordCompleted' },
                // The service has the transaction; completing it is retried by the recoverer, which
                // resends the same txnId (the service deduplicates by txnId).
                onError: GO_DOWN,
              },
            },
          },
        },
        // Is there more in storage? Then straight on with the next transaction; if not, idle.
        checking: takeTransactionState('#appservice.up.checking'),
      },
    },
    down: {
      initial: 'waiting',
      states: {
        waiting: {
          entry: ['scheduleRetry', { type: 'persistBackoff', params: BACKOFF_CHANGE }],
          exit: 'clearRetry',
          after: { retryDelay: 'retrying' },
          on: {
            PING_OK: 'retrying',
            RETRY_NOW: 'retrying',
          },
        },
        // The recoverer: resend the oldest stored transaction, then keep draining in full batches.
        retrying: {
          initial: 'taking',
          states: {
            taking: {
              entry: 'clearPending',
              invoke: {
                id: 'takeTransaction',
            src: 'takeTransaction',
                input: TAKE_INPUT,
                onDone: [
                  { guard: 'taken', target: 'putting', actions: 'recordTaken' },
                  { guard: 'pending', target: 'taking', reenter: true, actions: 'recordNoneTaken' },
                  { target: '#appservice.up.idle', actions: ['recordNoneTaken', 'setUp', { type: 'markUp', params: STATE_CHANGE }] },
                ],
                onError: { target: '#appservice.down.waiting', actions: 'recordFailure' },
              },
            },
            putting: {
              invoke: {
                id: 'sendTransaction',
                src: 'sendTransaction',
                input: ({ context }) => ({ serviceId: context.serviceId, txnId: context.inFlight?.txnId ?? '' }),
                onDone: [
                  { guard: 'sent', target: 'completing', actions: 'recordSent' },
                  { target: '#appservice.down.waiting', actions: 'recordFailure' },
                ],
                onError: { target: '#appservice.down.waiting', actions: 'recordFailure' },
              },
              after: {
                transactionTimeout: { target: '#appservice.down.waiting', actions: 'recordFailure' },
              },
            },
            completing: {
              invoke: {
                id: 'completeTransaction',
                src: 'completeTransaction',
                input: ({ context }) => ({
                  serviceId: context.serviceId,
                  txnId: context.inFlight?.txnId ?? '',
                  toPosition: context.inFlight?.toPosition ?? context.position,
                }),
                // Each success resets n; the next failure waits 2 s again.
                onDone: { target: 'taking', actions: ['recordCompleted', 'resetBackoff'] },
                onError: { target: '#appservice.down.waiting', actions: 'recordFailure' },
              },
            },
          },
        },
      },
    },
  },
});

export type AppserviceActor = ActorRefFrom<typeof appserviceMachine>;
export type AppserviceSnapshot = SnapshotFrom<typeof appserviceMachine>;

/** The state as a dotted path, e.g. `down.retrying.putting`. */
export function appserviceStateOf(snapshot: AppserviceSnapshot): string {
  const parts: string[] = [];
  let value: unknown = snapshot.value;
  while (value !== null && typeof value === 'object') {
    const [key, inner] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    if (key === undefined) break;
    parts.push(key);
    value = inner;
  }
  if (typeof value === 'string') parts.push(value);
  return parts.join('.');
}

/** Key figures for the admin page and metrics. */
export function appserviceFigures(snapshot: AppserviceSnapshot): Record<string, number | string | boolean | null> {
  const c = snapshot.context;
  return {
    serviceId: c.serviceId,
    state: appserviceStateOf(snapshot),
    status: c.status,
    backoffStep: c.backoffStep,
    nextRetryAt: c.nextRetryAt,
    pending: c.pending,
    position: c.position,
    notifiedPosition: c.notifiedPosition,
    inFlightTxnId: c.inFlight?.txnId ?? null,
    transactionsSent: c.transactionsSent,
    transactionsFailed: c.transactionsFailed,
    lastFailure: c.lastFailure?.kind ?? null,
  };
}
