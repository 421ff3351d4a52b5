// `npm run bench -- wakeup [--users N] [--rounds R] [--no-own-room]`: N users are syncing (each waiting
// in one long-poll, all joined to one big room and, unless --no-own-room, one room of their own); one event is routed to the big room and every
// waiting request wakes. Reports µs per woken stream (notify until every waiting promise has settled),
// µs per re-poll, heap bytes per waiting and per idle stream, and for scale the cost of a plain XState
// actor event on this machine.
import v8 from 'node:v8';
import vm from 'node:vm';
import { createActor, setup } from 'xstate';
import type { BenchRow } from './run.ts';
import { median, arg } from './lib/harness.ts';
import { startActorSystem } from '../actors/system.ts';
import type { SystemClock } from '../actors/clock.ts';
import { USER_STREAM_RELISTEN_GRACE_MS } from '../machines/supervisor.ts';
import type { WaitResult } from '../src/notifier.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export async function run(args: string[]): Promise<BenchRow[]> {
  const users = arg(args, '--users', 100_000);
  const rounds = arg(args, '--rounds', 5);
  const ownRoom = !args.includes('--no-own-room');
  const timeoutMs = 30 * 60_000;

  // Real timers; `now` can be moved forward so the re-listen grace can pass without waiting 30 s.
  let offset = 0;
  const clock: SystemClock = {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
    now: () => Date.now() + offset,
  };
  const userIds = Array.from({ length: users }, (_, i) => `@user${i}:bench.example`);
  const controllers = Array.from({ length: users }, () => new AbortController());
  const base = heap();

  const sys = startActorSystem({ clock, loadRoomsForUser: async (userId) => (ownRoom ? ['!everyone:bench.example', `!own-${userId}`] : ['!everyone:bench.example']),
  });
  const { notifier } = sys;
  let position = 0;

  const pollAll = (since = notifier.currentToken()): Promise<WaitResult>[] =>
    userIds.map((u, i) => notifier.waitForEvents(u, since, timeoutMs, (controllers[i] as AbortController).signal));

  // First poll opens every stream (room loading, actor spawn); not timed.
  let waits = pollAll();
  await new Promise((r) => setImmediate(r));
  if (sys.userStreams.waitingRequests !== users) throw new Error(`expected ${users} waiting, got ${sys.userStreams.waitingRequests}`);
  const waitingBytes = (heap() - base) / users;

  const wakeUs: number[] = [];
  const repollUs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    notifier.notify({ stream: 'events', position: ++position, rooms: ['!everyone:bench.example'] });
    const results = await Promise.all(waits);
    const t1 = performance.now();
    if (results.some((x) => x.reason !== 'advanced')) throw new Error('a stream did not wake');
    wakeUs.push(((t1 - t0) * 1000) / users);
    if (r === rounds - 1) break;
    // The sync loop: every client polls again with its new token.
    const since = notifier.currentToken();
    const t2 = performance.now();
    waits = pollAll(since);
    const t3 = performance.now();
    repollUs.push(((t3 - t2) * 1000) / users);
    await new Promise((r2) => setImmediate(r2));
  }
  waits = [];

  // Nobody polls again: after the grace every stream loses its actor and becomes a compact idle record.
  offset += USER_STREAM_RELISTEN_GRACE_MS + 1;
  const t4 = performance.now();
  sys.userStreams.demoteLapsed();
  const demoteUs = ((performance.now() - t4) * 1000) / users;
  await new Promise((r) => setImmediate(r));
  const counts = sys.userStreams.counts();
  if (counts.idle !== users || Object.keys(sys.supervisor.getSnapshot().children).length !== 0) {
    throw new Error(`demotion incomplete: ${JSON.stringify(counts)}`);
  }
  const idleBytes = (heap() - base) / users;

  // An event to everyone while idle: tokens advance, nobody wakes.
  const t5 = performance.now();
  notifier.notify({ stream: 'events', position: ++position, rooms: ['!everyone:bench.example'] });
  const idleRouteUs = ((performance.now() - t5) * 1000) / users;
  sys.stop();

  // For scale: a plain XState actor receiving one event, and its heap.
  const plain = setup({ types: { events: {} as { type: 'PING' } } }).createMachine({
    initial: 'a',
    states: { a: { on: { PING: 'b' } }, b: { on: { PING: 'a' } } },
  });
  const n = Math.min(users, 20_000);
  const h0 = heap();
  const actors = Array.from({ length: n }, () => createActor(plain).start());
  const plainBytes = (heap() - h0) / n;
  const t6 = performance.now();
  for (const a of actors) a.send({ type: 'PING' });
  const plainUs = ((performance.now() - t6) * 1000) / n;
  for (const a of actors) a.stop();

  return [
    { name: 'wake: µs per woken stream', value: median(wakeUs), unit: 'µs', note: `median of ${rounds} rounds, ${users} waiting streams, notify -> all promises settled (target ≤ 5)` },
    { name: 'wake: first round', value: wakeUs[0] ?? NaN, unit: 'µs', note: 'first event after the streams opened' },
    { name: 're-poll: µs per waitForEvents', value: median(repollUs), unit: 'µs', note: 'registering the next long-poll of every client' },
    { name: 'heap per waiting stream', value: waitingBytes, unit: 'B', note: 'record + user-stream actor + waiting request (promise, timer, abort listener)' },
    { name: 'heap per idle stream', value: idleBytes, unit: 'B', note: `compact record + ${ownRoom ? 2 : 1} index entries (incl. room id strings and per-room sets), no actor (target ≤ 2048)` },
    { name: 'demotion: µs per stream', value: demoteUs, unit: 'µs', note: 'grace passed with nobody polling: LISTENERS_LAPSED + actor stop' },
    { name: 'route to idle: µs per stream', value: idleRouteUs, unit: 'µs', note: 'token advance only' },
    { name: 'plain XState actor event', value: plainUs, unit: 'µs', note: `for scale, ${n} actors` },
    { name: 'plain XState actor heap', value: plainBytes, unit: 'B', note: 'for scale' },
  ];
}
