// Wiring of the appservice machine (machines/appservice.ts) to storage and HTTP: transactions are built and
// stored by the TransactionBuilder, PUT to the service with its hs_token in the Authorization header (never in
// the query string), acknowledged in storage; UP/DOWN and the back-off step are persisted. At boot every
// registration with a URL gets its row (new ones at the current events position) and its actor's input from it:
// a service stored as DOWN starts in its recoverer at its stored step. A crashed `as:<id>` actor is started again
// the same way, from its row, by a machine per service that waits its back-off (createAppserviceRestarter).
import { createActor, fromPromise } from 'xstate';
import type { Actor, AnyActorRef } from 'xstate';
import { appserviceMachine } from '../machines/appservice.ts';
import { appserviceRestartMachine } from '../machines/appserviceRestart.ts';
import type {
  AppserviceInput,
  BackoffChange,
  CompleteOutcome,
  CompleteTransactionInput,
  SendOutcome,
  SendTransactionInput,
  ServiceStateChange,
  TakeTransactionInput,
  TakenTransaction,
} from '../machines/appservice.ts';
import type { Registration } from '../src/appservice/registration.ts';
import { ensureSenderUsers } from '../src/appservice/service.ts';
import { TransactionBuilder } from '../src/appservice/transactions.ts';
import { PostgresRoomAliasStore } from '../src/storage/aliases.ts';
import type { Database } from '../src/storage/database.ts';
import type { EventStore } from '../src/storage/events.ts';
import { PostgresUserStore } from '../src/storage/users.ts';
import type { Logger } from '../src/log.ts';
import type { StreamNotification } from '../src/notifier.ts';
import type { TroupeMetrics } from '../src/metrics/metrics.ts';
import { PostgresAppserviceStore } from '../src/storage/appservices.ts';
import type { AppserviceStateRecord, AppserviceStatus, AppserviceStore, EphemeralStreamPositions } from '../src/storage/appservices.ts';
import type { SystemClock } from './clock.ts';

export interface AppserviceEffects {
  clock: SystemClock;
  store: AppserviceStore;
  builder: TransactionBuilder;
  /** By service id: the registrations that have actors. */
  registrations: ReadonlyMap<string, Registration>;
  logger: Logger;
  metrics?: TroupeMetrics['appservice'];
}

function registrationOf(effects: AppserviceEffects, serviceId: string): Registration {
  const reg = effects.registrations.get(serviceId);
  if (!reg) throw new Error(`no registration for application service ${JSON.stringify(serviceId)}`);
  return reg;
}

/** PUTs one stored transaction; the status, or null when there was no answer. Aborted through `signal`. */
async function putTransaction(reg: Registration, txnId: string, body: string, signal: AbortSignal): Promise<number | null> {
  try {
    const response = await fetch(`${reg.url ?? ''}/_matrix/app/v1/transactions/${encodeURIComponent(txnId)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${reg.hsToken}`, 'content-type': 'application/json' },
      body,
      signal,
    });
    // The body is not needed, but reading it frees the connection for reuse.
    await response.arrayBuffer().catch(() => undefined);
    return response.status;
  } catch {
    return null;
  }
}

export function provideAppservice(effects: AppserviceEffects) {
  const { clock, store, logger } = effects;
  // State writes of one service are applied in order (markDown, then the step of the wait it starts, ...).
  const writes = new Map<string, Promise<unknown>>();
  const persist = (serviceId: string, write: () => Promise<unknown>) => {
    const next = (writes.get(serviceId) ?? Promise.resolve())
      .then(write)
      .catch((error: unknown) => logger.error({ err: error, service: serviceId }, 'could not persist appservice state'));
    writes.set(serviceId, next);
  };
  // Transaction ids already PUT once in this process: a second PUT is a retry (metrics only).
  const attempted = new Set<string>();
  const setState = (serviceId: string, state: AppserviceStatus, backoffStep?: number) =>
    persist(serviceId, () => store.setState(serviceId, state, backoffStep));

  return appserviceMachine.provide({
    actors: {
      takeTransaction: fromPromise<TakenTransaction | null, TakeTransactionInput>(async ({ input }) => {
        const taken = await effects.builder.take(registrationOf(effects, input.serviceId), input.limits.events);
        if (!taken) return null;
        return { txnId: taken.txnId, toPosition: taken.toPosition, events: taken.events, ephemeral: taken.ephemeral, toDevice: taken.toDevice, at: clock.now() };
      }),
      sendTransaction: fromPromise<SendOutcome, SendTransactionInput>(async ({ input, signal }) => {
        const reg = registrationOf(effects, input.serviceId);
        const body = await effects.builder.contents(input.serviceId, input.txnId);
        // Completed meanwhile (nothing else completes them, but a missing row must not wedge the service).
        if (body === null) return { status: 200, at: clock.now() };
        const key = `${input.serviceId}\u0000${input.txnId}`;
        const retried = attempted.has(key);
        attempted.add(key);
        const started = performance.now();
        const status = await putTransaction(reg, input.txnId, body, signal);
        const ok = status !== null && status >= 200 && status < 300;
        effects.metrics?.transactionSeconds.observe({ service: reg.id }, (performance.now() - started) / 1000);
        effects.metrics?.transactions.inc({ service: reg.id, outcome: ok ? 'sent' : 'failed' });
        if (retried) effects.metrics?.transactions.inc({ service: reg.id, outcome: 'retried' });
        if (ok) attempted.delete(key);
        else if (!signal.aborted) logger.warn({ service: reg.id, txnId: input.txnId, status }, 'appservice transaction failed');
        return { status, at: clock.now() };
      }),
      completeTransaction: fromPromise<CompleteOutcome, CompleteTransactionInput>(async ({ input }) => {
        await store.completeTransaction(input.serviceId, input.txnId, input.toPosition);
        effects.builder.forget(input.serviceId, input.txnId);
        return { at: clock.now() };
      }),
    },
    actions: {
      markDown: (_args, change: ServiceStateChange) => {
        logger.warn({ service: change.serviceId }, 'appservice is DOWN; retrying with back-off');
        setState(change.serviceId, 'down');
      },
      markUp: (_args, change: ServiceStateChange) => {
        logger.info({ service: change.serviceId }, 'appservice is UP again');
        setState(change.serviceId, 'up', 0);
      },
      persistBackoff: (_args, change: BackoffChange) => setState(change.serviceId, 'down', change.backoffStep),
    },
  });
}

export interface BootAppservicesOptions {
  registrations: readonly Registration[];
  store: AppserviceStore;
  /** The events position at boot: where services seen for the first time start. */
  eventsPosition: number;
  /** The receipts, presence and to-device positions at boot: where services start on the streams they are not yet on. */
  ephemeralPositions: EphemeralStreamPositions;
  clock: SystemClock;
  transactionTimeoutMs?: number;
}

/** An actor's input from the service's stored row. */
function inputFromRow(
  serviceId: string,
  state: AppserviceStateRecord | undefined,
  fallbackPosition: number,
  clock: SystemClock,
  transactionTimeoutMs: number | undefined,
): AppserviceInput {
  return {
    serviceId,
    down: state?.state === 'down',
    position: state?.streamPosition ?? fallbackPosition,
    // A stored transaction, or events committed while we were away: look at once.
    pending: true,
    backoffStep: state?.backoffStep ?? 1,
    now: clock.now(),
    ...(transactionTimeoutMs !== undefined ? { transactionTimeoutMs } : {}),
  };
}

/** The input of each pushed-to service's actor, from its stored rows (created for new services). */
export async function bootAppservices(options: BootAppservicesOptions): Promise<AppserviceInput[]> {
  const pushed = options.registrations.filter((r) => r.url !== null);
  const states = await options.store.ensureServices(
    pushed.map((r) => ({ serviceId: r.id, ephemeral: r.receiveEphemeral, toDevice: r.receiveToDevice })),
    options.eventsPosition,
    options.ephemeralPositions,
  );
  return pushed.map((reg) => inputFromRow(reg.id, states.get(reg.id), options.eventsPosition, options.clock, options.transactionTimeoutMs));
}

export interface AppserviceRestarter {
  /** The actor `as:<serviceId>` crashed with `error`: read its row and `spawn` it again (after restartDelayMs). */
  restart(serviceId: string, error: unknown, spawn: (input: AppserviceInput) => void): void;
  /** No more restarts (the actor system stops); pending ones are dropped. */
  stop(): void;
}

export interface AppserviceRestarterOptions {
  store: AppserviceStore;
  clock: SystemClock;
  logger: Logger;
  /** The services that have actors. */
  serviceIds: ReadonlySet<string>;
  transactionTimeoutMs?: number;
}

/** One appserviceRestartMachine per service, started at its first crash: it counts the crashes and waits the delays. */
export function createAppserviceRestarter(options: AppserviceRestarterOptions): AppserviceRestarter {
  const { store, clock, logger } = options;
  const logic = (respawn: (input: AppserviceInput) => void) =>
    appserviceRestartMachine.provide({
      actors: {
        readRow: fromPromise<AppserviceInput, { serviceId: string }>(async ({ input }) => {
          const state = await store.serviceState(input.serviceId);
          if (!state) throw new Error('no stored state');
          return inputFromRow(input.serviceId, state, state.streamPosition, clock, options.transactionTimeoutMs);
        }),
      },
      actions: {
        logCrash: (_args, crash) =>
          logger.error({ err: crash.error, service: crash.serviceId, restartInMs: crash.restartInMs }, 'appservice actor crashed'),
        respawn: (_args, input) => {
          respawn(input);
          logger.info({ service: input.serviceId, state: input.down ? 'down' : 'up' }, 'appservice actor restarted from its stored state');
        },
      },
    });
  const restarters = new Map<string, { actor: Actor<ReturnType<typeof logic>>; spawn: (input: AppserviceInput) => void }>();
  let stopped = false;

  return {
    restart: (serviceId, error, spawn) => {
      if (stopped || !options.serviceIds.has(serviceId)) return;
      let restarter = restarters.get(serviceId);
      if (!restarter) {
        const created = { spawn, actor: createActor(logic((input) => created.spawn(input)), { clock, input: { serviceId } }) };
        restarters.set(serviceId, created);
        restarter = created;
        // Only a throwing spawn or logger could stop it: logged, not thrown at the process.
        created.actor.subscribe({ error: (err: unknown) => logger.error({ err, service: serviceId }, 'appservice restarter stopped') });
        created.actor.start();
      }
      restarter.spawn = spawn;
      restarter.actor.send({ type: 'CRASHED', error });
    },
    stop: () => {
      stopped = true;
      for (const { actor } of restarters.values()) actor.stop();
      restarters.clear();
    },
  };
}

/** The running `as:<id>` actor, if any (for ping and operator retries). */
export function appserviceActor(supervisor: AnyActorRef, serviceId: string): AnyActorRef | undefined {
  const child = (supervisor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[`as:${serviceId}`];
  return child && child.getSnapshot().status === 'active' ? child : undefined;
}

export interface PrepareAppservicesOptions {
  db: Database;
  registrations: readonly Registration[];
  events: EventStore;
  /** The events stream's readable position (the generator's, read whenever a transaction is built). */
  eventsPosition(): number;
  /** The receipts, presence and to-device streams' positions at boot. */
  ephemeralPositions: EphemeralStreamPositions;
  clock: SystemClock;
  logger: Logger;
  transactionTimeoutMs: number;
}

export interface PreparedAppservices {
  /** What startActorSystem spawns, what it tells the builder of every stream notification, and who restarts crashes. */
  actors: {
    logic: ReturnType<typeof provideAppservice>;
    inputs: AppserviceInput[];
    observe(n: StreamNotification): void;
    restarter: AppserviceRestarter;
  };
  builder: TransactionBuilder;
  /** Metrics exist only once the actor system runs (they list its actors): handed over then. */
  useMetrics(metrics: TroupeMetrics['appservice']): void;
}

/** Storage rows, sender users and the provided machine of every registration, before the actor system starts. */
export async function prepareAppservices(options: PrepareAppservicesOptions): Promise<PreparedAppservices> {
  const { db, registrations, clock } = options;
  const store = new PostgresAppserviceStore(db);
  await ensureSenderUsers(new PostgresUserStore(db), registrations, clock.now());
  const builder = new TransactionBuilder({
    store,
    aliases: new PostgresRoomAliasStore(db),
    events: options.events,
    eventsPosition: options.eventsPosition,
    now: () => clock.now(),
  });
  const effects: AppserviceEffects = {
    clock,
    store,
    builder,
    registrations: new Map(registrations.map((r) => [r.id, r])),
    logger: options.logger.child({ actor: 'appservice' }),
  };
  const inputs = await bootAppservices({
    registrations,
    store,
    eventsPosition: options.eventsPosition(),
    ephemeralPositions: options.ephemeralPositions,
    clock,
    transactionTimeoutMs: options.transactionTimeoutMs,
  });
  return {
    actors: {
      logic: provideAppservice(effects),
      inputs,
      observe: (n) => builder.streamAdvanced(n),
      restarter: createAppserviceRestarter({
        store,
        clock,
        logger: effects.logger,
        serviceIds: new Set(inputs.map((i) => i.serviceId)),
        transactionTimeoutMs: options.transactionTimeoutMs,
      }),
    },
    builder,
    useMetrics: (metrics) => {
      effects.metrics = metrics;
    },
  };
}
