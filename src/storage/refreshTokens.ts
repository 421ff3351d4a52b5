// Refresh tokens (migrations/0003), stored as SHA-256 hashes, each paired with the access token issued with it.
import type { Queryable } from './database.ts';

export interface RefreshTokenRecord {
  userId: string;
  deviceId: string;
  accessTokenHash: Buffer;
}

export interface RefreshTokenStore {
  addRefreshToken(tokenHash: Buffer, userId: string, deviceId: string, accessTokenHash: Buffer, now: number): Promise<void>;
  /** Deletes the refresh token and returns what it was, or null when it is unknown (already used or revoked). */
  takeRefreshToken(tokenHash: Buffer): Promise<RefreshTokenRecord | null>;
  /** Deletes the refresh tokens paired with these access tokens (on logout). */
  deleteForAccessToken(accessTokenHash: Buffer): Promise<void>;
}

export class PostgresRefreshTokenStore implements RefreshTokenStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async addRefreshToken(tokenHash: Buffer, userId: string, deviceId: string, accessTokenHash: Buffer, now: number): Promise<void> {
    await this.#db.query(
      'INSERT INTO refresh_tokens (token_hash, user_id, device_id, access_token_hash, created_ts) VALUES ($1, $2, $3, $4, $5)',
      [tokenHash, userId, deviceId, accessTokenHash, now],
    );
  }

  async takeRefreshToken(tokenHash: Buffer): Promise<RefreshTokenRecord | null> {
    const { rows } = await this.#db.query<{ user_id: string; device_id: string; access_token_hash: Buffer }>(
      'DELETE FROM refresh_tokens WHERE token_hash = $1 RETURNING user_id, device_id, access_token_hash',
      [tokenHash],
    );
    const row = rows[0];
    return row ? { userId: row.user_id, deviceId: row.device_id, accessTokenHash: row.access_token_hash } : null;
  }

  async deleteForAccessToken(accessTokenHash: Buffer): Promise<void> {
    await this.#db.query('DELETE FROM refresh_tokens WHERE access_token_hash = $1', [accessTokenHash]);
  }
}
