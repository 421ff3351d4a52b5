// Registration tokens (migrations/0014): what the Synapse-compatible admin API manages and the
// m.login.registration_token stage of /register spends. A token is valid while it has not expired and its pending
// uses (registrations past the token stage, not finished, session not lapsed) plus completed uses are below
// uses_allowed, so concurrent registrations cannot overuse it.
import type { Database, Queryable } from './database.ts';

/** As Synapse's admin API shows it. */
export interface RegistrationToken {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_time: number | null;
}

// The columns in the order of RegistrationToken's fields, which is the order the admin API shows them in.
const SELECT_TOKENS = `
  SELECT t.token, t.uses_allowed,
         (SELECT count(*) FROM registration_token_uses u WHERE u.token = t.token AND u.expires_ts > $1)::int AS pending,
         t.completed, t.expiry_time
    FROM registration_tokens t`;

export function isTokenValid(t: RegistrationToken, now: number): boolean {
  if (t.expiry_time !== null && t.expiry_time <= now) return false;
  return t.uses_allowed === null || t.pending + t.completed < t.uses_allowed;
}

export class PostgresRegistrationTokenStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Every token, or only the valid (true) or invalid (false) ones, ordered by token. */
  async list(now: number, valid?: boolean): Promise<RegistrationToken[]> {
    const { rows } = await this.#db.query<RegistrationToken>(`${SELECT_TOKENS} ORDER BY t.token`, [now]);
    return valid === undefined ? rows : rows.filter((t) => isTokenValid(t, now) === valid);
  }

  async get(token: string, now: number): Promise<RegistrationToken | null> {
    const { rows } = await this.#db.query<RegistrationToken>(`${SELECT_TOKENS} WHERE t.token = $2`, [now, token]);
    return rows[0] ?? null;
  }

  /** Creates the token; false when it exists already. */
  async create(token: string, usesAllowed: number | null, expiryTime: number | null): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      'INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES ($1, $2, $3) ON CONFLICT (token) DO NOTHING',
      [token, usesAllowed, expiryTime],
    );
    return rowCount > 0;
  }

  /** Changes the fields given (null: unlimited / never); false when there is no such token. */
  async update(token: string, changes: { usesAllowed?: number | null; expiryTime?: number | null }): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `UPDATE registration_tokens
          SET uses_allowed = CASE WHEN $2 THEN $3::integer ELSE uses_allowed END,
              expiry_time = CASE WHEN $4 THEN $5::bigint ELSE expiry_time END
        WHERE token = $1`,
      [token, changes.usesAllowed !== undefined, changes.usesAllowed ?? null, changes.expiryTime !== undefined, changes.expiryTime ?? null],
    );
    return rowCount > 0;
  }

  async delete(token: string): Promise<boolean> {
    const { rowCount } = await this.#db.query('DELETE FROM registration_tokens WHERE token = $1', [token]);
    return rowCount > 0;
  }

  /** Turns the session's pending use (if any) into a completed use; run it in the transaction creating the account. */
  async completeUse(sessionId: string): Promise<void> {
    await this.#db.query(
      `WITH used AS (DELETE FROM registration_token_uses WHERE session_id = $1 RETURNING token)
       UPDATE registration_tokens SET completed = completed + 1 WHERE token IN (SELECT token FROM used)`,
      [sessionId],
    );
  }

  /** Gives back the session's pending use: its registration failed. */
  async releaseUse(sessionId: string): Promise<void> {
    await this.#db.query('DELETE FROM registration_token_uses WHERE session_id = $1', [sessionId]);
  }
}

/**
 * Takes a pending use of `token` for the session when the token is valid; true when the session holds a use of it
 * (also when it already did). The token's row is locked first, so that two registrations cannot both take its last
 * use: the counting statement runs after the lock, on a fresh snapshot.
 */
export async function reserveRegistrationToken(db: Database, token: string, sessionId: string, now: number, expiresTs: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ uses_allowed: number | null; completed: number; expiry_time: number | null }>(
      'SELECT uses_allowed, completed, expiry_time FROM registration_tokens WHERE token = $1 FOR UPDATE',
      [token],
    );
    const row = rows[0];
    if (!row) return false;
    await tx.query('DELETE FROM registration_token_uses WHERE expires_ts <= $1', [now]);
    const held = await tx.query<{ token: string }>('SELECT token FROM registration_token_uses WHERE session_id = $1 AND expires_ts > $2', [sessionId, now]);
    if (held.rows[0]?.token === token) return true;
    const { rows: counted } = await tx.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM registration_token_uses WHERE token = $1 AND expires_ts > $2 AND session_id <> $3',
      [token, now, sessionId],
    );
    const pending = counted[0]?.n ?? 0;
    if (!isTokenValid({ token, uses_allowed: row.uses_allowed, completed: row.completed, expiry_time: row.expiry_time, pending }, now)) return false;
    await tx.query(
      `INSERT INTO registration_token_uses (session_id, token, expires_ts) VALUES ($1, $2, $3)
       ON CONFLICT (session_id) DO UPDATE SET token = EXCLUDED.token, expires_ts = EXCLUDED.expires_ts`,
      [sessionId, token, expiresTs],
    );
    return true;
  });
}
