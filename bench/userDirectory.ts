// `npm run bench -- userDirectory [postgres://...] [--users N] [--rooms R] [--searches S]`: POST
// /user_directory/search latency over real HTTP. N local users (default 5,000) with display names spread over R
// public rooms (default 50); the searcher shares none of them, so every result comes through the public-room rule.
// Three terms: one matching every user (limit 10, limited), one matching a single display name, one matching
// nobody. Uses PostgreSQL when a URL is given (or TEST_DATABASE_URL is set), else PGlite in memory.
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
  const users = arg(args, '--users', 5000);
  const roomCount = arg(args, '--rooms', 50);
  const searches = arg(args, '--searches', 200);
  const backend = await openBackend(url, 'userdir');
  const dataDirectory = await mkdtemp(path.join(tmpdir(), 'troupe-bench-userdir-'));
  const config = normaliseConfig({ server_name: 'bench.local', data_directory: dataDirectory, listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }] } as Parameters<typeof normaliseConfig>[0], {});
  const server = await startServer(config, createLogger({ level: 'silent' }), { db: backend.db });
  const base = `${server.listeners[0]?.url}/_matrix/client/v3`;
  const rows: BenchRow[] = [];
  try {
    const searcher = await addUser(backend.db, '@searcher:bench.local', 'Searcher');
    const tokens: string[] = [];
    for (let i = 0; i < users; i++) tokens.push(await addUser(backend.db, `@member${i}:bench.local`, `Member ${i} Person`));
    const rooms: string[] = [];
    for (let r = 0; r < roomCount; r++) {
      const owner = tokens[r] as string;
      rooms.push(encodeURIComponent((await request(`${base}/createRoom`, 'POST', owner, { preset: 'public_chat' }))['room_id'] as string));
    }
    // Each user joins one room; 10 joins at a time.
    const joins = tokens.map((token, i) => ({ token, room: rooms[i % roomCount] as string })).filter((_, i) => i >= roomCount);
    for (let i = 0; i < joins.length; i += 10) {
      await Promise.all(joins.slice(i, i + 10).map((j) => request(`${base}/rooms/${j.room}/join`, 'POST', j.token, {})));
    }

    // Statistics as autovacuum would have them on a server that has been running (a fresh database has none).
    await backend.db.query('ANALYZE');

    const cases: [string, Record<string, unknown>][] = [
      ['every user matches', { search_term: 'person', limit: 10 }],
      ['one display name', { search_term: `member ${Math.floor(users / 2)} person` }],
      ['no match', { search_term: 'nobody-here' }],
    ];
    for (const [name, body] of cases) {
      for (let i = 0; i < 20; i++) await request(`${base}/user_directory/search`, 'POST', searcher, body); // warm-up
      const times: number[] = [];
      let last: Record<string, unknown> = {};
      for (let i = 0; i < searches; i++) {
        const start = performance.now();
        last = await request(`${base}/user_directory/search`, 'POST', searcher, body);
        times.push(performance.now() - start);
      }
      const sorted = [...times].sort((a, b) => a - b);
      const results = (last['results'] as unknown[]).length;
      const note = `${backend.name}, ${users} users in ${roomCount} public rooms, ${searches} searches; ${results} results, limited ${String(last['limited'])}`;
      rows.push({ name: `search: ${name}`, value: median(times), unit: 'ms (median)', note });
      rows.push({ name: `search: ${name}, p95`, value: sorted[Math.floor(sorted.length * 0.95)] ?? NaN, unit: 'ms' });
    }
  } finally {
    await server.close();
    await backend.close();
    await rm(dataDirectory, { recursive: true, force: true });
  }
  return rows;
}
