// The reads /sync needs, batched across rooms: one statement per kind of fact for all of a user's rooms instead of
// several per room (an initial sync of a user in hundreds of rooms is a handful of round trips). Positions are
// stream orderings of the `events` stream; every range is (after, upTo].
import type { Queryable } from '../storage/database.ts';
import { EVENT_COLUMNS, toStoredEvent, type EventRow, type StoredEvent } from '../storage/events.ts';

export interface LocalMembershipRow {
  roomId: string;
  roomVersion: string;
  membership: string;
  eventId: string;
  streamOrdering: number;
  forgotten: boolean;
}

export interface MembershipChange {
  streamOrdering: number;
  membership: string | null;
  eventId: string;
}

export interface RoomRange {
  roomId: string;
  after: number;
  upTo: number;
}

export interface MemberAt {
  roomId: string;
  at: number;
  userId: string;
}

/** The state event an event replaced (its replaces_state), and that event where it is stored (for prev_content). */
export interface Replacement {
  eventId: string;
  previous: StoredEvent | null;
}

/** A lazy-loaded member event, with the event it replaced. */
export interface MemberState {
  event: StoredEvent;
  replaced: Replacement | null;
}

/** An event's columns from a LEFT JOIN: all NULL where there is no such event. */
type NullableEventRow = { [K in keyof EventRow]: EventRow[K] | null };

export interface MemberCounts {
  joined: number;
  invited: number;
}

export class SyncStore {
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
  }

  /** Per user, every room they have a local membership row in, with its room version. */
  async localMemberships(userIds: readonly string[]): Promise<Map<string, LocalMembershipRow[]>> {
    const { rows } = await this.db.query<{
      user_id: string;
      room_id: string;
      room_version: string;
      membership: string;
      event_id: string;
      stream_ordering: number;
      forgotten: boolean;
    }>(
      `SELECT m.user_id, m.room_id, r.room_version, m.membership, m.event_id, m.stream_ordering, m.forgotten
         FROM local_memberships m JOIN rooms r ON r.room_id = m.room_id WHERE m.user_id = ANY($1::text[])`,
      [[...userIds]],
    );
    const out = new Map<string, LocalMembershipRow[]>();
    for (const r of rows) {
      push(out, r.user_id, {
        roomId: r.room_id,
        roomVersion: r.room_version,
        membership: r.membership,
        eventId: r.event_id,
        streamOrdering: Number(r.stream_ordering),
        forgotten: r.forgotten,
      });
    }
    return out;
  }

  /** Per user, their membership changes per room (every room with a local membership row), oldest first. */
  async membershipHistory(userIds: readonly string[]): Promise<Map<string, Map<string, MembershipChange[]>>> {
    const out = new Map<string, Map<string, MembershipChange[]>>();
    const { rows } = await this.db.query<{ user_id: string; room_id: string; stream_ordering: number; membership: string | null; event_id: string }>(
      `SELECT l.user_id, h.room_id, h.stream_ordering, h.membership, h.event_id
         FROM local_memberships l
         JOIN state_history h ON h.room_id = l.room_id AND h.type = 'm.room.member' AND h.state_key = l.user_id
        WHERE l.user_id = ANY($1::text[])
        ORDER BY l.user_id, h.room_id, h.stream_ordering`,
      [[...userIds]],
    );
    for (const r of rows) {
      let rooms = out.get(r.user_id);
      if (!rooms) {
        rooms = new Map();
        out.set(r.user_id, rooms);
      }
      push(rooms, r.room_id, { streamOrdering: Number(r.stream_ordering), membership: r.membership, eventId: r.event_id });
    }
    return out;
  }

  /**
   * m.room.history_visibility changes per room any of the users has a local membership row in, oldest first (the
   * value, or null when it is not a string). Read by user rather than by room list so that it can run alongside the
   * others; each room is read once however many of the users are in it.
   */
  async historyVisibility(userIds: readonly string[]): Promise<Map<string, { streamOrdering: number; value: string | null }[]>> {
    const out = new Map<string, { streamOrdering: number; value: string | null }[]>();
    const { rows } = await this.db.query<{ room_id: string; stream_ordering: number; value: string | null }>(
      `SELECT h.room_id, h.stream_ordering, e.pdu::jsonb #>> '{content,history_visibility}' AS value
         FROM state_history h JOIN events e ON e.event_id = h.event_id
        WHERE h.room_id IN (SELECT room_id FROM local_memberships WHERE user_id = ANY($1::text[]))
          AND h.type = 'm.room.history_visibility' AND h.state_key = ''
        ORDER BY h.room_id, h.stream_ordering`,
      [[...userIds]],
    );
    for (const r of rows) push(out, r.room_id, { streamOrdering: Number(r.stream_ordering), value: r.value });
    return out;
  }

  /**
   * Up to `limit` newest events in each range, newest first, keyed by range (several ranges may be of one room).
   */
  async newestEvents(ranges: readonly RoomRange[], limit: number): Promise<Map<RoomRange, StoredEvent[]>> {
    const out = new Map<RoomRange, StoredEvent[]>();
    if (ranges.length === 0) return out;
    const { rows } = await this.db.query<EventRow & { k: number }>(
      `SELECT k.k, x.* FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS k(room_id, after, up_to, k)
        CROSS JOIN LATERAL (
          SELECT ${EVENT_COLUMNS} FROM events e
           WHERE e.room_id = k.room_id AND e.stream_ordering > k.after AND e.stream_ordering <= k.up_to
           ORDER BY e.stream_ordering DESC LIMIT $4) x
        ORDER BY k.k, x.stream_ordering DESC`,
      [ranges.map((r) => r.roomId), ranges.map((r) => r.after), ranges.map((r) => r.upTo), limit],
    );
    for (const r of rows) push(out, ranges[Number(r.k) - 1] as RoomRange, toStoredEvent(r));
    return out;
  }

  /**
   * Each room's full state after every event up to its position. A key whose current holder is at or before the
   * position is read from current_state; only keys changed since are looked up in the history.
   */
  async stateAt(points: readonly { roomId: string; at: number }[], options: { withoutMembers?: boolean } = {}): Promise<Map<string, StoredEvent[]>> {
    const out = new Map<string, StoredEvent[]>();
    if (points.length === 0) return out;
    // Lazy-loading clients want few member events: those are then read with membersAt.
    const members = options.withoutMembers ? "AND s.type <> 'm.room.member'" : '';
    const { rows } = await this.db.query<EventRow>(
      `WITH k AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS k(room_id, at))
       SELECT ${EVENT_COLUMNS} FROM k JOIN current_state s ON s.room_id = k.room_id AND s.stream_ordering <= k.at ${members}
         JOIN events e ON e.event_id = s.event_id
       UNION ALL
       SELECT ${EVENT_COLUMNS} FROM k JOIN current_state s ON s.room_id = k.room_id AND s.stream_ordering > k.at ${members}
        CROSS JOIN LATERAL (
          SELECT h.event_id FROM state_history h
           WHERE h.room_id = s.room_id AND h.type = s.type AND h.state_key = s.state_key AND h.stream_ordering <= k.at
           ORDER BY h.stream_ordering DESC LIMIT 1) h
         JOIN events e ON e.event_id = h.event_id`,
      [points.map((p) => p.roomId), points.map((p) => p.at)],
    );
    for (const r of rows) push(out, r.room_id, toStoredEvent(r));
    for (const events of out.values()) events.sort((a, b) => a.streamOrdering - b.streamOrdering);
    return out;
  }

  /** Per room, for each (type, state_key) changed in its range, the newest event in the range; oldest first. */
  async stateChanges(ranges: readonly RoomRange[]): Promise<Map<string, StoredEvent[]>> {
    const out = new Map<string, StoredEvent[]>();
    const wanted = ranges.filter((r) => r.upTo > r.after);
    if (wanted.length === 0) return out;
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM (
         SELECT DISTINCT ON (h.room_id, h.type, h.state_key) h.event_id
           FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(room_id, after, up_to)
           JOIN state_history h ON h.room_id = k.room_id AND h.stream_ordering > k.after AND h.stream_ordering <= k.up_to
          ORDER BY h.room_id, h.type, h.state_key, h.stream_ordering DESC
       ) c JOIN events e ON e.event_id = c.event_id ORDER BY e.room_id, e.stream_ordering`,
      [wanted.map((r) => r.roomId), wanted.map((r) => r.after), wanted.map((r) => r.upTo)],
    );
    for (const r of rows) push(out, r.room_id, toStoredEvent(r));
    return out;
  }

  /**
   * The m.room.member event of each (room, user) as of the position `at`, keyed like the input, with what replacedState
   * tells of it: lazy-loaded members are formatted as soon as they are read, without a round trip more.
   */
  async membersAt(keys: readonly MemberAt[]): Promise<Map<MemberAt, MemberState>> {
    const out = new Map<MemberAt, MemberState>();
    if (keys.length === 0) return out;
    // Rows of the member events (replaces NULL), then one row per member event that replaced another, carrying that
    // event where it is stored (its columns are NULL where it is not).
    const { rows } = await this.db.query<NullableEventRow & { k: number; replaces: string | null }>(
      `WITH m AS (
         SELECT k.k, h.event_id FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS k(room_id, at, user_id, k)
          CROSS JOIN LATERAL (
            SELECT h.event_id FROM state_history h
             WHERE h.room_id = k.room_id AND h.type = 'm.room.member' AND h.state_key = k.user_id AND h.stream_ordering <= k.at
             ORDER BY h.stream_ordering DESC LIMIT 1) h)
       SELECT m.k, NULL::text AS replaces, ${EVENT_COLUMNS} FROM m JOIN events e ON e.event_id = m.event_id
       UNION ALL
       SELECT m.k, p.prev_event_id, ${EVENT_COLUMNS} FROM m JOIN events x ON x.event_id = m.event_id
         JOIN state_history p ON p.room_id = x.room_id AND p.stream_ordering = x.stream_ordering AND p.event_id = x.event_id AND p.prev_event_id IS NOT NULL
         LEFT JOIN events e ON e.event_id = p.prev_event_id`,
      [keys.map((k) => k.roomId), keys.map((k) => k.at), keys.map((k) => k.userId)],
    );
    const replaced = new Map<number, Replacement>();
    for (const r of rows) {
      if (r.replaces === null) out.set(keys[Number(r.k) - 1] as MemberAt, { event: toStoredEvent(r as EventRow), replaced: null });
      else replaced.set(Number(r.k), { eventId: r.replaces, previous: storedOrNull(r) });
    }
    for (const [k, replacement] of replaced) {
      const member = out.get(keys[k - 1] as MemberAt);
      if (member) member.replaced = replacement;
    }
    return out;
  }

  /**
   * For state events (room, stream ordering, event id): the event each replaced, where there was one, keyed by the
   * input's position, with that event read in the same statement. (A remote event's state resolution may write other
   * keys at the same ordering.)
   */
  async replacedState(points: readonly { roomId: string; streamOrdering: number; eventId: string }[]): Promise<Map<number, Replacement>> {
    if (points.length === 0) return new Map();
    const { rows } = await this.db.query<NullableEventRow & { k: number; prev_event_id: string }>(
      `SELECT k.k, h.prev_event_id, ${EVENT_COLUMNS}
         FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS k(room_id, stream_ordering, event_id, k)
         JOIN state_history h ON h.room_id = k.room_id AND h.stream_ordering = k.stream_ordering AND h.event_id = k.event_id
         LEFT JOIN events e ON e.event_id = h.prev_event_id
        WHERE h.prev_event_id IS NOT NULL`,
      [points.map((p) => p.roomId), points.map((p) => p.streamOrdering), points.map((p) => p.eventId)],
    );
    return new Map(rows.map((r) => [Number(r.k) - 1, { eventId: r.prev_event_id, previous: storedOrNull(r) }]));
  }

  /** Joined and invited member counts per room, from the current state. */
  async memberCounts(roomIds: readonly string[]): Promise<Map<string, MemberCounts>> {
    if (roomIds.length === 0) return new Map();
    const { rows } = await this.db.query<{ room_id: string; joined: number | string; invited: number | string }>(
      `SELECT room_id, count(*) FILTER (WHERE membership = 'join') AS joined, count(*) FILTER (WHERE membership = 'invite') AS invited
         FROM current_state WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' GROUP BY room_id`,
      [[...roomIds]],
    );
    return new Map(rows.map((r) => [r.room_id, { joined: Number(r.joined), invited: Number(r.invited) }]));
  }

  /**
   * Heroes per room (spec: the first 5 members by stream ordering who are joined or invited, never the user; when
   * there are none, the left and banned ones).
   */
  async heroes(userId: string, roomIds: readonly string[]): Promise<Map<string, string[]>> {
    if (roomIds.length === 0) return new Map();
    const { rows } = await this.db.query<{ room_id: string; state_key: string; active: boolean }>(
      `SELECT room_id, state_key, active FROM (
         SELECT room_id, state_key, stream_ordering, membership IN ('join', 'invite') AS active,
                row_number() OVER (PARTITION BY room_id, membership IN ('join', 'invite') ORDER BY stream_ordering) AS n
           FROM current_state WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' AND state_key <> $2
            AND membership IN ('join', 'invite', 'leave', 'ban')
       ) m WHERE n <= 5 ORDER BY room_id, stream_ordering`,
      [[...roomIds], userId],
    );
    const active = new Map<string, string[]>();
    const former = new Map<string, string[]>();
    for (const r of rows) push(r.active ? active : former, r.room_id, r.state_key);
    return new Map(roomIds.map((id) => [id, active.get(id) ?? former.get(id) ?? []]));
  }

  /** The stripped-state candidates of rooms: current state events of the given types with an empty state key. */
  async strippedStateEvents(roomIds: readonly string[], types: readonly string[]): Promise<Map<string, StoredEvent[]>> {
    const out = new Map<string, StoredEvent[]>();
    if (roomIds.length === 0) return out;
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM current_state s JOIN events e ON e.event_id = s.event_id
        WHERE s.room_id = ANY($1::text[]) AND s.type = ANY($2::text[]) AND s.state_key = '' ORDER BY e.stream_ordering`,
      [[...roomIds], [...types]],
    );
    for (const r of rows) push(out, r.room_id, toStoredEvent(r));
    return out;
  }
}

function storedOrNull(r: NullableEventRow): StoredEvent | null {
  return r.event_id === null ? null : toStoredEvent(r as EventRow);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
