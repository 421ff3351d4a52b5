// A user's push rules document (migrations/0017): their own rules and their changes to server-default rules.
import type { JsonObject } from '../protocol/json.ts';
import type { Queryable } from './database.ts';

export class PushRulesStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async get(userId: string): Promise<JsonObject | null> {
    const { rows } = await this.db.query<{ rules: JsonObject }>('SELECT rules FROM push_rules WHERE user_id = $1', [userId]);
    return rows[0]?.rules ?? null;
  }

  async put(userId: string, rules: JsonObject, streamId: number): Promise<void> {
    await this.db.query(
      `INSERT INTO push_rules (user_id, rules, stream_id) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET rules = EXCLUDED.rules, stream_id = EXCLUDED.stream_id`,
      [userId, rules, streamId],
    );
  }

  /** Whether the user's rules changed in (after, upTo]. */
  async changed(userId: string, after: number, upTo: number): Promise<boolean> {
    if (upTo <= after) return false;
    const { rows } = await this.db.query<{ one: number }>(
      'SELECT 1 AS one FROM push_rules WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3',
      [userId, after, upTo],
    );
    return rows.length > 0;
  }

  /** The stream's position at boot. */
  async maxStreamId(): Promise<number> {
    const { rows } = await this.db.query<{ max: number | string | null }>('SELECT max(stream_id) AS max FROM push_rules');
    return Number(rows[0]?.max ?? 0);
  }
}
