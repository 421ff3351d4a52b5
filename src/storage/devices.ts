// Devices and access tokens (migrations/0002). Tokens are looked up by their hash (src/auth/accessTokens.ts).
//
// Every authenticated request resolves its token, so the owners found are cached in memory, per database handle,
// to spare a round trip per request. A revoked token must be refused at once, so every way a token stops being
// valid goes through this store (deleting tokens or devices; a deactivation deletes the user's devices first) and
// each such method forgets the user's cached tokens. That happens while the revoking transaction may still be open,
// which is safe because the lookup reads the rows FOR SHARE: a lookup that starts after the DELETE waits until it
// commits (and then finds nothing) or rolls back, and a lookup already running when the cache is emptied does not
// fill it (the generation moved). Expiry (valid_until_ts) is checked by the caller on every request, cached or not.
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

const TOKEN_CACHE_SIZE = 10_000;
/** Moves on every revocation: a lookup that began in an older generation does not fill the cache. */
let tokenGeneration = 0;
/** Per database handle: token hash (base64) -> owner, oldest first. */
const tokenCaches = new WeakMap<Queryable, Map<string, TokenOwner>>();
/** The same caches, to forget one user's entries in all of them. */
const allTokenCaches = new Set<WeakRef<Map<string, TokenOwner>>>();

/**
 * Forgets cached token owners, of every database handle: the user's (whose tokens may have stopped being valid), or
 * all of them. Either way no lookup already under way fills the cache.
 */
export function revokeCachedTokens(userId?: string): void {
  tokenGeneration++;
  for (const ref of allTokenCaches) {
    const cache = ref.deref();
    if (!cache) {
      allTokenCaches.delete(ref);
      continue;
    }
    for (const [key, owner] of cache) if (userId === undefined || owner.userId === userId) cache.delete(key);
  }
}

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
    const key = tokenHash.toString('base64');
    const cached = tokenCaches.get(this.db)?.get(key);
    if (cached) return cached;
    const generation = tokenGeneration;
    // FOR SHARE: wait for a transaction that is revoking this token (or deactivating its user) to end.
    const { rows } = await this.db.query<{ user_id: string; device_id: string; valid_until_ts: number | null; deactivated: boolean }>(
      `SELECT t.user_id, t.device_id, t.valid_until_ts, u.deactivated
         FROM access_tokens t JOIN users u ON u.user_id = t.user_id
        WHERE t.token_hash = $1
          FOR SHARE`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return null;
    const owner: TokenOwner = Object.freeze({ userId: row.user_id, deviceId: row.device_id, validUntilTs: row.valid_until_ts, deactivated: row.deactivated });
    if (generation === tokenGeneration && !owner.deactivated) {
      let cache = tokenCaches.get(this.db);
      if (!cache) {
        cache = new Map();
        tokenCaches.set(this.db, cache);
        allTokenCaches.add(new WeakRef(cache));
      }
      cache.set(key, owner);
      if (cache.size > TOKEN_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    }
    return owner;
  }

  async deleteAccessToken(tokenHash: Buffer): Promise<void> {
    const { rows } = await this.db.query<{ user_id: string }>('DELETE FROM access_tokens WHERE token_hash = $1 RETURNING user_id', [tokenHash]);
    for (const row of rows) revokeCachedTokens(row.user_id);
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
    revokeCachedTokens(userId);
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
    revokeCachedTokens(userId);
  }

  async deleteOtherDevices(userId: string, keepDeviceId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ device_id: string }>(
      'DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id',
      [userId, keepDeviceId],
    );
    revokeCachedTokens(userId);
    return rows.map((r) => r.device_id).sort();
  }
}
