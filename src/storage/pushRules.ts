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
  /** Also say whether the room's state changed or anything was redacted in the range (UnreadEvents.changed). */
  watchChanges?: boolean;
}

/** The answer to one UnreadQuestion. */
export interface UnreadEvents {
  /** Newest first, at most `perRoom`. */
  events: JsonObject[];
  /** Every event of the range the question counts is in `events` (false when a limit may have left some out). */
  complete: boolean;
  /**
   * Asked with `watchChanges`: a state event or a state change (state_history, which a federated event's resolution
   * can write without being a state event itself) or an m.room.redaction landed in the range, whoever sent it.
   */
  changed: boolean;
}

/** A user's push rules document and the push_rules stream id of its latest change. */
export interface StoredPushRules {
  rules: JsonObject;
  streamId: number;
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
    // A write may commit after one with a larger stream id (ids are taken before the row's lock): the larger id stays
    // (test/storage/streamRows.test.ts says why).
    await this.db.query(
      `INSERT INTO push_rules (user_id, rules, stream_id) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET rules = EXCLUDED.rules, stream_id = GREATEST(push_rules.stream_id, EXCLUDED.stream_id)`,
      [userId, rules, streamId],
    );
  }

  /** The push rules documents of these users with their stream ids (a user with none is left out). */
  async getMany(userIds: readonly string[]): Promise<Map<string, StoredPushRules>> {
    const { rows } = await this.db.query<{ user_id: string; rules: JsonObject; stream_id: number | string }>(
      'SELECT user_id, rules, stream_id FROM push_rules WHERE user_id = ANY($1::text[])',
      [[...userIds]],
    );
    return new Map(rows.map((r) => [r.user_id, { rules: r.rules, streamId: Number(r.stream_id) }]));
  }

  /**
   * For each question, the newest `perRoom` events of its range as PDUs, newest first, without the user's own, those of
   * ignored users and redacted ones (their content is gone); and without membership changes of others when
   * `othersMembership` is false. With `watchChanges`, also whether anything in the range (counted or not) may change
   * what evaluating the events gives (UnreadEvents.changed). One statement for all the questions, answered in their
   * order.
   *
   * Questions of one room and `upTo` without others' membership changes (the members one message wakes) share one read
   * of the room's newest `2 × perRoom` events that any of them could count, each PDU parsed once and the same object
   * handed to every question that keeps it (callers must not change it). So a user of such a group gets fewer than
   * `perRoom` events, although they have more unread, only when more than `perRoom` of those newest events are not
   * theirs to count (their own, an ignored sender's, another member's invite or kick); their answer is then not
   * `complete`.
   */
  async unreadEvents(questions: readonly UnreadQuestion[], perRoom: number): Promise<UnreadEvents[]> {
    const out: UnreadEvents[] = questions.map(() => ({ events: [], complete: true, changed: false }));
    if (questions.length === 0) return out;
    const groups = groupQuestions(questions);
    const limits = groups.map((g) => (g.asked.length > 1 ? 2 * perRoom : perRoom));
    const { rows } = await this.db.query<UnreadRow>(
      `SELECT g.i, c.changed_at, e.stream_ordering, e.sender, e.type, e.state_key, e.pdu
         FROM (SELECT room_id, after, up_to, user_id, ignored::jsonb AS ignored, others, members::jsonb AS members, watch_after, lim, i
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::bigint[], $9::int[])
                      WITH ORDINALITY AS u(room_id, after, up_to, user_id, ignored, others, members, watch_after, lim, i)) g
         -- The newest change in (watch_after, up_to]; a null watch_after (nobody watching) matches nothing.
         CROSS JOIN LATERAL (SELECT GREATEST(
           (SELECT max(stream_ordering) FROM state_history
             WHERE room_id = g.room_id AND stream_ordering > g.watch_after AND stream_ordering <= g.up_to),
           (SELECT max(stream_ordering) FROM events
             WHERE room_id = g.room_id AND stream_ordering > g.watch_after AND stream_ordering <= g.up_to
               AND (state_key IS NOT NULL OR type = 'm.room.redaction'))) AS changed_at) c
         LEFT JOIN LATERAL (
           SELECT stream_ordering, sender, type, state_key, pdu FROM events
            WHERE room_id = g.room_id AND stream_ordering > g.after AND stream_ordering <= g.up_to AND redacted_by IS NULL
              AND (g.user_id = '' OR (sender <> g.user_id AND NOT (g.ignored ? sender)))
              AND (g.others OR type <> 'm.room.member' OR (sender <> state_key AND g.members ? state_key))
            ORDER BY stream_ordering DESC LIMIT g.lim) e ON true
        ORDER BY g.i, e.stream_ordering DESC`,
      [
        groups.map((g) => g.roomId),
        groups.map((g) => g.after),
        groups.map((g) => g.upTo),
        groups.map((g) => g.userId),
        groups.map((g) => JSON.stringify(g.ignored)),
        groups.map((g) => g.othersMembership),
        // An object, whose keys `?` finds by binary search, rather than an array it scans.
        groups.map((g) => JSON.stringify(Object.fromEntries(g.asked.map((i) => [questions[i]?.userId, 1])))),
        groups.map((g) => g.watchAfter),
        limits,
      ],
    );
    const byGroup: Candidate[][] = groups.map(() => []);
    const changedAt: (number | null)[] = groups.map(() => null);
    for (const r of rows) {
      const n = Number(r.i) - 1;
      if (r.changed_at !== null) changedAt[n] = Number(r.changed_at);
      if (r.stream_ordering !== null) byGroup[n]?.push(r);
    }
    for (const [n, group] of groups.entries()) {
      const candidates = byGroup[n] ?? [];
      const changed = changedAt[n] ?? null;
      // Parsed when first kept, once for all the questions that keep it.
      const parsed: (JsonObject | undefined)[] = [];
      for (const i of group.asked) {
        const q = questions[i];
        const answer = out[i];
        if (!q || !answer) continue;
        answer.changed = q.watchChanges === true && changed !== null && changed > q.after;
        // Running out of candidates leaves nothing out only when the read was not cut by its limit.
        answer.complete = candidates.length < (limits[n] ?? 0);
        const ignored = new Set(q.ignored);
        for (const [k, c] of candidates.entries()) {
          // Newest first: the rest are before this question's range.
          if (Number(c.stream_ordering) <= q.after) {
            answer.complete = true;
            break;
          }
          if (c.sender === q.userId || ignored.has(c.sender)) continue;
          if (c.type === 'm.room.member' && !q.othersMembership && c.state_key !== q.userId) continue;
          if (answer.events.length >= perRoom) {
            answer.complete = false;
            break;
          }
          answer.events.push((parsed[k] ??= JSON.parse(c.pdu) as JsonObject));
        }
      }
    }
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
}

/** An event of a group's read in unreadEvents' statement. */
interface Candidate {
  i: number | string;
  changed_at: number | string | null;
  stream_ordering: number | string;
  sender: string;
  type: string;
  state_key: string | null;
  pdu: string;
}

/** A row of that statement: a candidate, or (its event columns null) only the group's newest change if it has none. */
type UnreadRow = Candidate | (Pick<Candidate, 'i' | 'changed_at'> & { [K in 'stream_ordering' | 'sender' | 'type' | 'state_key' | 'pdu']: null });

/** One read of a room's events: for one question, or shared by several (see PushRulesStore.unreadEvents). */
interface UnreadGroup {
  roomId: string;
  after: number;
  upTo: number;
  /** The one asker whose own and ignored senders' events the read leaves out; '' when shared. */
  userId: string;
  ignored: readonly string[];
  othersMembership: boolean;
  /** Where to look for changes from: the lowest `after` of the questions watching them; null if none is. */
  watchAfter: number | null;
  /** Indexes of the questions this read answers. */
  asked: number[];
}

function groupQuestions(questions: readonly UnreadQuestion[]): UnreadGroup[] {
  const groups: UnreadGroup[] = [];
  const shared = new Map<string, UnreadGroup>();
  for (const [i, q] of questions.entries()) {
    const watchAfter = q.watchChanges === true ? q.after : null;
    const alone: UnreadGroup = {
      roomId: q.roomId,
      after: q.after,
      upTo: q.upTo,
      userId: q.userId,
      ignored: q.ignored,
      othersMembership: q.othersMembership,
      watchAfter,
      asked: [i],
    };
    // Someone whose rules read others' membership changes would pull every member event of the room into the read.
    if (q.othersMembership) {
      groups.push(alone);
      continue;
    }
    const key = `${q.roomId}\u0000${q.upTo}`;
    const group = shared.get(key);
    if (!group) {
      shared.set(key, alone);
      groups.push(alone);
    } else {
      group.after = Math.min(group.after, q.after);
      if (watchAfter !== null) group.watchAfter = group.watchAfter === null ? watchAfter : Math.min(group.watchAfter, watchAfter);
      group.userId = '';
      group.ignored = [];
      group.asked.push(i);
    }
  }
  return groups;
}
