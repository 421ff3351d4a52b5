// Presence (migrations/0010): one row per user with the stream id of its last change.
import type { Queryable } from './database.ts';
import { SHARING_ROOM_WITH_$1 } from './sharedRooms.ts';

export type PresenceValue = 'online' | 'offline' | 'unavailable';

export interface PresenceRow {
  userId: string;
  state: PresenceValue;
  statusMsg: string | null;
  lastActiveTs: number;
  currentlyActive: boolean;
  streamId: number;
}

interface Row {
  user_id: string;
  state: PresenceValue;
  status_msg: string | null;
  last_active_ts: number;
  currently_active: boolean;
  stream_id: number;
}

const toRow = (r: Row): PresenceRow => ({
  userId: r.user_id,
  state: r.state,
  statusMsg: r.status_msg,
  lastActiveTs: r.last_active_ts,
  currentlyActive: r.currently_active,
  streamId: r.stream_id,
});

const COLUMNS = 'user_id, state, status_msg, last_active_ts, currently_active, stream_id';

export class PresenceStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async get(userId: string): Promise<PresenceRow | null> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM presence WHERE user_id = $1`, [userId]);
    return rows[0] ? toRow(rows[0]) : null;
  }

  async put(row: PresenceRow): Promise<void> {
    await this.db.query(
      `INSERT INTO presence (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg,
         last_active_ts = EXCLUDED.last_active_ts, currently_active = EXCLUDED.currently_active, stream_id = EXCLUDED.stream_id`,
      [row.userId, row.state, row.statusMsg, row.lastActiveTs, row.currentlyActive, row.streamId],
    );
  }

  /** Moves last_active_ts forward without a new stream id (nobody is told). */
  async touch(userId: string, lastActiveTs: number): Promise<void> {
    await this.db.query('UPDATE presence SET last_active_ts = GREATEST(last_active_ts, $2) WHERE user_id = $1', [userId, lastActiveTs]);
  }

  /** Users not offline whose presence was last refreshed before `cutoff`. */
  async staleUsers(cutoff: number, limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ user_id: string }>(
      "SELECT user_id FROM presence WHERE state <> 'offline' AND last_active_ts < $1 LIMIT $2",
      [cutoff, limit],
    );
    return rows.map((r) => r.user_id);
  }

  /** Sets the user offline under `streamId` if they are still stale; false when they came back meanwhile. */
  async markOfflineIfStale(userId: string, cutoff: number, streamId: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE presence SET state = 'offline', currently_active = false, stream_id = $3
        WHERE user_id = $1 AND state <> 'offline' AND last_active_ts < $2`,
      [userId, cutoff, streamId],
    );
    return rowCount > 0;
  }

  /** Presence of the local user `viewer` and of those who share a room with them, changed in (after, upTo]. */
  async changedForViewer(viewer: string, after: number, upTo: number): Promise<PresenceRow[]> {
    if (upTo <= after) return [];
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM presence
        WHERE stream_id > $2 AND stream_id <= $3 AND (user_id = $1 OR user_id IN (${SHARING_ROOM_WITH_$1}))
        ORDER BY stream_id`,
      [viewer, after, upTo],
    );
    return rows.map(toRow);
  }

  /** Presence of these users changed in (after, upTo]. */
  async changedAmong(userIds: readonly string[], after: number, upTo: number): Promise<PresenceRow[]> {
    if (userIds.length === 0) return [];
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM presence WHERE user_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id`,
      [[...userIds], after, upTo],
    );
    return rows.map(toRow);
  }
}
