// Presence (migrations/0010): one row per user with the stream id of its last change.
import type { Queryable } from './database.ts';

export type PresenceValue = 'online' | 'offline' | 'unavailable';

export interface PresenceRow {
  userId: string;
  state: PresenceValue;
  statusMsg: string | null;
  lastActiveTs: number;
  currentlyActive: boolean;
  streamId: number;
}

export interface PresenceTableRow {
  user_id: string;
  state: PresenceValue;
  status_msg: string | null;
  last_active_ts: number;
  currently_active: boolean;
  stream_id: number;
}

export const toPresenceRow = (r: PresenceTableRow): PresenceRow => ({
  userId: r.user_id,
  state: r.state,
  statusMsg: r.status_msg,
  lastActiveTs: r.last_active_ts,
  currentlyActive: r.currently_active,
  streamId: r.stream_id,
});

export const PRESENCE_COLUMNS = 'user_id, state, status_msg, last_active_ts, currently_active, stream_id';

export class PresenceStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async get(userId: string): Promise<PresenceRow | null> {
    const { rows } = await this.db.query<PresenceTableRow>(`SELECT ${PRESENCE_COLUMNS} FROM presence WHERE user_id = $1`, [userId]);
    return rows[0] ? toPresenceRow(rows[0]) : null;
  }

  /** The rows of any of these users, by user id (absent: never set). */
  async getMany(userIds: readonly string[]): Promise<Map<string, PresenceRow>> {
    const { rows } = await this.db.query<PresenceTableRow>(`SELECT ${PRESENCE_COLUMNS} FROM presence WHERE user_id = ANY($1::text[])`, [[...userIds]]);
    return new Map(rows.map((r) => [r.user_id, toPresenceRow(r)]));
  }

  async put(row: PresenceRow): Promise<void> {
    // A write may commit after one with a larger stream id (ids are taken before the row's lock): the larger id stays
    // (test/storage/streamRows.test.ts says why).
    await this.db.query(
      `INSERT INTO presence (${PRESENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg,
         last_active_ts = EXCLUDED.last_active_ts, currently_active = EXCLUDED.currently_active, stream_id = GREATEST(presence.stream_id, EXCLUDED.stream_id)`,
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

  /**
   * Presence of each local user `viewer` and of those who share a joined room with them, changed in (after, upTo], for
   * many viewers at once, keyed by the input's position: a presence change of one user wakes all their room-mates at
   * once, and their reads become one statement.
   */
  async changedForViewers(ranges: readonly { viewer: string; after: number; upTo: number }[]): Promise<Map<number, PresenceRow[]>> {
    const out = new Map<number, PresenceRow[]>();
    const wanted = ranges.map((r, i) => ({ ...r, i })).filter((r) => r.upTo > r.after);
    if (wanted.length === 0) return out;
    const { rows } = await this.db.query<PresenceTableRow & { k: number }>(
      `SELECT v.k, p.user_id, p.state, p.status_msg, p.last_active_ts, p.currently_active, p.stream_id
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[]) AS v(viewer, after, up_to, k)
         JOIN presence p ON p.stream_id > v.after AND p.stream_id <= v.up_to
        WHERE p.user_id = v.viewer OR EXISTS (
          SELECT 1 FROM local_memberships m
            JOIN current_state s ON s.room_id = m.room_id AND s.type = 'm.room.member' AND s.state_key = p.user_id AND s.membership = 'join'
           WHERE m.user_id = v.viewer AND m.membership = 'join')
        ORDER BY v.k, p.stream_id`,
      [wanted.map((r) => r.viewer), wanted.map((r) => r.after), wanted.map((r) => r.upTo), wanted.map((r) => r.i)],
    );
    for (const r of rows) {
      const k = Number(r.k);
      const list = out.get(k) ?? [];
      list.push(toPresenceRow(r));
      out.set(k, list);
    }
    return out;
  }

  /** Presence of these users changed in (after, upTo]. */
  async changedAmong(userIds: readonly string[], after: number, upTo: number): Promise<PresenceRow[]> {
    if (userIds.length === 0) return [];
    const { rows } = await this.db.query<PresenceTableRow>(
      `SELECT ${PRESENCE_COLUMNS} FROM presence WHERE user_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id`,
      [[...userIds], after, upTo],
    );
    return rows.map(toPresenceRow);
  }
}
