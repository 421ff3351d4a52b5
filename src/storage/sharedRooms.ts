// Who shares a room with whom, from the rooms' current membership: presence and device list changes reach
// exactly the users who share a joined room with the user they concern.
import type { Queryable } from './database.ts';

/**
 * SQL for "the users joined to a room the local user $1 is joined to" (including $1), to use as
 * `user_id IN (${SHARING_ROOM_WITH_$1})`: the database picks the few changed rows first when it can, instead of
 * every room-mate being fetched.
 */
export const SHARING_ROOM_WITH_$1 = `SELECT s.state_key FROM local_memberships m
   JOIN current_state s ON s.room_id = m.room_id AND s.type = 'm.room.member' AND s.membership = 'join'
  WHERE m.user_id = $1 AND m.membership = 'join'`;

export class SharedRoomStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /** Which of `others` are joined to a room the local user `userId` is joined to. */
  async sharingAmong(userId: string, others: readonly string[]): Promise<Set<string>> {
    if (others.length === 0) return new Set();
    const { rows } = await this.db.query<{ user_id: string }>(
      `SELECT k.user_id FROM unnest($2::text[]) AS k(user_id) WHERE k.user_id IN (${SHARING_ROOM_WITH_$1})`,
      [userId, [...others]],
    );
    return new Set(rows.map((r) => r.user_id));
  }

  /** Whether two users are joined to a common room (`userId` local). */
  async shareRoom(userId: string, other: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `SELECT 1 FROM local_memberships m
         JOIN current_state s ON s.room_id = m.room_id AND s.type = 'm.room.member' AND s.state_key = $2 AND s.membership = 'join'
        WHERE m.user_id = $1 AND m.membership = 'join' LIMIT 1`,
      [userId, other],
    );
    return rows.length > 0;
  }

  /** Joined members of these rooms. */
  async joinedMembers(roomIds: readonly string[]): Promise<string[]> {
    if (roomIds.length === 0) return [];
    const { rows } = await this.db.query<{ state_key: string }>(
      `SELECT DISTINCT state_key FROM current_state WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' AND membership = 'join'`,
      [[...roomIds]],
    );
    return rows.map((r) => r.state_key);
  }

  /** The user's membership in a room ('join', 'leave', ...) or null. */
  async membership(roomId: string, userId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ membership: string | null }>(
      `SELECT membership FROM current_state WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2`,
      [roomId, userId],
    );
    return rows[0]?.membership ?? null;
  }
}

export interface MembershipChangeRow {
  userId: string;
  membership: string;
}

/** Membership changes in these rooms at stream orderings in (after, upTo], newest last. */
export async function membershipChangesBetween(db: Queryable, roomIds: readonly string[], after: number, upTo: number): Promise<MembershipChangeRow[]> {
  if (roomIds.length === 0 || upTo <= after) return [];
  const { rows } = await db.query<{ state_key: string; membership: string | null }>(
    `SELECT state_key, membership FROM state_history
      WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' AND stream_ordering > $2 AND stream_ordering <= $3
      ORDER BY stream_ordering`,
    [[...roomIds], after, upTo],
  );
  return rows.map((r) => ({ userId: r.state_key, membership: r.membership ?? '' }));
}
