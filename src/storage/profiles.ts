// Profile fields (migrations/0003): one row per (user, field). Values are any JSON; displayname and avatar_url
// are strings (checked by the HTTP layer).
import type { Queryable } from './database.ts';

export type Profile = Record<string, unknown>;

export interface ProfileStore {
  /** Every field of the user's profile ({} when none is set). */
  getProfile(userId: string): Promise<Profile>;
  /** The field's value, or undefined when it is not set. */
  getField(userId: string, field: string): Promise<unknown>;
  setField(userId: string, field: string, value: unknown): Promise<void>;
  deleteField(userId: string, field: string): Promise<void>;
  /** The profile's size in bytes as JSON, counting keys and values; `replacing` excludes that field's current value. */
  profileSize(userId: string, replacing?: string): Promise<number>;
  /** Profiles of several users at once (users with no fields are absent). */
  getProfiles(userIds: readonly string[]): Promise<Map<string, Profile>>;
}

export class PostgresProfileStore implements ProfileStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async getProfile(userId: string): Promise<Profile> {
    const { rows } = await this.#db.query<{ field: string; value: unknown }>(
      'SELECT field, value FROM profile_fields WHERE user_id = $1 ORDER BY field',
      [userId],
    );
    return Object.fromEntries(rows.map((r) => [r.field, r.value]));
  }

  async getField(userId: string, field: string): Promise<unknown> {
    const { rows } = await this.#db.query<{ value: unknown }>('SELECT value FROM profile_fields WHERE user_id = $1 AND field = $2', [
      userId,
      field,
    ]);
    return rows.length > 0 ? rows[0]?.value : undefined;
  }

  async setField(userId: string, field: string, value: unknown): Promise<void> {
    await this.#db.query(
      `INSERT INTO profile_fields (user_id, field, value) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (user_id, field) DO UPDATE SET value = EXCLUDED.value`,
      [userId, field, JSON.stringify(value)],
    );
  }

  async deleteField(userId: string, field: string): Promise<void> {
    await this.#db.query('DELETE FROM profile_fields WHERE user_id = $1 AND field = $2', [userId, field]);
  }

  async profileSize(userId: string, replacing?: string): Promise<number> {
    const profile = await this.getProfile(userId);
    if (replacing !== undefined) delete profile[replacing];
    return Buffer.byteLength(JSON.stringify(profile), 'utf8');
  }

  async getProfiles(userIds: readonly string[]): Promise<Map<string, Profile>> {
    const result = new Map<string, Profile>();
    if (userIds.length === 0) return result;
    const { rows } = await this.#db.query<{ user_id: string; field: string; value: unknown }>(
      'SELECT user_id, field, value FROM profile_fields WHERE user_id = ANY($1::text[]) ORDER BY user_id, field',
      [[...userIds]],
    );
    for (const row of rows) {
      let profile = result.get(row.user_id);
      if (!profile) result.set(row.user_id, (profile = {}));
      profile[row.field] = row.value;
    }
    return result;
  }
}
