// `npm run bench -- userDirectory [postgres://...] [--users N] [--rooms R] [--searches S]`: POST
// /user_directory/search latency over real HTTP. N local users (default 5,000) with display names spread over R
// public rooms (default 50); the searcher shares none of them, so every result comes through the public-room rule.
// Three terms: one matching every user (limit 10, limited), one matching a single display name, one matching
// nobody. Uses PostgreSQL when a URL is given (or TEST_DATABASE_URL is set), else PGlite in memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { BenchRow } from './run.ts';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../src/auth/accessTokens.ts';
import { normaliseConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { MIGRATIONS_DIR, startServer } from '../src/main.ts';
import type { Database } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrations.ts';
import { openDatabase } from '../src/storage/open.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function openBackend(url: string | undefined): Promise<{ db: Database; name: string; close(): Promise<void> }> {
  if (!url) {
    const db = await openDatabase({ backend: 'pglite', path: 'memory://' });
    await migrate(db, { migrationsDir: MIGRATIONS_DIR });
    return { db, name: 'PGlite (in memory)', close: () => db.close() };
  }
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const name = `troupe_bench_userdir_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  const db = await openDatabase({ backend: 'postgres', url: dbUrl.toString(), poolMax: 10 });
  await migrate(db, { migrationsDir: MIGRATIONS_DIR });
  return {
    db,
    name: 'PostgreSQL',
    close: async () => {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

async function addUser(db: Database, userId: string, displayname: string): Promise<string> {
  const token = generateAccessToken();
  const deviceId = generateDeviceId();
  const now = Date.now();
  await db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, null, false, $2)', [userId, now]);
  await db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, $3)', [userId, deviceId, now]);
  await db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [hashAccessToken(token), userId, deviceId, now]);
  await db.query(`INSERT INTO profile_fields (user_id, field, value) VALUES ($1, 'displayname', $2::jsonb)`, [userId, JSON.stringify(displayname)]);
  return token;
}

async function request(url: string, token: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function run(args: string[]): Promise<BenchRow[]> {
  const url = args.find((a) => a.startsWith('postgres://') || a.startsWith('postgresql://')) ?? process.env['TEST_DATABASE_URL'];
  const users = arg(args, '--users', 5000);
  const roomCount = arg(args, '--rooms', 50);
  const searches = arg(args, '--searches', 200);
  const backend = await openBackend(url);
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
      rooms.push(encodeURIComponent((await request(`${base}/createRoom`, owner, { preset: 'public_chat' }))['room_id'] as string));
    }
    // Each user joins one room; 10 joins at a time.
    const joins = tokens.map((token, i) => ({ token, room: rooms[i % roomCount] as string })).filter((_, i) => i >= roomCount);
    for (let i = 0; i < joins.length; i += 10) {
      await Promise.all(joins.slice(i, i + 10).map((j) => request(`${base}/rooms/${j.room}/join`, j.token, {})));
    }

    // Statistics as autovacuum would have them on a server that has been running (a fresh database has none).
    await backend.db.query('ANALYZE');

    const cases: [string, Record<string, unknown>][] = [
      ['every user matches', { search_term: 'person', limit: 10 }],
      ['one display name', { search_term: `member ${Math.floor(users / 2)} person` }],
      ['no match', { search_term: 'nobody-here' }],
    ];
    for (const [name, body] of cases) {
      for (let i = 0; i < 20; i++) await request(`${base}/user_directory/search`, searcher, body); // warm-up
      const times: number[] = [];
      let last: Record<string, unknown> = {};
      for (let i = 0; i < searches; i++) {
        const start = performance.now();
        last = await request(`${base}/user_directory/search`, searcher, body);
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
