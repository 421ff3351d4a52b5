// Account data, global (room_id '') and per room, including tags (m.tag) (migrations/0010).
import type { JsonObject } from '../protocol/json.ts';
import type { Queryable } from './database.ts';

export const GLOBAL = '';

export interface AccountDataRow {
  /** '' for global account data. */
  roomId: string;
  type: string;
  content: JsonObject;
  streamId: number;
}

interface Row {
  room_id: string;
  type: string;
  content: JsonObject;
  stream_id: number;
}

const toRow = (r: Row): AccountDataRow => ({ roomId: r.room_id, type: r.type, content: r.content, streamId: r.stream_id });

export class AccountDataStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async put(userId: string, roomId: string, type: string, content: JsonObject, streamId: number): Promise<void> {
    // A write may commit after one with a larger stream id (ids are taken before the row's lock): the larger id stays
    // (test/storage/streamRows.test.ts says why).
    await this.db.query(
      `INSERT INTO account_data (user_id, room_id, type, content, stream_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = EXCLUDED.content, stream_id = GREATEST(account_data.stream_id, EXCLUDED.stream_id)`,
      [userId, roomId, type, content, streamId],
    );
  }

  async get(userId: string, roomId: string, type: string): Promise<JsonObject | null> {
    const { rows } = await this.db.query<{ content: JsonObject }>(
      'SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3',
      [userId, roomId, type],
    );
    return rows[0]?.content ?? null;
  }

  /** One type of global or room account data for any of these users, by user id (absent: none). */
  async getForUsers(userIds: readonly string[], roomId: string, type: string): Promise<Map<string, JsonObject>> {
    const { rows } = await this.db.query<{ user_id: string; content: JsonObject }>(
      'SELECT user_id, content FROM account_data WHERE user_id = ANY($1::text[]) AND room_id = $2 AND type = $3',
      [[...userIds], roomId, type],
    );
    return new Map(rows.map((r) => [r.user_id, r.content]));
  }

  /** The user's account data written in (after, upTo]. */
  async changed(userId: string, after: number, upTo: number): Promise<AccountDataRow[]> {
    if (upTo <= after) return [];
    const { rows } = await this.db.query<Row>(
      `SELECT room_id, type, content, stream_id FROM account_data
        WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id`,
      [userId, after, upTo],
    );
    return rows.map(toRow);
  }

  /** All the user's account data in these rooms, up to `upTo`. */
  async inRooms(userId: string, roomIds: readonly string[], upTo: number): Promise<AccountDataRow[]> {
    if (roomIds.length === 0) return [];
    const { rows } = await this.db.query<Row>(
      `SELECT room_id, type, content, stream_id FROM account_data
        WHERE user_id = $1 AND room_id = ANY($2::text[]) AND stream_id <= $3 ORDER BY stream_id`,
      [userId, [...roomIds], upTo],
    );
    return rows.map(toRow);
  }
}
