// What the end-to-end application service tests share: Troupe started on a clock `speed` times faster than real time
// (so the recoverer's back-off and the transaction timeout pass quickly) with one registration file, users written
// straight to the database, client calls that must succeed, and the transactions a service received, each once.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SystemClock } from '../../actors/clock.ts';
import { generateAccessToken, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { normaliseConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import type { Database } from '../../src/storage/database.ts';
import type { ReceivedTransaction } from './fakeService.ts';

export type Json = Record<string, unknown>;

function fastClock(speed: number): SystemClock {
  const t0 = Date.now();
  return {
    setTimeout: (fn, ms) => setTimeout(fn, ms / speed),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
    now: () => t0 + (Date.now() - t0) * speed,
  };
}

/** Starts (and, called again, restarts) Troupe on `db` with the service of `registrationFile` and a 20 s transaction timeout. */
export async function fastTroupe(db: Database, serverName: string, registrationFile: string, speed: number): Promise<() => Promise<RunningServer>> {
  const config = normaliseConfig(
    {
      server_name: serverName,
      data_directory: await mkdtemp(path.join(tmpdir(), 'troupe-as-')),
      listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }],
      app_service_config_files: [registrationFile],
      app_service_transaction_timeout: '20s',
    },
    {},
  );
  const logger = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  return () => startServer(config, logger, { db, clock: fastClock(speed) });
}

export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface Account {
  userId: string;
  token: string;
  deviceId: string;
}

/** A user with the given devices (the first logged in), straight in the database. */
export async function addUser(db: Database, userId: string, deviceIds: readonly string[] = ['DEV']): Promise<Account> {
  const token = generateAccessToken();
  const now = Date.now();
  await db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, NULL, false, $2)', [userId, now]);
  await db.query('INSERT INTO devices (user_id, device_id, created_ts) SELECT $1, d, $3 FROM unnest($2::text[]) AS d', [userId, [...deviceIds], now]);
  const deviceId = deviceIds[0] ?? 'DEV';
  await db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)', [
    hashAccessToken(token),
    userId,
    deviceId,
    now,
  ]);
  return { userId, token, deviceId };
}

/** A Client-Server call that must answer 200. */
export async function call(troupe: RunningServer, token: string, method: string, urlPath: string, body: unknown): Promise<Json> {
  const res = await fetch(`${troupe.listeners[0]?.url ?? ''}/_matrix/client/v3${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Json;
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

/** Each transaction once (a resend under the same txnId must carry the same contents). */
export function deduplicated(received: readonly ReceivedTransaction[]): ReceivedTransaction[] {
  const byTxn = new Map<string, string>();
  const out: ReceivedTransaction[] = [];
  for (const txn of received) {
    const contents = JSON.stringify(txn.body);
    const earlier = byTxn.get(txn.txnId);
    if (earlier !== undefined) {
      assert.equal(contents, earlier, `txnId ${txn.txnId} resent with the same contents`);
      continue;
    }
    byTxn.set(txn.txnId, contents);
    out.push(txn);
  }
  return out;
}
