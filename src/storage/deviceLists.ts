// The device list stream (migrations/0010): the newest change to each user's devices.
import type { Queryable } from './database.ts';
import { SHARING_ROOM_WITH_$1 } from './sharedRooms.ts';

export class DeviceListStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async markChanged(userId: string, streamId: number): Promise<void> {
    // A write may commit after one with a larger stream id (ids are taken before the row's lock): the larger id stays
    // (test/storage/streamRows.test.ts says why).
    await this.db.query(
      `INSERT INTO device_list_changes (user_id, stream_id) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET stream_id = GREATEST(device_list_changes.stream_id, EXCLUDED.stream_id)`,
      [userId, streamId],
    );
  }

  /** The local user `viewer` and those who share a room with them whose devices changed in (after, upTo]. */
  async changedForViewer(viewer: string, after: number, upTo: number): Promise<string[]> {
    if (upTo <= after) return [];
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT user_id FROM device_list_changes
        WHERE stream_id > $2 AND stream_id <= $3 AND (user_id = $1 OR user_id IN (${SHARING_ROOM_WITH_$1}))`,
      [viewer, after, upTo],
    );
    return rows.map((r) => r.user_id);
  }
}
