// The events the inbound pipeline can find: the timeline (`events`, each with a stream ordering) and the remote
// events kept outside it (`event_outliers`, migrations/0012 and 0016: soft-failed, rejected, and auth events fetched
// to check another event). Also what names a received PDU (pduEventId) and what storage cannot hold (storageProblem),
// for every part of the pipeline that takes PDUs in.
import { computeEventId } from '../../protocol/eventIds.ts';
import { stateKey, type RoomEvent, type StateKey } from '../../protocol/events.ts';
import type { JsonObject } from '../../protocol/json.ts';
import { toRoomEvent } from '../../protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../protocol/roomVersions.ts';
import type { Queryable } from '../../storage/database.ts';

export type OutlierKind = 'soft_failed' | 'rejected' | 'outlier';

export interface KnownEvent {
  event: RoomEvent;
  /** Its place in the timeline; null for an outlier. */
  streamOrdering: number | null;
  outlier: OutlierKind | null;
  /** Why it was rejected or soft-failed. */
  reason: string | null;
}

/**
 * The event id a PDU names or hashes to in `version`; for a room we do not know, the v4+ id (or the v1–v2
 * `event_id`), so that an answer can still name it.
 */
export function pduEventId(pdu: JsonObject, version?: RoomVersion): string | undefined {
  const v = version ?? (typeof pdu['event_id'] === 'string' ? getRoomVersion('1') : getRoomVersion('10'));
  if (!v) return undefined;
  try {
    return computeEventId(pdu, v);
  } catch {
    return undefined;
  }
}

/**
 * What the event format allows but storage cannot hold: room versions 1–5 allow integers beyond 2^53 (bigint columns
 * and exact arithmetic stop there), and no version forbids NUL in the identifiers kept in text columns.
 */
export function storageProblem(event: RoomEvent): string | undefined {
  if (!Number.isSafeInteger(event.depth)) return 'depth is out of range';
  if (!Number.isSafeInteger(event.origin_server_ts)) return 'origin_server_ts is out of range';
  const texts = [event.type, event.sender, event.room_id, event.event_id, event.state_key, event.redacts, ...event.prev_events, ...event.auth_events];
  if (texts.some((t) => t?.includes('\u0000'))) return 'an identifier contains NUL';
  return undefined;
}

export class KnownEvents {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /** The events of `eventIds` that are known, timeline or outlier, keyed by id. */
  async get(eventIds: readonly string[], version: RoomVersion): Promise<Map<string, KnownEvent>> {
    const found = new Map<string, KnownEvent>();
    if (eventIds.length === 0) return found;
    const { rows } = await this.db.query<{ event_id: string; pdu: string; stream_ordering: number | null; kind: OutlierKind | null; reason: string | null }>(
      `SELECT event_id, pdu, stream_ordering, NULL AS kind, NULL AS reason FROM events WHERE event_id = ANY($1::text[])
       UNION ALL
       SELECT event_id, pdu, NULL, kind, reason FROM event_outliers WHERE event_id = ANY($1::text[])`,
      [[...new Set(eventIds)]],
    );
    for (const r of rows) {
      // The timeline's copy wins over an outlier row left by a race with the move into the timeline.
      if (found.has(r.event_id) && r.stream_ordering === null) continue;
      const event = toRoomEvent(JSON.parse(r.pdu) as JsonObject, version, { validate: false, eventId: r.event_id });
      found.set(r.event_id, { event, streamOrdering: r.stream_ordering, outlier: r.kind, reason: r.reason });
    }
    return found;
  }

  /** The events holding these (type, state_key) keys of the room's current state, keyed by stateKey(). */
  async currentState(roomId: string, keys: readonly StateKey[], version: RoomVersion): Promise<Map<StateKey, RoomEvent>> {
    const pairs = keys.map((k) => k.split('\u0000') as [string, string]);
    const { rows } = await this.db.query<{ event_id: string; pdu: string; type: string; state_key: string }>(
      `SELECT e.event_id, e.pdu, s.type, s.state_key FROM unnest($2::text[], $3::text[]) AS k(t, sk)
         JOIN current_state s ON s.room_id = $1 AND s.type = k.t AND s.state_key = k.sk
         JOIN events e ON e.event_id = s.event_id`,
      [roomId, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    return new Map(
      rows.map((r) => [stateKey(r.type, r.state_key), toRoomEvent(JSON.parse(r.pdu) as JsonObject, version, { validate: false, eventId: r.event_id })]),
    );
  }

  /**
   * Keeps a remote event outside the timeline. A second copy of the same event changes nothing, except that an
   * event known only as a fetched auth event ('outlier') takes the outcome of its full checks. An event already in
   * the timeline is left there.
   */
  async storeOutlier(event: RoomEvent, kind: OutlierKind, reason: string, now: number): Promise<void> {
    await this.db.query(
      `INSERT INTO event_outliers (event_id, room_id, kind, reason, pdu, received_ts)
       SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = $1)
       ON CONFLICT (event_id) DO UPDATE SET kind = EXCLUDED.kind, reason = EXCLUDED.reason, pdu = EXCLUDED.pdu, received_ts = EXCLUDED.received_ts
       WHERE event_outliers.kind = 'outlier'`,
      [event.event_id, event.room_id, kind, reason, JSON.stringify(event.pdu ?? {}), now],
    );
    // A fetched auth event is part of the auth chains we serve: its own edges let the chain walk go on past it.
    if (kind === 'outlier') {
      await this.db.query(
        'INSERT INTO event_auth (event_id, auth_event_id) SELECT $1, x FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING',
        [event.event_id, event.auth_events],
      );
    }
  }
}
