// User-interactive authentication sessions (migrations/0003), see src/auth/uia.ts.
import type { Queryable } from './database.ts';

export interface UiaSession {
  sessionId: string;
  operation: string;
  userId: string | null;
  completed: string[];
  expiresTs: number;
}

export interface UiaSessionStore {
  /** Creates a session, first deleting every session that has expired. */
  createSession(session: UiaSession, now: number): Promise<void>;
  /** The session, or null when it is unknown or expired. */
  getSession(sessionId: string, now: number): Promise<UiaSession | null>;
  /** Adds a completed stage (once). */
  completeStage(sessionId: string, stage: string): Promise<void>;
  deleteSession(sessionId: string): Promise<void>;
}

export class PostgresUiaSessionStore implements UiaSessionStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async createSession(session: UiaSession, now: number): Promise<void> {
    await this.#db.query('DELETE FROM uia_sessions WHERE expires_ts <= $1', [now]);
    await this.#db.query(
      'INSERT INTO uia_sessions (session_id, operation, user_id, completed, created_ts, expires_ts) VALUES ($1, $2, $3, $4::jsonb, $5, $6)',
      [session.sessionId, session.operation, session.userId, JSON.stringify(session.completed), now, session.expiresTs],
    );
  }

  async getSession(sessionId: string, now: number): Promise<UiaSession | null> {
    const { rows } = await this.#db.query<{ session_id: string; operation: string; user_id: string | null; completed: string[]; expires_ts: number }>(
      'SELECT session_id, operation, user_id, completed, expires_ts FROM uia_sessions WHERE session_id = $1 AND expires_ts > $2',
      [sessionId, now],
    );
    const row = rows[0];
    return row ? { sessionId: row.session_id, operation: row.operation, userId: row.user_id, completed: row.completed, expiresTs: row.expires_ts } : null;
  }

  async completeStage(sessionId: string, stage: string): Promise<void> {
    await this.#db.query(
      `UPDATE uia_sessions SET completed = completed || $2::jsonb
        WHERE session_id = $1 AND NOT (completed @> $2::jsonb)`,
      [sessionId, JSON.stringify([stage])],
    );
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.#db.query('DELETE FROM uia_sessions WHERE session_id = $1', [sessionId]);
  }
}
