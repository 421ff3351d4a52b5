// `npm run bench -- directory [postgres://...] [--rooms N] [--requests R] [--runs K]`: the published room directory and
// alias resolution over real HTTP. Creates N published rooms through POST /createRoom (each with a name, a topic and
// an alias; every tenth gets a second member), then times, one request at a time, R requests each of:
//   GET  /publicRooms?limit=20                          (first page)
//   POST /publicRooms {limit: 20, filter: {generic_search_term}}   (a term matching about 1% of the rooms)
//   GET  /directory/room/{alias}                        (resolve a local alias)
// Reports requests per second and the median latency, the median of K runs. PostgreSQL when a URL is given (or
// TEST_DATABASE_URL is set; a throwaway database is created and dropped), else PGlite in memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchRow } from './run.ts';
import { median, arg, openBackend, addUser, databaseUrlArg, request } from './lib/harness.ts';
import { normaliseConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { startServer } from '../src/main.ts';

export async function run(args: string[]): Promise<BenchRow[]> {
  const url = databaseUrlArg(args);
  const roomCount = arg(args, '--rooms', 1000);
  const requests = arg(args, '--requests', 200);
  const runs = arg(args, '--runs', 3);
  const backend = await openBackend(url, 'directory');
  const dataDirectory = await mkdtemp(path.join(tmpdir(), 'troupe-bench-directory-'));
  const config = normaliseConfig({ server_name: 'bench.local', data_directory: dataDirectory, listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }] } as Parameters<typeof normaliseConfig>[0], {});
  const server = await startServer(config, createLogger({ level: 'silent' }), { db: backend.db });
  const base = `${server.listeners[0]?.url}/_matrix/client/v3`;
  const rows: BenchRow[] = [];
  try {
    const owner = await addUser(backend.db, '@owner:bench.local');
    const guest = await addUser(backend.db, '@guest:bench.local');
    const words = ['tea', 'coffee', 'chess', 'rust', 'matrix', 'birds', 'hiking', 'jazz', 'films', 'books'];
    let next = 0;
    const createOne = async (): Promise<void> => {
      for (let i = next++; i < roomCount; i = next++) {
        const body = { visibility: 'public', preset: 'public_chat', name: `${words[i % words.length]} club ${i}`, topic: `room number ${i}`, room_alias_name: `club${i}` };
        const { room_id: roomId } = await request(`${base}/createRoom`, 'POST', owner, body);
        if (i % 10 === 0) await request(`${base}/rooms/${encodeURIComponent(roomId as string)}/join`, 'POST', guest, {});
      }
    };
    await Promise.all(Array.from({ length: 8 }, createOne));

    const scenarios: { name: string; call: (i: number) => Promise<unknown> }[] = [
      { name: 'GET /publicRooms?limit=20', call: () => request(`${base}/publicRooms?limit=20`, 'GET', undefined) },
      {
        name: 'POST /publicRooms search (1% match)',
        call: (i) => request(`${base}/publicRooms`, 'POST', owner, { limit: 20, filter: { generic_search_term: `club ${(i % 10) * 7}` } }),
      },
      { name: 'GET /directory/room/{alias}', call: (i) => request(`${base}/directory/room/${encodeURIComponent(`#club${i % roomCount}:bench.local`)}`, 'GET', undefined) },
    ];
    for (const scenario of scenarios) {
      for (let i = 0; i < 20; i++) await scenario.call(i); // warm-up
      const rates: number[] = [];
      const latencies: number[] = [];
      for (let r = 0; r < runs; r++) {
        const each: number[] = [];
        const start = performance.now();
        for (let i = 0; i < requests; i++) {
          const t = performance.now();
          await scenario.call(i);
          each.push(performance.now() - t);
        }
        rates.push(requests / ((performance.now() - start) / 1000));
        latencies.push(median(each));
      }
      const note = `${backend.name}, ${roomCount} published rooms, ${requests} sequential requests per run, runs: ${rates.map((x) => Math.round(x)).join(', ')} req/s`;
      rows.push({ name: scenario.name, value: median(rates), unit: 'req/s', note });
      rows.push({ name: `${scenario.name} latency`, value: median(latencies), unit: 'ms (median)' });
    }
  } finally {
    await server.close();
    await backend.close();
    await rm(dataDirectory, { recursive: true, force: true });
  }
  return rows;
}
