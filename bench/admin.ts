// `npm run bench -- admin [--users N] [--rounds R]`: what seeing the actors costs with N users syncing (each
// waiting in one long-poll, all in one big room): one /metrics render, the admin page's listing (without user
// streams) and the full listing, the wake path with and without an admin page subscribed (XState inspection
// on), and sanitising one inspection event for the XState inspector.
import type { BenchRow } from './run.ts';
import { median, arg } from './lib/harness.ts';
import { startActorSystem } from '../actors/system.ts';
import { createAdminPort } from '../actors/adminPort.ts';
import { sanitiseInspectionEvent } from '../actors/inspection.ts';
import { createMetrics } from '../src/metrics/metrics.ts';
import type { WaitResult } from '../src/notifier.ts';
import type { StatelyInspectionEvent } from '@statelyai/inspect';

async function time(rounds: number, fn: () => unknown): Promise<number> {
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

export async function run(args: string[]): Promise<BenchRow[]> {
  const users = arg(args, '--users', 100_000);
  const rounds = arg(args, '--rounds', 5);
  const sys = startActorSystem({ loadRoomsForUser: async () => ['!everyone:bench.example'] });
  const admin = createAdminPort(sys);
  const metrics = createMetrics({ actors: admin });
  const userIds = Array.from({ length: users }, (_, i) => `@user${i}:bench.example`);
  const controllers = userIds.map(() => new AbortController());
  const { notifier } = sys;
  let position = 0;
  const pollAll = (): Promise<WaitResult>[] => {
    const since = notifier.currentToken();
    return userIds.map((u, i) => notifier.waitForEvents(u, since, 30 * 60_000, (controllers[i] as AbortController).signal));
  };
  let waits = pollAll();
  await new Promise((r) => setImmediate(r));

  const scrapeMs = await time(rounds, () => metrics.render());
  const pageListMs = await time(rounds, () => admin.list({ userStreams: false }));
  const fullListMs = await time(rounds, () => admin.list());

  const wakeRound = async (): Promise<number> => {
    const t0 = performance.now();
    notifier.notify({ stream: 'events', position: ++position, rooms: ['!everyone:bench.example'] });
    await Promise.all(waits);
    const us = ((performance.now() - t0) * 1000) / users;
    waits = pollAll();
    await new Promise((r) => setImmediate(r));
    return us;
  };
  const plain: number[] = [];
  for (let r = 0; r < rounds; r++) plain.push(await wakeRound());
  let changes = 0;
  const unsubscribe = admin.subscribe(() => changes++);
  const watched: number[] = [];
  for (let r = 0; r < rounds; r++) watched.push(await wakeRound());
  unsubscribe();
  for (const c of controllers) c.abort();
  await Promise.all(waits);
  sys.stop();

  // One appservice snapshot event as the inspector would send it (context with a failure, the done event).
  const event = {
    type: '@xstate.snapshot',
    sessionId: 'x:3',
    rootId: 'x:0',
    createdAt: '0',
    id: null,
    _version: '0.7.2',
    event: { type: 'xstate.done.actor.takeTransaction', output: { txnId: 't1', toPosition: 9, events: 100, hs_token: 'secret' } },
    snapshot: {
      status: 'active',
      value: { down: 'waiting' },
      context: { serviceId: 'irc', status: 'down', backoffStep: 3, nextRetryAt: 1, pending: false, position: 8, notifiedPosition: 9, inFlight: null, clockAt: 1, transactionTimeoutMs: 60000, transactionsSent: 5, transactionsFailed: 3, lastFailure: { kind: 'status', status: 503, txnId: 't1' } },
    },
  } as unknown as StatelyInspectionEvent;
  const n = 100_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sanitiseInspectionEvent(event);
  const sanitiseUs = ((performance.now() - t0) * 1000) / n;

  return [
    { name: '/metrics render', value: scrapeMs, unit: 'ms', note: `median of ${rounds}, ${users} waiting user streams (counted, not listed)` },
    { name: 'admin page listing', value: pageListMs, unit: 'ms', note: 'list({ userStreams: false }): supervisor, children, stream counts' },
    { name: 'full listing', value: fullListMs, unit: 'ms', note: `list(): one row per user stream (${users})` },
    { name: 'wake: µs per woken stream', value: median(plain), unit: 'µs', note: 'nobody watching' },
    { name: 'wake with admin page subscribed', value: median(watched), unit: 'µs', note: `XState inspection on, ${changes} change callbacks` },
    { name: 'sanitise one inspection event', value: sanitiseUs, unit: 'µs', note: 'appservice snapshot + done event, rebuilt and redacted' },
  ];
}
