// What the benchmark scenarios share: argument parsing, medians, a throwaway migrated database, fast test users,
// Client-Server calls.
import pg from 'pg';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { MIGRATIONS_DIR } from '../../src/main.ts';
import type { Database } from '../../src/storage/database.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { openDatabase } from '../../src/storage/open.ts';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** `--name N` from the arguments, or the fallback. */
export function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** A postgres:// URL among the arguments, else TEST_DATABASE_URL, else undefined (PGlite). */
export function databaseUrlArg(args: string[]): string | undefined {
  return args.find((a) => a.startsWith('postgres://') || a.startsWith('postgresql://')) ?? process.env['TEST_DATABASE_URL'];
}

export interface Backend {
  db: Database;
  name: string;
  close(): Promise<void>;
}

/** A migrated database: a throwaway `troupe_bench_<label>_<pid>` on the PostgreSQL server at url, else PGlite in memory. */
export async function openBackend(url: string | undefined, label: string): Promise<Backend> {
  if (!url) {
    const db = await openDatabase({ backend: 'pglite', path: 'memory://' });
    await migrate(db, { migrationsDir: MIGRATIONS_DIR });
    return { db, name: 'PGlite (in memory)', close: () => db.close() };
  }
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const name = `troupe_bench_${label}_${process.pid}`;
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

/** A local user with a logged-in device, written straight to the database; returns its access token. */
export async function addUser(db: Database, userId: string, displayname?: string): Promise<string> {
  const token = generateAccessToken();
  const deviceId = generateDeviceId();
  const now = Date.now();
  await db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, null, false, $2)', [userId, now]);
  await db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, $3)', [userId, deviceId, now]);
  await db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [hashAccessToken(token), userId, deviceId, now]);
  if (displayname !== undefined) {
    await db.query(`INSERT INTO profile_fields (user_id, field, value) VALUES ($1, 'displayname', $2::jsonb)`, [userId, JSON.stringify(displayname)]);
  }
  return token;
}

/** A Client-Server call that must answer 200 (the benchmark stops otherwise); no token, no body when left out. */
export async function request(url: string, method: string, token: string | undefined, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
