// `npm run bench -- sync [postgres://...] [--members N] [--rounds R] [--warmup W] [--rooms N] [--room-members M] [--runs K] [--count-queries]`
// (a) Wake-up: N members of one room (1, then --members, default 1,000) each hold a long-poll /sync over real HTTP
//     (clients in a worker thread, bench/sync/pollers.ts); one of them sends a message; reported is the time from the
//     send being answered to each waiting /sync answering with it (median and p99 over members and rounds), and the
//     median over rounds of the slowest member. The first --warmup rounds (default 1) are run first and not counted,
//     as a server that has been up for a while has its code compiled (the initial sync below drops its first run too);
//     their slowest answer is given in the note.
// (b) Initial sync: one user in --rooms rooms (default 300) of --room-members members each (default 50), a few
//     messages in each; reported is the time of a /sync without `since` (median of --runs).
// Uses PostgreSQL when a URL is given (or TEST_DATABASE_URL is set), otherwise PGlite in memory.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BenchRow } from './run.ts';
import { addUser, arg, databaseUrlArg, median, openBackend, request } from './lib/harness.ts';
import { normaliseConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { startServer } from '../src/main.ts';

/** Runs `fn` over the items with at most `width` in flight. */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** What the pollers' worker answers: per answer, per round, and the warm-up rounds' slowest answers. */
interface Answers {
  latencies: number[];
  fromStart: number[];
  slowest: number[];
  warmupSlowest: number[];
}

/** The machine's CPU time so far from /proc/stat (Linux): all of it and the part stolen by the host (ticks). */
async function hostCpuTicks(): Promise<{ all: number; steal: number } | undefined> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) return undefined;
  return { all: ticks.reduce((a, b) => a + b, 0), steal: ticks[7] as number };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

export async function run(args: string[]): Promise<BenchRow[]> {
  const url = databaseUrlArg(args);
  const members = arg(args, '--members', 1000);
  const rounds = arg(args, '--rounds', 10);
  const warmup = arg(args, '--warmup', 1);
  const roomCount = arg(args, '--rooms', 300);
  const roomMembers = arg(args, '--room-members', 50);
  const runs = arg(args, '--runs', 5);
  const backend = await openBackend(url, 'sync');
  // --count-queries: how many statements of each kind the wake-up rounds sent (printed after them).
  const counted = args.includes('--count-queries') ? new Map<string, number>() : undefined;
  if (counted) {
    const query = backend.db.query.bind(backend.db);
    backend.db.query = ((sql: string, ...rest: unknown[]) => {
      const key = sql.replace(/\s+/g, ' ').slice(0, 90);
      counted.set(key, (counted.get(key) ?? 0) + 1);
      return (query as (...a: unknown[]) => unknown)(sql, ...rest);
    }) as typeof backend.db.query;
  }
  const dataDirectory = await mkdtemp(path.join(tmpdir(), 'troupe-bench-sync-'));
  const config = normaliseConfig(
    { server_name: 'bench.local', data_directory: dataDirectory, listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }] } as Parameters<typeof normaliseConfig>[0],
    {},
  );
  const server = await startServer(config, createLogger({ level: process.env['BENCH_LOG_LEVEL'] ?? 'silent' }), { db: backend.db });
  const base = `${server.listeners[0]?.url}/_matrix/client/v3`;
  const rows: BenchRow[] = [];
  try {
    // (a) wake-up latency.
    const tokens = await Promise.all(Array.from({ length: members }, (_, i) => addUser(backend.db, `@member${i}:bench.local`)));
    // The sender is the same user in both phases: their txn ids must differ (with --members 1 the sizes are equal).
    let phase = 0;
    for (const size of [1, members]) {
      const owner = tokens[0] as string;
      const roomId = (await request(`${base}/createRoom`, 'POST', owner, { preset: 'public_chat' }))['room_id'] as string;
      await inParallel(tokens.slice(1, size), 20, async (token) => {
        await request(`${base}/rooms/${encodeURIComponent(roomId)}/join`, 'POST', token, {});
      });
      counted?.clear();
      // Measured over the recorded rounds (the worker says when they start), not the first syncs or the warm-up.
      let cpuBefore = process.threadCpuUsage();
      let stealBefore: Awaited<ReturnType<typeof hostCpuTicks>>;
      const result = await new Promise<Answers>((resolve, reject) => {
        const worker = new Worker(new URL('./sync/pollers.ts', import.meta.url), {
          workerData: { base, roomId, tokens: tokens.slice(0, size), rounds, warmup, settleMs: size > 1 ? 1500 : 200, txnPrefix: `wake${size}-${phase++}-` },
        });
        worker.on('message', (message: 'started' | Answers) => {
          if (message !== 'started') return resolve(message);
          cpuBefore = process.threadCpuUsage();
          void hostCpuTicks().then((ticks) => (stealBefore = ticks));
        });
        worker.once('error', reject);
      });
      const cpu = process.threadCpuUsage(cpuBefore);
      const stealAfter = await hostCpuTicks();
      if (counted) {
        console.error(`statements during the wake-up rounds with ${size} members (most frequent first):`);
        for (const [sql, n] of [...counted].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.error(`${String(n).padStart(8)}  ${sql}`);
      }
      const label = `${size} member${size > 1 ? 's' : ''}`;
      console.error(`wake-up with ${label}: done`);
      const warmed = warmup > 0 ? ` after ${warmup} warm-up round${warmup > 1 ? 's' : ''} (slowest answer ${result.warmupSlowest.map((t) => Math.round(t)).join(', ')} ms)` : '';
      const note = `${backend.name}, ${rounds} rounds, ${result.latencies.length} answers${warmed}`;
      rows.push({ name: `send answered -> long poll answered, ${label}, median`, value: median(result.latencies), unit: 'ms', note });
      const perRound = `; per round: ${result.slowest.map((t) => Math.round(t)).join(', ')} ms`;
      rows.push({ name: `send answered -> long poll answered, ${label}, p99`, value: percentile(result.latencies, 99), unit: 'ms', note: size === 1 ? note + perRound : note });
      rows.push({ name: `send started -> long poll answered, ${label}, median`, value: median(result.fromStart), unit: 'ms', note });
      rows.push({ name: `send started -> long poll answered, ${label}, p99`, value: percentile(result.fromStart, 99), unit: 'ms', note });
      // The server's own thread (the clients run in the worker), and how much of the machine the host took meanwhile.
      const stolen = stealBefore && stealAfter ? `; host steal ${Math.round((100 * (stealAfter.steal - stealBefore.steal)) / Math.max(1, stealAfter.all - stealBefore.all))}% of CPU time` : '';
      rows.push({ name: `server thread CPU per round, ${label}`, value: (cpu.user + cpu.system) / 1000 / rounds, unit: 'ms', note: `${note}${stolen}` });
      if (size > 1) {
        rows.push({ name: `send answered -> last of ${label} answered`, value: median(result.slowest), unit: 'ms (median of rounds)', note: note + perRound });
      }
    }

    // (b) initial sync in many rooms.
    const people = await Promise.all(Array.from({ length: roomMembers - 1 }, (_, i) => addUser(backend.db, `@crowd${i}:bench.local`)));
    const user = await addUser(backend.db, '@busy:bench.local');
    const setupStarted = performance.now();
    await inParallel(
      Array.from({ length: roomCount }, (_, i) => i),
      8,
      async (i) => {
        const roomId = (await request(`${base}/createRoom`, 'POST', user, { preset: 'public_chat', name: `Room ${i}` }))['room_id'] as string;
        const room = encodeURIComponent(roomId);
        for (const token of people) await request(`${base}/rooms/${room}/join`, 'POST', token, {});
        for (let m = 0; m < 5; m++) await request(`${base}/rooms/${room}/send/m.room.message/r${i}m${m}`, 'PUT', people[m % people.length] as string, { msgtype: 'm.text', body: `message ${m}` });
      },
    );
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    console.error(`${roomCount} rooms of ${roomMembers} set up in ${Math.round(setupSeconds)} s`);
    const times: number[] = [];
    let bytes = 0;
    for (let r = 0; r < runs + 1; r++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/sync`, { headers: { authorization: `Bearer ${user}` } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`initial sync: ${res.status} ${text.slice(0, 300)}`);
      const joined = Object.keys((JSON.parse(text) as { rooms: { join: object } }).rooms.join).length;
      if (joined !== roomCount) throw new Error(`initial sync listed ${joined} rooms, expected ${roomCount}`);
      bytes = text.length;
      if (r > 0) times.push(performance.now() - t0); // the first run warms caches and the JIT
    }
    rows.push({
      name: `initial sync, ${roomCount} rooms of ${roomMembers} members`,
      value: median(times),
      unit: 'ms (median)',
      note: `${backend.name}, runs: ${times.map((t) => Math.round(t)).join(', ')} ms; ${Math.round(bytes / 1024)} KiB; setup ${Math.round(setupSeconds)} s`,
    });
  } finally {
    await server.close();
    await backend.close();
    await rm(dataDirectory, { recursive: true, force: true });
  }
  return rows;
}
