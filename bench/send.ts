// `npm run bench -- send [postgres://...] [--messages N] [--rounds R] [--clients C]`: messages per second into one room over real
// HTTP (PUT /rooms/{roomId}/send/m.room.message/{txnId}) from 1 client and from 10 concurrent clients, each client
// sending its next message as soon as the previous one is answered (the clients run in a worker thread,
// bench/send/clients.ts, so they do not share the server's event loop). A request is answered only after its event is
// committed. Uses PostgreSQL when a URL is given (or TEST_DATABASE_URL is set): a throwaway database is created and
// dropped; otherwise PGlite in memory. Reports throughput and the median latency per request, median of R rounds.
// `--clients C` runs only the phase with C clients (for before/after comparisons run back to back).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BenchRow } from './run.ts';
import { median, arg, openBackend, addUser, databaseUrlArg, request } from './lib/harness.ts';
import { cpuPerMessage, cpuSnapshot } from './send/cpu.ts';
import { normaliseConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { startServer } from '../src/main.ts';

export async function run(args: string[]): Promise<BenchRow[]> {
  const url = databaseUrlArg(args);
  const messages = arg(args, '--messages', 3000);
  const rounds = arg(args, '--rounds', 3);
  const only = arg(args, '--clients', 0);
  const backend = await openBackend(url, 'send');
  const dataDirectory = await mkdtemp(path.join(tmpdir(), 'troupe-bench-send-'));
  const config = normaliseConfig({ server_name: 'bench.local', data_directory: dataDirectory, listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }] } as Parameters<typeof normaliseConfig>[0], {});
  const server = await startServer(config, createLogger({ level: 'silent' }), { db: backend.db });
  const base = `${server.listeners[0]?.url}/_matrix/client/v3`;
  const rows: BenchRow[] = [];
  try {
    const tokens = await Promise.all(Array.from({ length: Math.max(10, only) }, (_, i) => addUser(backend.db, `@sender${i}:bench.local`)));
    const owner = tokens[0] as string;
    const created = await request(`${base}/createRoom`, 'POST', owner, { preset: 'public_chat' });
    const roomId = encodeURIComponent(created['room_id'] as string);
    for (const token of tokens.slice(1)) await request(`${base}/rooms/${roomId}/join`, 'POST', token, {});

    let round = 0;
    // PostgreSQL's processes are read from /proc only when the server is on this machine.
    const local = url !== undefined && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
    const phase = async (clients: number, total: number) => {
      const before = await cpuSnapshot(backend.db, local);
      const perClient = Math.ceil(total / clients);
      const result = await new Promise<{ rate: number; latency: number }>((resolve, reject) => {
        const worker = new Worker(new URL('./send/clients.ts', import.meta.url), {
          workerData: { base, roomId, tokens: tokens.slice(0, clients), perClient, txnPrefix: `r${++round}-` },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      return { ...result, cpu: cpuPerMessage(before, await cpuSnapshot(backend.db, local), perClient * clients) };
    };

    await phase(10, 500); // warm-up: JIT, connection pools, the room's cached state
    for (const clients of only > 0 ? [only] : [1, 10]) {
      const results: Awaited<ReturnType<typeof phase>>[] = [];
      for (let r = 0; r < rounds; r++) results.push(await phase(clients, messages));
      const note = `${backend.name}, ${messages} messages per round, median of ${rounds}: ${results.map((x) => Math.round(x.rate)).join(', ')} msg/s`;
      rows.push({ name: `send, ${clients} client${clients > 1 ? 's' : ''}`, value: median(results.map((x) => x.rate)), unit: 'msg/s', note });
      rows.push({ name: `send latency, ${clients} client${clients > 1 ? 's' : ''}`, value: median(results.map((x) => x.latency)), unit: 'ms (median)' });
      const cpu = (part: 'node' | 'postgres') => results.map((x) => x.cpu[part]).filter((x): x is number => x !== null);
      rows.push({ name: `CPU per message, ${clients} client${clients > 1 ? 's' : ''}: Troupe and clients`, value: median(cpu('node')), unit: 'µs (median)' });
      if (cpu('postgres').length > 0) {
        rows.push({ name: `CPU per message, ${clients} client${clients > 1 ? 's' : ''}: PostgreSQL`, value: median(cpu('postgres')), unit: 'µs (median)' });
      }
    }
  } finally {
    await server.close();
    await backend.close();
    await rm(dataDirectory, { recursive: true, force: true });
  }
  return rows;
}
