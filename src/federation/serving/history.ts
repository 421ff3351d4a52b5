// Serving a room's history to remote servers: single events, the state (or state ids) at an event with its auth
// chain, backfill, get_missing_events and event_auth. Every answer honours what the asking server may see
// (ServerVisibility): an event it may not see is withheld when asked for by id, and served redacted where it is part
// of a walk of the DAG (backfill, missing events), so that the asker's graph stays connected.
import { redactEvent } from '../../protocol/redaction.ts';
import type { JsonObject } from '../../protocol/json.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import { getRoomVersion } from '../../protocol/roomVersions.ts';
import type { Queryable } from '../../storage/database.ts';
import type { EventStore, RoomRow, StoredEvent } from '../../storage/events.ts';
import { MatrixError, forbidden, notFound } from '../../http/errors.ts';
import { authChain } from './authChain.ts';
import { checkServerAcl } from './serverAcl.ts';
import { ServerVisibility } from './visibility.ts';

/** The most events one backfill or get_missing_events answer carries, whatever limit was asked for. */
export const MAX_HISTORY_EVENTS = 100;

export interface Transaction {
  origin: string;
  origin_server_ts: number;
  pdus: JsonObject[];
}

/** What /event needs of an event kept outside the timeline. */
type OutlierEvent = Pick<StoredEvent, 'roomId' | 'pdu' | 'redactedBy' | 'type' | 'stateKey' | 'streamOrdering'>;

export interface MissingEventsRequest {
  latestEvents: readonly string[];
  earliestEvents: readonly string[];
  limit: number;
  minDepth: number;
}

/** The PDU as stored, or its redacted form when it was redacted or the server may not see its content. */
export function servedPdu(event: Pick<StoredEvent, 'pdu' | 'redactedBy'>, version: RoomVersion, visible = true): JsonObject {
  return event.redactedBy !== null || !visible ? redactEvent(event.pdu, version) : event.pdu;
}

export function roomVersionOf(room: RoomRow): RoomVersion {
  const v = getRoomVersion(room.version);
  if (!v) throw new MatrixError(500, 'M_UNKNOWN', `Room ${room.roomId} has an unknown version`);
  return v;
}

export class RoomHistoryServer {
  private readonly db: Queryable;
  private readonly events: EventStore;
  private readonly serverName: string;
  private readonly now: () => number;

  constructor(opts: { db: Queryable; events: EventStore; serverName: string; now(): number }) {
    this.db = opts.db;
    this.events = opts.events;
    this.serverName = opts.serverName;
    this.now = opts.now;
  }

  private transaction(pdus: JsonObject[]): Transaction {
    return { origin: this.serverName, origin_server_ts: this.now(), pdus };
  }

  /**
   * GET /event/{eventId}: the event if the server may see it; otherwise, as for an unknown one, 404. Soft-failed
   * events and fetched auth events, kept outside the timeline, are served too (as Synapse does: they are part of
   * the DAG others may need to complete theirs); rejected ones never are.
   */
  async event(origin: string, eventId: string): Promise<Transaction> {
    const event = (await this.events.getEvent(eventId)) ?? (await this.outlier(eventId));
    const room = event ? await this.events.getRoom(event.roomId) : null;
    if (!event || !room) throw notFound(`Event ${eventId} not found`);
    const visibility = await ServerVisibility.load(this.db, this.events, room.roomId, origin);
    if (!visibility.canSee(event)) throw notFound(`Event ${eventId} not found`);
    return this.transaction([servedPdu(event, roomVersionOf(room))]);
  }

  /**
   * A soft-failed or fetched auth event, placed for visibility where it would be in the timeline: after the newest
   * of its prev events we have, or at the room's end when we have none.
   */
  private async outlier(eventId: string): Promise<OutlierEvent | null> {
    const { rows } = await this.db.query<{ room_id: string; pdu: string; position: number | null }>(
      `SELECT o.room_id, o.pdu,
              coalesce((SELECT max(e.stream_ordering) FROM events e
                         WHERE e.event_id IN (
                           -- Room versions 1 and 2 name a prev event by an [event id, hashes] pair.
                           SELECT CASE jsonb_typeof(p) WHEN 'array' THEN p ->> 0 ELSE p #>> '{}' END
                             FROM jsonb_array_elements(o.pdu::jsonb -> 'prev_events') AS p)),
                       (SELECT max(e.stream_ordering) FROM events e WHERE e.room_id = o.room_id)) AS position
         FROM event_outliers o WHERE o.event_id = $1 AND o.kind IN ('soft_failed', 'outlier')`,
      [eventId],
    );
    const row = rows[0];
    if (!row) return null;
    const pdu = JSON.parse(row.pdu) as JsonObject;
    const stateKey = pdu['state_key'];
    return {
      roomId: row.room_id,
      pdu,
      redactedBy: null,
      type: typeof pdu['type'] === 'string' ? pdu['type'] : '',
      stateKey: typeof stateKey === 'string' ? stateKey : null,
      streamOrdering: Number(row.position ?? 0),
    };
  }

  /**
   * The room, its version and what `origin` may see, once `origin` is allowed to read the room at all: it has a
   * joined user now, or the room is world_readable.
   */
  private async access(origin: string, roomId: string): Promise<{ room: RoomRow; version: RoomVersion; visibility: ServerVisibility }> {
    const room = await this.events.getRoom(roomId);
    if (!room) throw notFound(`Room ${roomId} not found`);
    await checkServerAcl(this.events, roomId, origin);
    const visibility = await ServerVisibility.load(this.db, this.events, roomId, origin);
    if (!visibility.joinedNow && !visibility.worldReadableAt(Number.MAX_SAFE_INTEGER)) {
      throw forbidden(`${origin} is not in room ${roomId}`);
    }
    return { room, version: roomVersionOf(room), visibility };
  }

  private async eventInRoom(roomId: string, eventId: string): Promise<StoredEvent> {
    const event = await this.events.getEvent(eventId);
    if (!event || event.roomId !== roomId) throw notFound(`Could not find event ${eventId} in room ${roomId}`);
    return event;
  }

  /** The state before `eventId` and the auth chain of that state. */
  private async stateBefore(origin: string, roomId: string, eventId: string) {
    const { version, visibility } = await this.access(origin, roomId);
    const event = await this.eventInRoom(roomId, eventId);
    if (!visibility.canSee(event)) throw forbidden(`${origin} may not see the state at ${eventId}`);
    // The linear state model: the state before an event is the state after everything stored before it.
    const state = await this.events.stateAt(roomId, event.streamOrdering - 1);
    const chain = await authChain(this.db, state.map((e) => e.eventId));
    return { version, state, chain };
  }

  /** GET /state/{roomId}?event_id= */
  async state(origin: string, roomId: string, eventId: string): Promise<{ pdus: JsonObject[]; auth_chain: JsonObject[] }> {
    const { version, state, chain } = await this.stateBefore(origin, roomId, eventId);
    return { pdus: state.map((e) => servedPdu(e, version)), auth_chain: chain.map((e) => servedPdu(e, version)) };
  }

  /** GET /state_ids/{roomId}?event_id= */
  async stateIds(origin: string, roomId: string, eventId: string): Promise<{ pdu_ids: string[]; auth_chain_ids: string[] }> {
    const { state, chain } = await this.stateBefore(origin, roomId, eventId);
    return { pdu_ids: state.map((e) => e.eventId), auth_chain_ids: chain.map((e) => e.eventId) };
  }

  /** GET /event_auth/{roomId}/{eventId}: the auth chain of one event. */
  async eventAuth(origin: string, roomId: string, eventId: string): Promise<{ auth_chain: JsonObject[] }> {
    const { version, visibility } = await this.access(origin, roomId);
    const event = await this.eventInRoom(roomId, eventId);
    if (!visibility.canSee(event)) throw forbidden(`${origin} may not see ${eventId}`);
    const chain = await authChain(this.db, [eventId]);
    return { auth_chain: chain.map((e) => servedPdu(e, version)) };
  }

  /**
   * GET /backfill/{roomId}: the given events and those before them, newest first, up to `limit`. With the linear
   * model, "before" is the room's stream order, which every event's prev_events respect.
   */
  async backfill(origin: string, roomId: string, from: readonly string[], limit: number): Promise<Transaction> {
    const { version, visibility } = await this.access(origin, roomId);
    const known = [...(await this.events.getEvents(from)).values()].filter((e) => e.roomId === roomId);
    if (known.length === 0 || limit <= 0) return this.transaction([]);
    const start = Math.max(...known.map((e) => e.streamOrdering));
    const rows = await this.events.roomEvents(roomId, 'b', start, Math.min(limit, MAX_HISTORY_EVENTS));
    return this.transaction(rows.map((e) => servedPdu(e, version, visibility.canSee(e))));
  }

  /**
   * POST /get_missing_events/{roomId}: a breadth-first walk of prev_events from `latestEvents`, not entering
   * `earliestEvents` nor going below `minDepth`, up to `limit` events; answered oldest first.
   */
  async missingEvents(origin: string, roomId: string, request: MissingEventsRequest): Promise<{ events: JsonObject[] }> {
    const { version, visibility } = await this.access(origin, roomId);
    const limit = Math.min(request.limit, MAX_HISTORY_EVENTS);
    const seen = new Set<string>([...request.earliestEvents, ...request.latestEvents]);
    const found: StoredEvent[] = [];
    let frontier = [...(await this.events.getEvents(request.latestEvents)).values()].filter((e) => e.roomId === roomId).map((e) => e.eventId);
    while (frontier.length > 0 && found.length < limit) {
      const { rows } = await this.db.query<{ prev_event_id: string }>(
        'SELECT DISTINCT prev_event_id FROM event_edges WHERE event_id = ANY($1::text[])',
        [frontier],
      );
      const next = rows.map((r) => r.prev_event_id).filter((id) => !seen.has(id));
      for (const id of next) seen.add(id);
      const events = await this.events.getEvents(next);
      frontier = [];
      // Within one step of the walk, newest first: those are the ones nearest the asker's gap.
      const step = [...events.values()].filter((e) => e.roomId === roomId && e.depth >= request.minDepth);
      step.sort((a, b) => b.streamOrdering - a.streamOrdering);
      for (const e of step) {
        if (found.length >= limit) break;
        found.push(e);
        frontier.push(e.eventId);
      }
    }
    found.sort((a, b) => a.streamOrdering - b.streamOrdering);
    return { events: found.map((e) => servedPdu(e, version, visibility.canSee(e))) };
  }
}
