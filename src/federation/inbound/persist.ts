// Storing one accepted remote event in the timeline, in one transaction: the event row at its stream ordering, its
// DAG edges, the room's new forward extremities, and the state change the event brought about. Unlike a local
// event (src/storage/events.ts writeEventBatch, where the new state is the old state plus the event), a remote
// event's effect on the current state comes from state resolution and may change keys other than its own, or not
// its own at all: `stateChanges` lists every (type, state_key) whose holder changed, and each is written as a
// state_history row at the event's stream ordering, so that "state at stream position S" stays true for sync.
import type { RoomEvent } from '../../protocol/events.ts';
import type { Database } from '../../storage/database.ts';

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

export async function writeRemoteEvent(db: Database, w: RemoteEventWrite): Promise<void> {
  const e = w.event;
  const redacts = e.type === 'm.room.redaction' ? (e.redacts ?? null) : null;
  const redacted = w.applyRedaction ? redacts : null;
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, redacts, pdu)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [w.streamOrdering, e.event_id, e.room_id, e.type, e.state_key ?? null, e.sender, e.depth, e.origin_server_ts, redacts, JSON.stringify(e.pdu ?? {})],
    );
    await tx.query(
      `INSERT INTO event_edges (event_id, prev_event_id) SELECT $1, x FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING`,
      [e.event_id, e.prev_events],
    );
    await tx.query(
      `INSERT INTO event_auth (event_id, auth_event_id) SELECT $1, x FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING`,
      [e.event_id, e.auth_events],
    );
    await tx.query('DELETE FROM forward_extremities WHERE room_id = $1', [e.room_id]);
    await tx.query('INSERT INTO forward_extremities (room_id, event_id) SELECT $1, x FROM unnest($2::text[]) AS x', [e.room_id, [...w.extremities]]);
    const changes = w.stateChanges;
    if (changes.length > 0) {
      const cols = [changes.map((c) => c.type), changes.map((c) => c.stateKey), changes.map((c) => c.eventId), changes.map((c) => c.replaces), changes.map((c) => c.membership)];
      await tx.query(
        `INSERT INTO state_history (room_id, stream_ordering, type, state_key, event_id, prev_event_id, membership)
         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
        [e.room_id, w.streamOrdering, ...cols],
      );
      await tx.query(
        `INSERT INTO current_state (room_id, type, state_key, event_id, stream_ordering, membership)
         SELECT $1, t, k, ev, $2, m FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS x(t, k, ev, m)
         ON CONFLICT (room_id, type, state_key)
         DO UPDATE SET event_id = EXCLUDED.event_id, stream_ordering = EXCLUDED.stream_ordering, membership = EXCLUDED.membership`,
        [e.room_id, w.streamOrdering, cols[0], cols[1], cols[2], cols[4]],
      );
      const members = changes.filter((c) => c.type === 'm.room.member' && c.membership !== null && w.isLocalUser(c.stateKey));
      if (members.length > 0) {
        await tx.query(
          `INSERT INTO local_memberships (user_id, room_id, membership, event_id, stream_ordering, forgotten)
           SELECT u, $1, m, ev, $2, false FROM unnest($3::text[], $4::text[], $5::text[]) AS x(u, m, ev)
           ON CONFLICT (user_id, room_id)
           DO UPDATE SET membership = EXCLUDED.membership, event_id = EXCLUDED.event_id, stream_ordering = EXCLUDED.stream_ordering, forgotten = false`,
          [e.room_id, w.streamOrdering, members.map((c) => c.stateKey), members.map((c) => c.membership), members.map((c) => c.eventId)],
        );
      }
    }
    if (redacted !== null) {
      await tx.query('UPDATE events SET redacted_by = $1 WHERE event_id = $2 AND room_id = $3 AND redacted_by IS NULL', [e.event_id, redacted, e.room_id]);
    }
  });
}
