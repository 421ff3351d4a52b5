// Events, the DAG edges, state and memberships (migrations/0004). One write path, `persistEventBatch`, stores a
// batch of already-authorised events of one room in the caller's transaction; everything else reads.
import type { JsonObject } from '../protocol/json.ts';
import type { Database, Queryable } from './database.ts';

/** What every stored event carries, as the writer and readers see it. */
interface EventFields {
  streamOrdering: number;
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  sender: string;
  depth: number;
  originServerTs: number;
  redacts: string | null;
  pdu: JsonObject;
}

export interface StoredEvent extends EventFields {
  redactedBy: string | null;
}

/** One event to persist, with what the writer knows about it. */
export interface EventToPersist extends EventFields {
  prevEvents: readonly string[];
  authEvents: readonly string[];
  /** For state events: the event that held this (type, state_key) before. */
  replacesState: string | null;
  /** For m.room.member: content.membership. */
  membership: string | null;
  /** m.room.member about a user of this server: also written to local_memberships. */
  localMember: boolean;
  txn: { userId: string; deviceId: string; txnId: string } | null;
}

export interface EventBatch {
  roomId: string;
  events: readonly EventToPersist[];
  /** The room's forward extremities after the batch (replacing the current ones). */
  extremities: readonly string[];
  /** A new room: its row is created first. */
  newRoom?: { version: string; creator: string; isPublic: boolean; createdTs: number };
  now: number;
}

/** An `events` row as EVENT_COLUMNS selects it. */
export interface EventRow {
  stream_ordering: number;
  event_id: string;
  room_id: string;
  type: string;
  state_key: string | null;
  sender: string;
  depth: number;
  origin_server_ts: number;
  redacts: string | null;
  redacted_by: string | null;
  pdu: string;
}

export const EVENT_COLUMNS =
  'e.stream_ordering, e.event_id, e.room_id, e.type, e.state_key, e.sender, e.depth, e.origin_server_ts, e.redacts, e.redacted_by, e.pdu';

export function toStoredEvent(r: EventRow): StoredEvent {
  return {
    streamOrdering: r.stream_ordering,
    eventId: r.event_id,
    roomId: r.room_id,
    type: r.type,
    stateKey: r.state_key,
    sender: r.sender,
    depth: r.depth,
    originServerTs: r.origin_server_ts,
    redacts: r.redacts,
    redactedBy: r.redacted_by,
    pdu: JSON.parse(r.pdu) as JsonObject,
  };
}

/**
 * Writes a batch of one room's events with everything that goes with them: DAG edges, forward extremities, txn ids,
 * state history, current state, local memberships and redaction marks. It is ONE statement (data-modifying CTEs over
 * unnest()ed arrays), so it is atomic without an explicit transaction and costs one round trip whatever the batch
 * size. A new room's row must exist first (see `persistEventBatch`).
 */
export async function writeEventBatch(q: Queryable, batch: EventBatch): Promise<void> {
  const { roomId, events } = batch;
  if (events.length === 0) return;
  const edges = events.flatMap((e) => e.prevEvents.map((p) => [e.eventId, p] as const));
  const auth = events.flatMap((e) => e.authEvents.map((a) => [e.eventId, a] as const));
  const txns = events.filter((e) => e.txn !== null);
  const state = events.filter((e) => e.stateKey !== null);
  // Several changes to one key in a batch: the last one is current.
  const latest = new Map<string, EventToPersist>();
  for (const e of state) latest.set(`${e.type}\u0000${e.stateKey}`, e);
  const current = [...latest.values()];
  const members = current.filter((e) => e.localMember && e.stateKey !== null && e.membership !== null);
  // A redaction of an event in the same batch is marked on the row being inserted; others by an UPDATE.
  const redactedBy = new Map<string, string>();
  for (const e of events) if (e.type === 'm.room.redaction' && e.redacts !== null) redactedBy.set(e.redacts, e.eventId);
  const inBatch = new Set(events.map((e) => e.eventId));
  const redactions = [...redactedBy].filter(([target]) => !inBatch.has(target));
  // Only the parts this batch needs, so that a plain message batch plans a small statement.
  const params: unknown[] = [];
  const p = (value: unknown, cast: string) => {
    params.push(value);
    return `$${params.length}::${cast}`;
  };
  const room = p(roomId, 'text');
  const parts: string[] = [
    `ev AS (INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, redacts, pdu, redacted_by)
            SELECT * FROM unnest(${p(events.map((e) => e.streamOrdering), 'bigint[]')}, ${p(events.map((e) => e.eventId), 'text[]')},
              ${p(events.map((e) => e.roomId), 'text[]')}, ${p(events.map((e) => e.type), 'text[]')}, ${p(events.map((e) => e.stateKey), 'text[]')},
              ${p(events.map((e) => e.sender), 'text[]')}, ${p(events.map((e) => e.depth), 'bigint[]')}, ${p(events.map((e) => e.originServerTs), 'bigint[]')},
              ${p(events.map((e) => e.redacts), 'text[]')}, ${p(events.map((e) => JSON.stringify(e.pdu)), 'text[]')},
              ${p(events.map((e) => redactedBy.get(e.eventId) ?? null), 'text[]')}))`,
    `fd AS (DELETE FROM forward_extremities WHERE room_id = ${room})`,
    `fi AS (INSERT INTO forward_extremities (room_id, event_id) SELECT ${room}, x FROM unnest(${p([...batch.extremities], 'text[]')}) AS x)`,
  ];
  if (edges.length > 0) {
    parts.push(`ed AS (INSERT INTO event_edges (event_id, prev_event_id)
                SELECT * FROM unnest(${p(edges.map((x) => x[0]), 'text[]')}, ${p(edges.map((x) => x[1]), 'text[]')}) ON CONFLICT DO NOTHING)`);
  }
  if (auth.length > 0) {
    parts.push(`au AS (INSERT INTO event_auth (event_id, auth_event_id)
                SELECT * FROM unnest(${p(auth.map((x) => x[0]), 'text[]')}, ${p(auth.map((x) => x[1]), 'text[]')}) ON CONFLICT DO NOTHING)`);
  }
  if (txns.length > 0) {
    parts.push(`tx AS (INSERT INTO event_txn_ids (user_id, device_id, txn_id, event_id, room_id, created_ts)
                SELECT u, d, t, e, ${room}, ${p(batch.now, 'bigint')}
                  FROM unnest(${p(txns.map((e) => e.txn?.userId ?? ''), 'text[]')}, ${p(txns.map((e) => e.txn?.deviceId ?? ''), 'text[]')},
                              ${p(txns.map((e) => e.txn?.txnId ?? ''), 'text[]')}, ${p(txns.map((e) => e.eventId), 'text[]')}) AS k(u, d, t, e)
                ON CONFLICT DO NOTHING RETURNING 1)`);
  }
  if (state.length > 0) {
    parts.push(`sh AS (INSERT INTO state_history (room_id, stream_ordering, type, state_key, event_id, prev_event_id, membership)
                SELECT ${room}, * FROM unnest(${p(state.map((e) => e.streamOrdering), 'bigint[]')}, ${p(state.map((e) => e.type), 'text[]')},
                  ${p(state.map((e) => e.stateKey), 'text[]')}, ${p(state.map((e) => e.eventId), 'text[]')},
                  ${p(state.map((e) => e.replacesState), 'text[]')}, ${p(state.map((e) => e.membership), 'text[]')}))`);
    parts.push(`cs AS (INSERT INTO current_state (room_id, type, state_key, event_id, stream_ordering, membership)
                SELECT ${room}, * FROM unnest(${p(current.map((e) => e.type), 'text[]')}, ${p(current.map((e) => e.stateKey), 'text[]')},
                  ${p(current.map((e) => e.eventId), 'text[]')}, ${p(current.map((e) => e.streamOrdering), 'bigint[]')},
                  ${p(current.map((e) => e.membership), 'text[]')})
                ON CONFLICT (room_id, type, state_key)
                DO UPDATE SET event_id = EXCLUDED.event_id, stream_ordering = EXCLUDED.stream_ordering, membership = EXCLUDED.membership)`);
  }
  if (members.length > 0) {
    parts.push(`lm AS (INSERT INTO local_memberships (user_id, room_id, membership, event_id, stream_ordering, forgotten)
                SELECT u, ${room}, m, e, o, false
                  FROM unnest(${p(members.map((e) => e.stateKey), 'text[]')}, ${p(members.map((e) => e.membership), 'text[]')},
                              ${p(members.map((e) => e.eventId), 'text[]')}, ${p(members.map((e) => e.streamOrdering), 'bigint[]')}) AS k(u, m, e, o)
                ON CONFLICT (user_id, room_id)
                DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id,
                              stream_ordering = EXCLUDED.stream_ordering, forgotten = false)`);
  }
  if (redactions.length > 0) {
    parts.push(`rd AS (UPDATE events SET redacted_by = k.r
                  FROM unnest(${p(redactions.map((x) => x[0]), 'text[]')}, ${p(redactions.map((x) => x[1]), 'text[]')}) AS k(target, r)
                 WHERE events.event_id = k.target AND events.room_id = ${room} AND events.redacted_by IS NULL)`);
  }
  // With txn ids, every one must be new: otherwise the statement divides by zero and so writes nothing at all (a
  // CASE over a subquery is not folded at plan time, so the division only happens when the count is short).
  const check = txns.length > 0 ? `SELECT 1 / (CASE WHEN (SELECT count(*) FROM tx) = ${p(txns.length, 'bigint')} THEN 1 ELSE 0 END)` : 'SELECT 1';
  try {
    const sql = `WITH ${parts.join(',\n')} ${check}`;
    await q.query(sql, params);
  } catch (error) {
    if ((error as { code?: unknown }).code === DIVISION_BY_ZERO) throw new DuplicateTxnError();
    throw error;
  }
}

const DIVISION_BY_ZERO = '22012';

/** A batch carried a (user, device, txn id) that was already used; nothing of the batch was written. */
export class DuplicateTxnError extends Error {
  constructor() {
    super('a transaction id of the batch was used before');
    this.name = 'DuplicateTxnError';
  }
}

/** Stores a batch: a new room's row and its first events in one transaction, otherwise the single statement. */
export async function persistEventBatch(db: Database, batch: EventBatch): Promise<void> {
  const newRoom = batch.newRoom;
  if (!newRoom) return writeEventBatch(db, batch);
  await db.transaction(async (tx) => {
    await tx.query('INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts) VALUES ($1, $2, $3, $4, $5)', [
      batch.roomId,
      newRoom.version,
      newRoom.creator,
      newRoom.isPublic,
      newRoom.createdTs,
    ]);
    await writeEventBatch(tx, batch);
  });
}

export interface RoomRow {
  roomId: string;
  version: string;
  creator: string;
  isPublic: boolean;
}

export interface MembershipChange {
  streamOrdering: number;
  membership: string;
  eventId: string;
}

/** The read side of events, state and memberships. */
export class EventStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /** The newest stream ordering stored (0 for none): the `events` stream's position at boot. */
  async maxStreamOrdering(): Promise<number> {
    const { rows } = await this.db.query<{ max: number | null }>('SELECT max(stream_ordering) AS max FROM events');
    return rows[0]?.max ?? 0;
  }

  async getRoom(roomId: string): Promise<RoomRow | null> {
    const { rows } = await this.db.query<{ room_id: string; room_version: string; creator: string; is_public: boolean }>(
      'SELECT room_id, room_version, creator, is_public FROM rooms WHERE room_id = $1',
      [roomId],
    );
    const r = rows[0];
    return r ? { roomId: r.room_id, version: r.room_version, creator: r.creator, isPublic: r.is_public } : null;
  }

  async getEvent(eventId: string): Promise<StoredEvent | null> {
    const { rows } = await this.db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events e WHERE e.event_id = $1`, [eventId]);
    return rows[0] ? toStoredEvent(rows[0]) : null;
  }

  async getEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    if (eventIds.length === 0) return new Map();
    const { rows } = await this.db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events e WHERE e.event_id = ANY($1::text[])`, [
      [...eventIds],
    ]);
    return new Map(rows.map((r) => [r.event_id, toStoredEvent(r)]));
  }

  async currentState(roomId: string): Promise<StoredEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM current_state s JOIN events e ON e.event_id = s.event_id WHERE s.room_id = $1
       ORDER BY s.type, s.state_key`,
      [roomId],
    );
    return rows.map(toStoredEvent);
  }

  async currentStateEvent(roomId: string, type: string, stateKey: string): Promise<StoredEvent | null> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM current_state s JOIN events e ON e.event_id = s.event_id
        WHERE s.room_id = $1 AND s.type = $2 AND s.state_key = $3`,
      [roomId, type, stateKey],
    );
    return rows[0] ? toStoredEvent(rows[0]) : null;
  }

  /** The room's state after every event up to stream ordering `at`. */
  async stateAt(roomId: string, at: number): Promise<StoredEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM (
         SELECT DISTINCT ON (type, state_key) event_id FROM state_history
          WHERE room_id = $1 AND stream_ordering <= $2
          ORDER BY type, state_key, stream_ordering DESC
       ) s JOIN events e ON e.event_id = s.event_id ORDER BY e.type, e.state_key`,
      [roomId, at],
    );
    return rows.map(toStoredEvent);
  }

  /** The state event holding (type, state_key) after every event up to `at`. */
  async stateEventAt(roomId: string, type: string, stateKey: string, at: number): Promise<StoredEvent | null> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM state_history s JOIN events e ON e.event_id = s.event_id
        WHERE s.room_id = $1 AND s.type = $2 AND s.state_key = $3 AND s.stream_ordering <= $4
        ORDER BY s.stream_ordering DESC LIMIT 1`,
      [roomId, type, stateKey, at],
    );
    return rows[0] ? toStoredEvent(rows[0]) : null;
  }

  /** Every change of one (type, state_key) in a room, oldest first (membership history, visibility history). */
  async stateKeyHistory(roomId: string, type: string, stateKey: string): Promise<{ streamOrdering: number; eventId: string; membership: string | null }[]> {
    const { rows } = await this.db.query<{ stream_ordering: number; event_id: string; membership: string | null }>(
      `SELECT stream_ordering, event_id, membership FROM state_history
        WHERE room_id = $1 AND type = $2 AND state_key = $3 ORDER BY stream_ordering`,
      [roomId, type, stateKey],
    );
    return rows.map((r) => ({ streamOrdering: r.stream_ordering, eventId: r.event_id, membership: r.membership }));
  }

  /**
   * The state that changed in a room between two stream positions (after `from`, up to and including `to`): for each
   * (type, state_key) changed, its newest event in that range, ordered by stream ordering. For incremental sync.
   */
  async stateChangesBetween(roomId: string, from: number, to: number): Promise<StoredEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM (
         SELECT DISTINCT ON (type, state_key) event_id FROM state_history
          WHERE room_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3
          ORDER BY type, state_key, stream_ordering DESC
       ) s JOIN events e ON e.event_id = s.event_id ORDER BY e.stream_ordering`,
      [roomId, from, to],
    );
    return rows.map(toStoredEvent);
  }

  /** For state events of one room (by stream ordering): the event each replaced, where there was one. */
  async replacedState(roomId: string, streamOrderings: readonly number[]): Promise<Map<string, string>> {
    if (streamOrderings.length === 0) return new Map();
    const { rows } = await this.db.query<{ event_id: string; prev_event_id: string }>(
      `SELECT event_id, prev_event_id FROM state_history
        WHERE room_id = $1 AND stream_ordering = ANY($2::bigint[]) AND prev_event_id IS NOT NULL`,
      [roomId, [...streamOrderings]],
    );
    return new Map(rows.map((r) => [r.event_id, r.prev_event_id]));
  }

  async forwardExtremities(roomId: string): Promise<StoredEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM forward_extremities f JOIN events e ON e.event_id = f.event_id WHERE f.room_id = $1`,
      [roomId],
    );
    return rows.map(toStoredEvent);
  }

  /**
   * A page of a room's timeline in stream order: `dir` 'b' gives events with ordering <= from, newest first;
   * 'f' gives ordering > from, oldest first. `to` bounds the other end (exclusive of what lies beyond it).
   */
  async roomEvents(roomId: string, dir: 'b' | 'f', from: number, limit: number, to?: number): Promise<StoredEvent[]> {
    const { rows } =
      dir === 'b'
        ? await this.db.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.stream_ordering <= $2 AND e.stream_ordering > $3
              ORDER BY e.stream_ordering DESC LIMIT $4`,
            [roomId, from, to ?? 0, limit],
          )
        : await this.db.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.stream_ordering > $2 AND e.stream_ordering <= $3
              ORDER BY e.stream_ordering ASC LIMIT $4`,
            [roomId, from, to ?? Number.MAX_SAFE_INTEGER, limit],
          );
    return rows.map(toStoredEvent);
  }

  async eventIdForTxn(userId: string, deviceId: string, txnId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ event_id: string }>(
      'SELECT event_id FROM event_txn_ids WHERE user_id = $1 AND device_id = $2 AND txn_id = $3',
      [userId, deviceId, txnId],
    );
    return rows[0]?.event_id ?? null;
  }

  /** The events already sent with any of these (user, device, txn id) keys, keyed `user\0device\0txn`. */
  async eventIdsForTxns(keys: readonly { userId: string; deviceId: string; txnId: string }[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const { rows } = await this.db.query<{ user_id: string; device_id: string; txn_id: string; event_id: string }>(
      `SELECT t.user_id, t.device_id, t.txn_id, t.event_id
         FROM unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, device_id, txn_id)
         JOIN event_txn_ids t ON t.user_id = k.user_id AND t.device_id = k.device_id AND t.txn_id = k.txn_id`,
      [keys.map((k) => k.userId), keys.map((k) => k.deviceId), keys.map((k) => k.txnId)],
    );
    return new Map(rows.map((r) => [`${r.user_id}\u0000${r.device_id}\u0000${r.txn_id}`, r.event_id]));
  }

  /** The txn ids the given device used for any of these events. */
  async txnIdsOf(userId: string, deviceId: string, eventIds: readonly string[]): Promise<Map<string, string>> {
    if (eventIds.length === 0) return new Map();
    const { rows } = await this.db.query<{ event_id: string; txn_id: string }>(
      'SELECT event_id, txn_id FROM event_txn_ids WHERE user_id = $1 AND device_id = $2 AND event_id = ANY($3::text[])',
      [userId, deviceId, [...eventIds]],
    );
    return new Map(rows.map((r) => [r.event_id, r.txn_id]));
  }

  /** For many (user, device, event) keys at once: the txn id that device sent the event with, keyed `user\0device\0event`. */
  async txnIdsOfMany(keys: readonly { userId: string; deviceId: string; eventId: string }[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const { rows } = await this.db.query<{ user_id: string; device_id: string; event_id: string; txn_id: string }>(
      `SELECT t.user_id, t.device_id, t.event_id, t.txn_id
         FROM unnest($1::text[], $2::text[], $3::text[]) AS k(user_id, device_id, event_id)
         JOIN event_txn_ids t ON t.user_id = k.user_id AND t.device_id = k.device_id AND t.event_id = k.event_id`,
      [keys.map((k) => k.userId), keys.map((k) => k.deviceId), keys.map((k) => k.eventId)],
    );
    return new Map(rows.map((r) => [`${r.user_id}\u0000${r.device_id}\u0000${r.event_id}`, r.txn_id]));
  }

  /** Rooms a local user is joined to (the notifier's loadRoomsForUser, /joined_rooms). */
  async joinedRooms(userId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ room_id: string }>(
      "SELECT room_id FROM local_memberships WHERE user_id = $1 AND membership = 'join' ORDER BY room_id",
      [userId],
    );
    return rows.map((r) => r.room_id);
  }

  async localMembership(userId: string, roomId: string): Promise<{ membership: string; streamOrdering: number; forgotten: boolean } | null> {
    const { rows } = await this.db.query<{ membership: string; stream_ordering: number; forgotten: boolean }>(
      'SELECT membership, stream_ordering, forgotten FROM local_memberships WHERE user_id = $1 AND room_id = $2',
      [userId, roomId],
    );
    const r = rows[0];
    return r ? { membership: r.membership, streamOrdering: r.stream_ordering, forgotten: r.forgotten } : null;
  }

  async forget(userId: string, roomId: string): Promise<void> {
    await this.db.query('UPDATE local_memberships SET forgotten = true WHERE user_id = $1 AND room_id = $2', [userId, roomId]);
  }
}
