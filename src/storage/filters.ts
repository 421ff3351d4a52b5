// Stored /sync filters (migrations/0009): per user, numbered from 0, the same filter stored once.
import { encodeCanonicalJson } from '../protocol/canonicalJson.ts';
import type { JsonObject } from '../protocol/json.ts';
import type { Queryable } from './database.ts';
import { isUniqueViolation } from './errors.ts';

export interface FilterStore {
  /** The filter's id for the user: the one it already has, or a new one. */
  addFilter(userId: string, filter: JsonObject): Promise<string>;
  /** The filter, or null when the user has none with that id. */
  getFilter(userId: string, filterId: string): Promise<JsonObject | null>;
}

const MAX_ATTEMPTS = 5;

export class PostgresFilterStore implements FilterStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async addFilter(userId: string, filter: JsonObject): Promise<string> {
    const json = encodeCanonicalJson(filter, { strict: false });
    // Two concurrent uploads may pick the same next id (or the same JSON): the loser of the unique check retries.
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await this.#db.query<{ filter_id: string }>(
          `WITH existing AS (SELECT filter_id FROM user_filters WHERE user_id = $1 AND filter_json = $2),
                inserted AS (
                  INSERT INTO user_filters (user_id, filter_id, filter_json)
                  SELECT $1, COALESCE((SELECT max(filter_id) + 1 FROM user_filters WHERE user_id = $1), 0), $2
                   WHERE NOT EXISTS (SELECT 1 FROM existing)
                  RETURNING filter_id)
           SELECT filter_id::text AS filter_id FROM existing UNION ALL SELECT filter_id::text FROM inserted`,
          [userId, json],
        );
        const id = rows[0]?.filter_id;
        if (id === undefined) throw new Error('filter insert returned no id');
        return id;
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  async getFilter(userId: string, filterId: string): Promise<JsonObject | null> {
    if (!/^(0|[1-9][0-9]{0,14})$/.test(filterId)) return null;
    const { rows } = await this.#db.query<{ filter_json: string }>('SELECT filter_json FROM user_filters WHERE user_id = $1 AND filter_id = $2', [
      userId,
      Number(filterId),
    ]);
    const row = rows[0];
    return row ? (JSON.parse(row.filter_json) as JsonObject) : null;
  }
}
