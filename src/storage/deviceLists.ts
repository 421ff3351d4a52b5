// The device list stream (migrations/0010): the newest change to each user's devices.
import type { Queryable } from './database.ts';

export class DeviceListStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async markChanged(userId: string, streamId: number): Promise<void> {
    await this.db.query(
      `INSERT INTO device_list_changes (user_id, stream_id) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET stream_id = EXCLUDED.stream_id`,
      [userId, streamId],
    );
  }

  /** Which of these users changed their devices in (after, upTo]. */
  async changedAmong(userIds: readonly string[], after: number, upTo: number): Promise<string[]> {
    if (userIds.length === 0) return [];
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT user_id FROM device_list_changes WHERE user_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3`,
      [[...userIds], after, upTo],
    );
    return rows.map((r) => r.user_id);
  }
}
