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

/** One user's unread events of one room: see PushRulesStore.unreadEvents. */
export interface UnreadQuestion extends UnreadRange {
  userId: string;
  ignored: readonly string[];
  othersMembership: boolean;
}

/** What push rule conditions read about a room, now. */
export interface RoomPushFacts {
  roomVersion: string;
  joinedMembers: number;
  create?: JsonObject;
  powerLevels?: JsonObject;
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

  /** The push rules documents of these users (a user with none is left out). */
  async getMany(userIds: readonly string[]): Promise<Map<string, JsonObject>> {
    const { rows } = await this.db.query<{ user_id: string; rules: JsonObject }>('SELECT user_id, rules FROM push_rules WHERE user_id = ANY($1::text[])', [
      [...userIds],
    ]);
    return new Map(rows.map((r) => [r.user_id, r.rules]));
  }

  /**
   * For each question, the newest `perRoom` events of its range as PDUs, newest first, without the user's own, those of
   * ignored users and redacted ones (their content is gone); and without membership changes of others when
   * `othersMembership` is false. One statement for all the questions, answered in their order.
   */
  async unreadEvents(questions: readonly UnreadQuestion[], perRoom: number): Promise<JsonObject[][]> {
    const out: JsonObject[][] = questions.map(() => []);
    if (questions.length === 0) return out;
    const { rows } = await this.db.query<{ i: number | string; pdu: string }>(
      `SELECT k.i, e.pdu
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::boolean[], $6::text[])
              WITH ORDINALITY AS k(user_id, room_id, after, up_to, others, ignored, i)
         CROSS JOIN LATERAL (
           SELECT pdu, stream_ordering FROM events
            WHERE room_id = k.room_id AND stream_ordering > k.after AND stream_ordering <= k.up_to
              AND sender <> k.user_id AND redacted_by IS NULL AND NOT (k.ignored::jsonb ? sender)
              AND (k.others OR type <> 'm.room.member' OR state_key = k.user_id)
            ORDER BY stream_ordering DESC LIMIT $7) e
        ORDER BY k.i, e.stream_ordering DESC`,
      [
        questions.map((q) => q.userId),
        questions.map((q) => q.roomId),
        questions.map((q) => q.after),
        questions.map((q) => q.upTo),
        questions.map((q) => q.othersMembership),
        questions.map((q) => JSON.stringify(q.ignored)),
        perRoom,
      ],
    );
    for (const r of rows) out[Number(r.i) - 1]?.push(JSON.parse(r.pdu) as JsonObject);
    return out;
  }

  /** What push rule conditions read about each room that every member shares (the user's own member event aside). */
  async roomFacts(roomIds: readonly string[]): Promise<Map<string, RoomPushFacts>> {
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
          WHERE s.room_id = ANY($1::text[]) AND s.type IN ('m.room.create', 'm.room.power_levels') AND s.state_key = ''`,
        [ids],
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
      else facts.powerLevels = pdu;
    }
    return out;
  }

  /** Each user's current m.room.member event in each room, answered in the order asked (null where there is none). */
  async ownMembers(wanted: readonly { roomId: string; userId: string }[]): Promise<(JsonObject | null)[]> {
    const out: (JsonObject | null)[] = wanted.map(() => null);
    if (wanted.length === 0) return out;
    const { rows } = await this.db.query<{ i: number | string; pdu: string }>(
      `SELECT k.i, e.pdu FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(room_id, user_id, i)
         JOIN current_state s ON s.room_id = k.room_id AND s.type = 'm.room.member' AND s.state_key = k.user_id
         JOIN events e ON e.event_id = s.event_id`,
      [wanted.map((w) => w.roomId), wanted.map((w) => w.userId)],
    );
    for (const r of rows) out[Number(r.i) - 1] = JSON.parse(r.pdu) as JsonObject;
    return out;
  }

  /** The stream's position at boot. */
  async maxStreamId(): Promise<number> {
    const { rows } = await this.db.query<{ max: number | string | null }>('SELECT max(stream_id) AS max FROM push_rules');
    return Number(rows[0]?.max ?? 0);
  }
}
