// A user's push rules document (migrations/0017): their own rules and their changes to server-default rules; and
// what evaluating them for unread counts reads: the unread events and the room facts conditions depend on.
import type { JsonObject } from '../protocol/json.ts';
import type { Queryable } from './database.ts';

/** Events of `roomId` in (after, upTo]. */
export interface UnreadRange {
  roomId: string;
  after: number;
  upTo: number;
}

/** What push rule conditions read about a room, now. */
export interface RoomPushFacts {
  roomVersion: string;
  joinedMembers: number;
  create?: JsonObject;
  powerLevels?: JsonObject;
  /** The user's own m.room.member event. */
  member?: JsonObject;
}

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

  /**
   * The newest `perRoom` events of each range as PDUs, without the user's own, those of ignored users and redacted
   * ones (their content is gone); and without membership changes of others when `othersMembership` is false.
   */
  async unreadEvents(
    userId: string,
    ranges: readonly UnreadRange[],
    ignored: readonly string[],
    perRoom: number,
    othersMembership: boolean,
  ): Promise<Map<string, JsonObject[]>> {
    const out = new Map<string, JsonObject[]>();
    if (ranges.length === 0) return out;
    const { rows } = await this.db.query<{ room_id: string; pdu: string }>(
      `SELECT k.room_id, e.pdu FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(room_id, after, up_to)
         CROSS JOIN LATERAL (
           SELECT pdu FROM events
            WHERE room_id = k.room_id AND stream_ordering > k.after AND stream_ordering <= k.up_to
              AND sender <> $4 AND redacted_by IS NULL AND NOT (sender = ANY($5::text[]))
              AND ($7 OR type <> 'm.room.member' OR state_key = $4)
            ORDER BY stream_ordering DESC LIMIT $6) e`,
      [ranges.map((r) => r.roomId), ranges.map((r) => r.after), ranges.map((r) => r.upTo), userId, [...ignored], perRoom, othersMembership],
    );
    for (const r of rows) {
      const list = out.get(r.room_id) ?? [];
      list.push(JSON.parse(r.pdu) as JsonObject);
      out.set(r.room_id, list);
    }
    return out;
  }

  async roomFacts(userId: string, roomIds: readonly string[]): Promise<Map<string, RoomPushFacts>> {
    const out = new Map<string, RoomPushFacts>();
    if (roomIds.length === 0) return out;
    const ids = [...roomIds];
    const [rooms, counts, state] = await Promise.all([
      this.db.query<{ room_id: string; room_version: string }>('SELECT room_id, room_version FROM rooms WHERE room_id = ANY($1::text[])', [ids]),
      this.db.query<{ room_id: string; n: number | string }>(
        `SELECT room_id, count(*) AS n FROM current_state
          WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' AND membership = 'join' GROUP BY room_id`,
        [ids],
      ),
      this.db.query<{ room_id: string; type: string; pdu: string }>(
        `SELECT s.room_id, s.type, e.pdu FROM current_state s JOIN events e ON e.event_id = s.event_id
          WHERE s.room_id = ANY($1::text[])
            AND ((s.type IN ('m.room.create', 'm.room.power_levels') AND s.state_key = '') OR (s.type = 'm.room.member' AND s.state_key = $2))`,
        [ids, userId],
      ),
    ]);
    for (const r of rooms.rows) out.set(r.room_id, { roomVersion: r.room_version, joinedMembers: 0 });
    for (const r of counts.rows) {
      const facts = out.get(r.room_id);
      if (facts) facts.joinedMembers = Number(r.n);
    }
    for (const r of state.rows) {
      const facts = out.get(r.room_id);
      if (!facts) continue;
      const pdu = JSON.parse(r.pdu) as JsonObject;
      if (r.type === 'm.room.create') facts.create = pdu;
      else if (r.type === 'm.room.power_levels') facts.powerLevels = pdu;
      else facts.member = pdu;
    }
    return out;
  }

  /** The stream's position at boot. */
  async maxStreamId(): Promise<number> {
    const { rows } = await this.db.query<{ max: number | string | null }>('SELECT max(stream_id) AS max FROM push_rules');
    return Number(rows[0]?.max ?? 0);
  }
}
