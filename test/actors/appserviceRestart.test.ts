// The supervisor restarts a crashed `as:<id>` actor from its stored row (DESIGN.md §2 and §4): an injected action
// that throws unexpectedly kills the actor; a new one starts in the state storage holds (here still DOWN, at its
// stored back-off step), first at once, then after 1 s, 2 s, ... when it keeps crashing (machines/appserviceRestart.ts).
// On a SimulatedClock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { appserviceMachine, appserviceStateOf, type AppserviceSnapshot, type TakeTransactionInput, type TakenTransaction } from '../../machines/appservice.ts';
import { bootAppservices, createAppserviceRestarter } from '../../actors/appservice.ts';
import { CRASH_MEMORY_MS, MAX_RESTART_DELAY_MS, appserviceRestartMachine, restartDelayMs } from '../../machines/appserviceRestart.ts';
import type { AppserviceInput } from '../../machines/appservice.ts';
import { startActorSystem, type TroupeActors } from '../../actors/system.ts';
import { createLogger } from '../../src/log.ts';
import { PostgresAppserviceStore } from '../../src/storage/appservices.ts';
import type { Registration } from '../../src/appservice/registration.ts';
import { forEachBackend } from '../helpers/database.ts';

const SERVICE = 'crashy';
const POSITIONS = { receipts: 0, presence: 0, toDevice: 0 };

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Yields to pending promises and I/O a few times (for asserting that something did NOT happen). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

test('restart delays: at once, then 1 s doubling up to 60 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 8, 20].map(restartDelayMs), [0, 1000, 2000, 4000, 8000, 60_000, 60_000]);
});

/** The restart machine alone, on a SimulatedClock: `reads` counts row reads; `failReads` of them fail first. */
function restartMachine(failReads = 0) {
  const clock = new SimulatedClock();
  const seen = { reads: 0, respawned: 0, logged: [] as number[] };
  let failsLeft = failReads;
  const actor = createActor(
    appserviceRestartMachine.provide({
      actors: {
        readRow: fromPromise<AppserviceInput, { serviceId: string }>(async ({ input }) => {
          seen.reads++;
          if (failsLeft > 0) {
            failsLeft--;
            throw new Error('the database is away');
          }
          return { serviceId: input.serviceId, down: true, position: 7, pending: true, backoffStep: 3, now: clock.now() };
        }),
      },
      actions: {
        logCrash: (_args, crash) => seen.logged.push(crash.restartInMs),
        respawn: () => void seen.respawned++,
      },
    }),
    { clock, input: { serviceId: SERVICE } },
  ).start();
  return { clock, actor, seen };
}

test('restart machine: the n-th crash in a row waits its named delay, then reads the row and respawns', async () => {
  const { clock, actor, seen } = restartMachine();
  actor.send({ type: 'CRASHED', error: new Error('1') });
  await until(() => seen.respawned === 1, 'the restart at once');
  actor.send({ type: 'CRASHED', error: new Error('2') });
  assert.equal(actor.getSnapshot().value.restart, 'waiting');
  clock.increment(999);
  await settle();
  assert.equal(seen.reads, 1, 'not read before 1 s');
  clock.increment(1);
  await until(() => seen.respawned === 2, 'the restart after 1 s');
  actor.send({ type: 'CRASHED', error: new Error('3') });
  clock.increment(1999);
  await settle();
  assert.equal(seen.respawned, 2);
  clock.increment(1);
  await until(() => seen.respawned === 3, 'the restart after 2 s');
  assert.deepEqual(seen.logged, [0, 1000, 2000]);
  // A crash more than CRASH_MEMORY_MS after the previous one is a first crash again: restarted at once.
  clock.increment(CRASH_MEMORY_MS + 1);
  assert.equal(actor.getSnapshot().context.crashesInARow, 0);
  actor.send({ type: 'CRASHED', error: new Error('4') });
  await until(() => seen.respawned === 4, 'the restart at once after a quiet spell');
  assert.deepEqual(seen.logged, [0, 1000, 2000, 0]);
  // The memory counts from the latest crash: crashes less than CRASH_MEMORY_MS apart stay in a row.
  clock.increment(CRASH_MEMORY_MS - 1);
  actor.send({ type: 'CRASHED', error: new Error('5') });
  clock.increment(1000);
  await until(() => seen.respawned === 5, 'the restart after 1 s');
  clock.increment(CRASH_MEMORY_MS - 1001);
  actor.send({ type: 'CRASHED', error: new Error('6') });
  assert.deepEqual(seen.logged, [0, 1000, 2000, 0, 1000, 2000]);
  actor.stop();
});

test('restart machine: a failed read is one more crash, tried again after the next delay; stop drops a pending restart', async () => {
  const { clock, actor, seen } = restartMachine(1);
  actor.send({ type: 'CRASHED', error: new Error('1') });
  await until(() => seen.logged.length === 2, 'the failed read counted as a crash');
  assert.deepEqual(seen.logged, [0, 1000]);
  assert.equal(seen.respawned, 0);
  clock.increment(1000);
  await until(() => seen.respawned === 1, 'the restart after 1 s');
  actor.send({ type: 'CRASHED', error: new Error('2') });
  actor.stop();
  clock.increment(MAX_RESTART_DELAY_MS);
  await settle();
  assert.equal(seen.reads, 2, 'no read after stop');
  assert.equal(seen.respawned, 1);
});

forEachBackend('appservice actor restarts', (backend) => {
  async function setUp(t: { after(fn: () => Promise<void>): void }, crashes: number) {
    const db = await backend.fresh(t);
    const store = new PostgresAppserviceStore(db);
    const registration = { id: SERVICE, url: 'http://127.0.0.1:9', receiveEphemeral: false, receiveToDevice: false } as Registration;
    await store.ensureServices([{ serviceId: SERVICE, ephemeral: false, toDevice: false }], 7, POSITIONS);
    // Stored DOWN at back-off step 3 (the next retry waits 8 s).
    await store.setState(SERVICE, 'down', 3);
    const clock = new SimulatedClock();
    const inputs = await bootAppservices({ registrations: [registration], store, eventsPosition: 7, ephemeralPositions: POSITIONS, clock });
    let crashesLeft = crashes;
    const logic = appserviceMachine.provide({
      actors: {
        // Nothing to send: a retry finds the service drained and marks it UP.
        takeTransaction: fromPromise<TakenTransaction | null, TakeTransactionInput>(async () => null),
      },
      actions: {
        markUp: () => {
          if (crashesLeft > 0) {
            crashesLeft--;
            throw new Error('an unexpected bug');
          }
          void store.setState(SERVICE, 'up', 0);
        },
      },
    });
    const restarter = createAppserviceRestarter({
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      serviceIds: new Set([SERVICE]),
    });
    const actors = startActorSystem({
      clock,
      loadRoomsForUser: async () => [],
      appservices: { logic, inputs, observe: () => {}, restarter },
    });
    t.after(async () => actors.stop());
    return { clock, actors, store };
  }

  const child = (actors: TroupeActors): AnyActorRef | undefined =>
    (actors.supervisor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[`as:${SERVICE}`];
  const stateOf = (ref: AnyActorRef | undefined) => (ref ? appserviceStateOf(ref.getSnapshot() as AppserviceSnapshot) : null);
  const crashCount = (actors: TroupeActors) => (actors.supervisor.getSnapshot().context as { childCrashes: number }).childCrashes;

  test('a crashed appservice actor is started again from its stored row', async (t) => {
    const { clock, actors, store } = await setUp(t, 1);
    const first = child(actors);
    assert.equal(stateOf(first), 'down.waiting');
    // The retry after 8 s finds nothing left; marking the service UP throws: the actor crashes.
    clock.increment(8000);
    await until(() => crashCount(actors) === 1, 'the crash');
    await until(() => child(actors) !== undefined, 'the restarted actor');
    const second = child(actors);
    assert.notEqual(second, first, 'a new actor');
    assert.equal(first?.getSnapshot().status, 'error');
    // From storage: still DOWN (UP was never stored), at the stored step 3.
    assert.equal(stateOf(second), 'down.waiting');
    assert.equal((second?.getSnapshot() as AppserviceSnapshot).context.backoffStep, 3);
    assert.equal((second?.getSnapshot() as AppserviceSnapshot).context.position, 7);
    assert.equal(actors.list().filter((r) => r.kind === 'appservice').length, 1, 'one actor for the service');
    // It carries on: the next retry succeeds and the service is UP, in memory and in storage.
    clock.increment(8000);
    await until(() => stateOf(child(actors)) === 'up.idle', 'UP');
    await until(async () => (await store.serviceState(SERVICE))?.state === 'up', 'UP stored');
    assert.equal(crashCount(actors), 1);
  });

  test('an actor that keeps crashing is restarted after growing delays', async (t) => {
    const { clock, actors } = await setUp(t, 3);
    clock.increment(8000);
    await until(() => crashCount(actors) === 1 && child(actors) !== undefined, 'the first restart, at once');
    clock.increment(8000);
    await until(() => crashCount(actors) === 2, 'the second crash');
    await settle();
    assert.equal(child(actors), undefined, 'not restarted at once after a second crash');
    clock.increment(999);
    await settle();
    assert.equal(child(actors), undefined);
    clock.increment(1);
    await until(() => child(actors) !== undefined, 'the restart after 1 s');
    clock.increment(8000);
    await until(() => crashCount(actors) === 3, 'the third crash');
    clock.increment(1999);
    await settle();
    assert.equal(child(actors), undefined);
    clock.increment(1);
    await until(() => child(actors) !== undefined, 'the restart after 2 s');
    clock.increment(8000);
    await until(() => stateOf(child(actors)) === 'up.idle', 'UP once it stops crashing');
  });
});
