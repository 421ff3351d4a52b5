// Devices and access tokens (migrations/0002). Tokens are looked up by their hash (src/auth/accessTokens.ts).
import type { Queryable } from './database.ts';

export interface Device {
  userId: string;
  deviceId: string;
  displayName: string | null;
  lastSeenTs: number | null;
  lastSeenIp: string | null;
}

export interface TokenOwner {
  userId: string;
  deviceId: string;
  validUntilTs: number | null;
  deactivated: boolean;
}

export interface DeviceStore {
  /** Creates the device, or keeps it (and its display name) when it exists: logging in again with a device id. */
  upsertDevice(userId: string, deviceId: string, displayName: string | null, now: number): Promise<void>;
  addAccessToken(tokenHash: Buffer, userId: string, deviceId: string, now: number, validUntilTs?: number | null): Promise<void>;
  /** Who a token belongs to, or null for an unknown token. */
  findTokenOwner(tokenHash: Buffer): Promise<TokenOwner | null>;
  deleteAccessToken(tokenHash: Buffer): Promise<void>;
  getDevice(userId: string, deviceId: string): Promise<Device | null>;
  listDevices(userId: string): Promise<Device[]>;
  /** Deletes devices (and so their tokens); returns how many existed. */
  deleteDevices(userId: string, deviceIds?: readonly string[]): Promise<number>;
  /** Renames a device; returns false when there is no such device. */
  setDisplayName(userId: string, deviceId: string, displayName: string | null): Promise<boolean>;
  /** Deletes the device's access and refresh tokens, except the access token `exceptTokenHash` (and its refresh token). */
  deleteDeviceTokens(userId: string, deviceId: string, exceptTokenHash?: Buffer): Promise<void>;
  /** Deletes every device of the user except `keepDeviceId`; returns the deleted device ids. */
  deleteOtherDevices(userId: string, keepDeviceId: string): Promise<string[]>;
}

interface DeviceRow {
  user_id: string;
  device_id: string;
  display_name: string | null;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
}

const toDevice = (r: DeviceRow): Device => ({
  userId: r.user_id,
  deviceId: r.device_id,
  displayName: r.display_name,
  lastSeenTs: r.last_seen_ts,
  lastSeenIp: r.last_seen_ip,
});

export class PostgresDeviceStore implements DeviceStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async upsertDevice(userId: string, deviceId: string, displayName: string | null, now: number): Promise<void> {
    await this.db.query(
      `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, device_id) DO NOTHING`,
      [userId, deviceId, displayName, now],
    );
  }

  async addAccessToken(tokenHash: Buffer, userId: string, deviceId: string, now: number, validUntilTs: number | null = null): Promise<void> {
    await this.db.query(
      'INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, valid_until_ts) VALUES ($1, $2, $3, $4, $5)',
      [tokenHash, userId, deviceId, now, validUntilTs],
    );
  }

  async findTokenOwner(tokenHash: Buffer): Promise<TokenOwner | null> {
    const { rows } = await this.db.query<{ user_id: string; device_id: string; valid_until_ts: number | null; deactivated: boolean }>(
      `SELECT t.user_id, t.device_id, t.valid_until_ts, u.deactivated
         FROM access_tokens t JOIN users u ON u.user_id = t.user_id
        WHERE t.token_hash = $1`,
      [tokenHash],
    );
    const row = rows[0];
    return row ? { userId: row.user_id, deviceId: row.device_id, validUntilTs: row.valid_until_ts, deactivated: row.deactivated } : null;
  }

  async deleteAccessToken(tokenHash: Buffer): Promise<void> {
    await this.db.query('DELETE FROM access_tokens WHERE token_hash = $1', [tokenHash]);
  }

  async getDevice(userId: string, deviceId: string): Promise<Device | null> {
    const { rows } = await this.db.query<DeviceRow>(
      'SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices WHERE user_id = $1 AND device_id = $2',
      [userId, deviceId],
    );
    return rows[0] ? toDevice(rows[0]) : null;
  }

  async listDevices(userId: string): Promise<Device[]> {
    const { rows } = await this.db.query<DeviceRow>(
      'SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices WHERE user_id = $1 ORDER BY device_id',
      [userId],
    );
    return rows.map(toDevice);
  }

  async deleteDevices(userId: string, deviceIds?: readonly string[]): Promise<number> {
    const { rowCount } = deviceIds
      ? await this.db.query('DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2::text[])', [userId, [...deviceIds]])
      : await this.db.query('DELETE FROM devices WHERE user_id = $1', [userId]);
    return rowCount;
  }

  async setDisplayName(userId: string, deviceId: string, displayName: string | null): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2', [
      userId,
      deviceId,
      displayName,
    ]);
    return rowCount > 0;
  }

  async deleteDeviceTokens(userId: string, deviceId: string, exceptTokenHash?: Buffer): Promise<void> {
    const keep = exceptTokenHash ?? Buffer.alloc(0);
    await this.db.query('DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2 AND access_token_hash <> $3', [userId, deviceId, keep]);
    await this.db.query('DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2 AND token_hash <> $3', [userId, deviceId, keep]);
  }

  async deleteOtherDevices(userId: string, keepDeviceId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ device_id: string }>(
      'DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id',
      [userId, keepDeviceId],
    );
    return rows.map((r) => r.device_id).sort();
  }
}
