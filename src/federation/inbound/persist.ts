// Storing one accepted remote event in the timeline, atomically: the event row at its stream ordering, its
// DAG edges, the room's new forward extremities, and the state change the event brought about. Unlike a local
// event (src/storage/events.ts writeEventBatch, where the new state is the old state plus the event), a remote
// event's effect on the current state comes from state resolution and may change keys other than its own, or not
// its own at all: `stateChanges` lists every (type, state_key) whose holder changed, and each is written as a
// state_history row at the event's stream ordering, so that "state at stream position S" stays true for sync.
// An event kept until now only as a fetched auth event (event_outliers kind 'outlier') leaves event_outliers.
import type { RoomEvent } from '../../protocol/events.ts';
import type { Queryable } from '../../storage/database.ts';

export interface StateChange {
  type: string;
  stateKey: string;
  eventId: string;
  /** The event that held the key before, or null. */
  replaces: string | null;
  /** For m.room.member: content.membership. */
  membership: string | null;
}

export interface RemoteEventWrite {
  event: RoomEvent;
  streamOrdering: number;
  extremities: readonly string[];
  stateChanges: readonly StateChange[];
  /** A redaction that may be applied: its target is marked redacted. */
  applyRedaction: boolean;
  /** Which state_keys of m.room.member belong to users of this server (local_memberships). */
  isLocalUser(userId: string): boolean;
  now: number;
}

/**
 * One statement (data-modifying CTEs), so it is atomic without an explicit transaction and costs one round trip.
 * Extremities that stay are left alone, so that the delete and the insert never touch the same row.
 */
export async function writeRemoteEvent(db: Queryable, w: RemoteEventWrite): Promise<void> {
  const e = w.event;
  const redacts = e.type === 'm.room.redaction' ? (e.redacts ?? null) : null;
  const changes = w.stateChanges;
  const members = changes.filter((c) => c.type === 'm.room.member' && c.membership !== null && w.isLocalUser(c.stateKey));
  await db.query(
    `WITH ev AS (
       INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, redacts, pdu)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)),
     ol AS (DELETE FROM event_outliers WHERE event_id = $2 AND kind = 'outlier'),
     ed AS (INSERT INTO event_edges (event_id, prev_event_id) SELECT $2, x FROM unnest($11::text[]) AS x ON CONFLICT DO NOTHING),
     au AS (INSERT INTO event_auth (event_id, auth_event_id) SELECT $2, x FROM unnest($12::text[]) AS x ON CONFLICT DO NOTHING),
     fd AS (DELETE FROM forward_extremities WHERE room_id = $3 AND NOT (event_id = ANY($13::text[]))),
     fi AS (INSERT INTO forward_extremities (room_id, event_id) SELECT $3, x FROM unnest($13::text[]) AS x ON CONFLICT DO NOTHING),
     sh AS (INSERT INTO state_history (room_id, stream_ordering, type, state_key, event_id, prev_event_id, membership)
            SELECT $3, $1, * FROM unnest($14::text[], $15::text[], $16::text[], $17::text[], $18::text[])),
     cs AS (INSERT INTO current_state (room_id, type, state_key, event_id, stream_ordering, membership)
            SELECT $3, t, k, x, $1, m FROM unnest($14::text[], $15::text[], $16::text[], $18::text[]) AS c(t, k, x, m)
            ON CONFLICT (room_id, type, state_key)
            DO UPDATE SET event_id = EXCLUDED.event_id, stream_ordering = EXCLUDED.stream_ordering, membership = EXCLUDED.membership),
     lm AS (INSERT INTO local_memberships (user_id, room_id, membership, event_id, stream_ordering, forgotten)
            SELECT u, $3, m, x, $1, false FROM unnest($19::text[], $20::text[], $21::text[]) AS l(u, m, x)
            ON CONFLICT (user_id, room_id)
            DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id, stream_ordering = EXCLUDED.stream_ordering, forgotten = false)
     UPDATE events SET redacted_by = $2 WHERE event_id = $22 AND room_id = $3 AND redacted_by IS NULL`,
    [
      w.streamOrdering,
      e.event_id,
      e.room_id,
      e.type,
      e.state_key ?? null,
      e.sender,
      e.depth,
      e.origin_server_ts,
      redacts,
      JSON.stringify(e.pdu ?? {}),
      e.prev_events,
      e.auth_events,
      [...w.extremities],
      changes.map((c) => c.type),
      changes.map((c) => c.stateKey),
      changes.map((c) => c.eventId),
      changes.map((c) => c.replaces),
      changes.map((c) => c.membership),
      members.map((c) => c.stateKey),
      members.map((c) => c.membership),
      members.map((c) => c.eventId),
      w.applyRedaction ? redacts : null,
    ],
  );
}
