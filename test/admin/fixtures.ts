// Test wiring for actors the supervisor does not spawn yet: an appservice actor with fake storage and a fake
// service that fails until told to recover (issue 7 wires the real sender), and a destination hydrated in its
// back-off. Both are created inside the server's actor system (parent: the supervisor) so inspection sees
// them, and attached to the admin port so the listing, retries and metrics see them.
import { createActor, fromPromise } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { appserviceMachine } from '../../machines/appservice.ts';
import type { CompleteOutcome, CompleteTransactionInput, SendOutcome, SendTransactionInput, TakenTransaction, TakeTransactionInput } from '../../machines/appservice.ts';
import { destinationMachine } from '../../machines/destination.ts';
import type { AdminPort } from '../../actors/adminPort.ts';

/** Strings that must never leave the server through inspection or the admin page. */
export const SECRETS = {
  hsToken: 'hs_SECRET_hs_token_8a7f',
  asToken: 'as_SECRET_as_token_91bc',
  accessToken: 'syt_SECRET_access_token_77d1',
  password: 'SECRET-password-0d3e',
  body: 'SECRET message body 5c2a',
  signingKey: 'SECRET_ed25519_seed_4f9b',
};

export interface FakeAppservice {
  actor: AnyActorRef;
  /** While true, every PUT answers 503. */
  failing: boolean;
  puts: number;
}

/** Something to stop the actor after the test: actors made with a parent are not stopped with the system. */
export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

/**
 * Stops an actor that has a parent (XState refuses `stop()` for those; `_stop()` is what a parent does to
 * its children), cancelling its timers so that the test process can exit.
 */
function stopAfter(t: AfterHook, actor: AnyActorRef): void {
  t.after(() => {
    (actor as unknown as { _stop(): void })._stop();
  });
}

export function spawnFakeAppservice(t: AfterHook, system: { supervisor: AnyActorRef }, admin: AdminPort, serviceId = 'bridge'): FakeAppservice {
  const fake = { failing: true, puts: 0 } as FakeAppservice;
  let stored: TakenTransaction | null = { txnId: 'txn1', toPosition: 5, events: 3, ephemeral: 0, toDevice: 0 };
  const machine = appserviceMachine.provide({
    actors: {
      // The stored transaction, described together with things a careless inspector would leak.
      takeTransaction: fromPromise<TakenTransaction | null, TakeTransactionInput>(async () =>
        stored
          ? ({
              ...stored,
              at: Date.now(),
              hs_token: SECRETS.hsToken,
              as_token: SECRETS.asToken,
              contents: { events: [{ type: 'm.room.message', content: { msgtype: 'm.text', body: SECRETS.body } }] },
            } as TakenTransaction)
          : null,
      ),
      sendTransaction: fromPromise<SendOutcome, SendTransactionInput>(async () => {
        fake.puts++;
        return { status: fake.failing ? 503 : 200, at: Date.now() };
      }),
      completeTransaction: fromPromise<CompleteOutcome, CompleteTransactionInput>(async () => {
        stored = null;
        return { at: Date.now() };
      }),
    },
  });
  fake.actor = createActor(machine, {
    parent: system.supervisor,
    id: `as:${serviceId}`,
    input: { serviceId, pending: true, now: Date.now() },
  });
  admin.attach(fake.actor);
  stopAfter(t, fake.actor);
  fake.actor.start();
  return fake;
}

/** A destination that failed a second ago and is backing off for 10 minutes. */
export function spawnBackingOffDestination(t: AfterHook, system: { supervisor: AnyActorRef }, admin: AdminPort, server = 'remote.example'): AnyActorRef {
  const now = Date.now();
  const actor = createActor(destinationMachine, {
    parent: system.supervisor,
    id: `dest:${server}`,
    input: { server, retryIntervalMs: 600_000, lastRetryTs: now - 1000, failureTs: now - 1000, now },
  });
  admin.attach(actor);
  stopAfter(t, actor);
  actor.start();
  return actor;
}

/** Resolves once `predicate` holds for the actor's snapshot (checked on every change, never by sleeping). */
export function waitForSnapshot(actor: AnyActorRef, predicate: (snapshot: { value: unknown; context: unknown }) => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (predicate(actor.getSnapshot() as { value: unknown; context: unknown })) return resolve();
    const sub = actor.subscribe((snapshot: { value: unknown; context: unknown }) => {
      if (predicate(snapshot)) {
        sub.unsubscribe();
        resolve();
      }
    });
  });
}

export const isDown = (s: { value: unknown }) => typeof s.value === 'object' && s.value !== null && 'down' in s.value;
export const isUp = (s: { value: unknown }) => typeof s.value === 'object' && s.value !== null && 'up' in s.value;
