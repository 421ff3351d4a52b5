// Receiving a PDU from another server (server-server API "Checks performed on receipt of a PDU"), in the spec's
// order:
//   1. valid for the room version's event format, else dropped;
//   2. signed by the servers that must sign it (keys through the keyring), else dropped;
//   3. content hash matches, else the event is redacted and processing goes on with the redacted copy;
//   4. allowed by the auth rules against its own auth_events, else rejected;
//   5. allowed against the state before it (the state after its prev_events, resolved when there are several),
//      else rejected;
//   6. allowed against the room's current state, else soft-failed: stored, never a forward extremity, never served
//      to clients.
// Dropped events leave no trace (PduDroppedError). Rejected and soft-failed events are kept outside the timeline in
// event_outliers (migrations/0012); rejected ones only so that events citing them as auth events are rejected too.
// Auth events we lack are asked of the origin before step 4 and kept there as outliers (missingAuth.ts); one that
// later arrives as a PDU of its own is checked like any other and may then enter the timeline.
// Accepted events go into the timeline through the room writer's queue (RoomWriter.submitRemote), so that local and
// remote writes to a room never interleave; steps 4–6 run inside that queue, against the state as it is then.
//
// State in the linear model (migrations/0004): the state after a timeline event is the room's state at its stream
// ordering. This is exact while a room is linear and an approximation once branches interleave in stream order: the
// "state after a prev event" is then the room's resolved state when that event was stored, which may include
// events of other branches stored before it. The new current state is the resolution of the states after the new
// forward extremities (the event's, and each remaining extremity's state at its stream ordering); keys it changes are
// written as state_history rows at the event's stream ordering. When prev_events are still unknown after asking the
// origin (get_missing_events), the event is checked against the state after the prev events we do know, or the
// current state when we know none of them.
import type { Logger } from '../../log.ts';
import type { Notifier, Membership } from '../../notifier.ts';
import { checkAuth, checkAuthAgainstAuthEvents, authTypesForEvent, parsePowerLevel, userPowerLevel, type AuthOptions } from '../../protocol/authRules.ts';
import { roomIdToCreateEventId } from '../../protocol/eventIds.ts';
import { validatePdu } from '../../protocol/eventFormat.ts';
import { stateKey, type RoomEvent, type StateKey } from '../../protocol/events.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import { isJsonObject, type JsonObject } from '../../protocol/json.ts';
import { applyContentHashCheck, checkEventSignatures, toRoomEvent } from '../../protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../protocol/roomVersions.ts';
import type { ServerVerifyKeys } from '../../protocol/signing.ts';
import { resolveState, type EventSource, type StateMap } from '../../protocol/stateResolution.ts';
import type { RemoteWriteStream, RoomWriter } from '../../rooms/writer.ts';
import type { Database } from '../../storage/database.ts';
import { EventStore, type StoredEvent } from '../../storage/events.ts';
import type { FederationFetcher } from '../client.ts';
import type { RequestKeySource } from '../requestAuth.ts';
import { inboundAuthVerifier } from './authVerifier.ts';
import { KnownEvents, pduEventId, storageProblem, type KnownEvent } from './knownEvents.ts';
import { eventSigningKeys, MissingAuthEvents } from './missingAuth.ts';
import { writeRemoteEvent, type StateChange } from './persist.ts';

/** What became of a PDU that was not dropped. */
export interface AcceptResult {
  eventId: string;
  /** Why the auth rules rejected it (against its auth events or the state before it). */
  rejected?: string;
  /** It failed against the current state: stored, but not in the timeline. */
  softFailed?: boolean;
}

/** A PDU dropped at receipt (bad format, bad signature, unknown room): nothing of it was stored. */
export class PduDroppedError extends Error {
  /** The event id, when it could be worked out. */
  readonly eventId: string | undefined;
  constructor(reason: string, eventId?: string) {
    super(reason);
    this.name = 'PduDroppedError';
    this.eventId = eventId;
  }
}

export interface AcceptOptions {
  /** The server that sent the event: missing prev_events are asked of it. */
  origin: string;
  /** Ask the origin for missing prev_events with get_missing_events (default true). */
  fetchMissing?: boolean;
}

export interface RemoteEventHandlerOptions {
  db: Database;
  writer: RoomWriter;
  keys: RequestKeySource;
  fetcher: FederationFetcher;
  notifier: Pick<Notifier, 'membershipChanged' | 'historyVisibilityChanged'>;
  serverName: string;
  logger: Logger;
  now(): number;
}

/** get_missing_events asks for at most this many events at a time. */
export const MISSING_EVENTS_LIMIT = 10;

// Events in a state resolution were accepted before: their signature-dependent rules were checked then.
const TRUSTING: AuthOptions = { verifier: { isSignedBy: () => true, verifyThirdPartyInvite: () => true } };

export class RemoteEventHandler {
  private readonly opts: RemoteEventHandlerOptions;
  private readonly events: EventStore;
  private readonly known: KnownEvents;
  private readonly versions = new Map<string, RoomVersion>();
  private readonly missingAuth: MissingAuthEvents;

  constructor(opts: RemoteEventHandlerOptions) {
    this.opts = opts;
    this.events = new EventStore(opts.db);
    this.known = new KnownEvents(opts.db);
    this.missingAuth = new MissingAuthEvents({ ...opts, known: this.known });
  }

  /**
   * Runs the checks on receipt and stores the event. Resolves with the outcome for an event that was accepted,
   * soft-failed or rejected (also when it was known already: the earlier outcome); throws PduDroppedError when it is
   * dropped (including a room this server does not know).
   */
  async accept(pdu: JsonObject, options: AcceptOptions): Promise<AcceptResult> {
    const roomId = pdu['room_id'];
    if (typeof roomId !== 'string') throw new PduDroppedError('room_id must be a string', pduEventId(pdu));
    const v = await this.roomVersion(roomId, pdu);

    // 1. Format.
    const format = validatePdu(pdu, v);
    if (!format.ok) throw new PduDroppedError(`invalid event: ${format.reason}`, pduEventId(pdu, v));
    const eventId = pduEventId(pdu, v);
    if (eventId === undefined) throw new PduDroppedError('invalid event: no event id can be computed');
    if (pdu['type'] === 'm.room.create') throw new PduDroppedError('a room has exactly one m.room.create event', eventId);
    const received = toRoomEvent(pdu, v, { validate: false, eventId });
    const unstorable = storageProblem(received);
    if (unstorable !== undefined) throw new PduDroppedError(`invalid event: ${unstorable}`, eventId);

    const seen = await this.known.get([eventId, ...received.prev_events, ...received.auth_events], v);
    const earlier = seen.get(eventId);
    if (earlier && earlier.outlier !== 'outlier') return outcomeOf(earlier);

    // 2. Signatures, with the keys valid when the event was sent (v5+).
    const keys = await eventSigningKeys(this.opts.keys, pdu, v);
    const signatures = checkEventSignatures(pdu, v, (server) => keys.get(server));
    if (!signatures.ok) throw new PduDroppedError(`bad signature from ${signatures.server}: ${signatures.reason}`, eventId);

    // 3. Content hash: a mismatch means the content was tampered with on the way; go on with the redacted event.
    const hashed = applyContentHashCheck(pdu, v);
    if (hashed.redacted) this.opts.logger.info({ eventId, roomId }, 'received event failed its content hash check; redacted');
    const event = toRoomEvent(hashed.pdu, v, { validate: false, eventId });

    // A prev event known only as a fetched auth event is not in the timeline: the gap is still there.
    const missingPrevs = event.prev_events.some((id) => { const k = seen.get(id); return k === undefined || k.outlier === 'outlier'; });
    if (missingPrevs && options.fetchMissing !== false) await this.fetchMissingPrevEvents(event, options.origin);
    const missingAuth = event.auth_events.filter((id) => !seen.has(id));
    if (missingAuth.length > 0) await this.missingAuth.fetch(event, v, options.origin, missingAuth);

    // 4–6 and the write, in the room's queue.
    return this.opts.writer.submitRemote(roomId, (stream) => this.checkAndStore(event, v, keys, stream));
  }

  /** The room's version (rooms never change version, so it is remembered); a room we do not know drops the PDU. */
  private async roomVersion(roomId: string, pdu: JsonObject): Promise<RoomVersion> {
    const cached = this.versions.get(roomId);
    if (cached) return cached;
    const room = await this.events.getRoom(roomId);
    if (!room) throw new PduDroppedError(`room ${roomId} is not known to this server`, pduEventId(pdu));
    const v = getRoomVersion(room.version);
    if (!v) throw new PduDroppedError(`room ${roomId} has a room version this server does not support`, pduEventId(pdu));
    this.versions.set(roomId, v);
    return v;
  }

  /**
   * Asks the origin for the events between our forward extremities and `event` (some of whose prev_events are
   * unknown), and runs what it returns (oldest first) through the same checks. A gap that remains is left: the event
   * is then checked against the state we can compute.
   */
  private async fetchMissingPrevEvents(event: RoomEvent, origin: string): Promise<void> {
    const roomId = event.room_id;
    const extremities = (await this.events.forwardExtremities(roomId)).map((e) => e.eventId);
    let body: unknown;
    try {
      const response = await this.opts.fetcher.request(origin, {
        method: 'POST',
        path: `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(roomId)}`,
        body: { earliest_events: extremities, latest_events: [event.event_id], limit: MISSING_EVENTS_LIMIT, min_depth: 0 },
        signed: true,
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      body = response.body;
    } catch (error) {
      this.opts.logger.info({ origin, roomId, eventId: event.event_id, err: (error as Error).message }, 'get_missing_events failed');
      return;
    }
    const returned = isJsonObject(body) && Array.isArray(body['events']) ? body['events'] : [];
    const pdus = returned
      .filter((p): p is JsonObject => isJsonObject(p) && p['room_id'] === roomId)
      .slice(0, MISSING_EVENTS_LIMIT)
      .sort((a, b) => depthOf(a) - depthOf(b));
    for (const missing of pdus) {
      try {
        await this.accept(missing, { origin, fetchMissing: false });
      } catch (error) {
        if (!(error instanceof PduDroppedError)) throw error;
        this.opts.logger.info({ origin, roomId, reason: error.message }, 'an event from get_missing_events was dropped');
      }
    }
  }

  /** Steps 4–6 and the write; runs in the room's queue. */
  private async checkAndStore(event: RoomEvent, v: RoomVersion, keys: ReadonlyMap<string, ServerVerifyKeys>, stream: RemoteWriteStream): Promise<AcceptResult> {
    const eventId = event.event_id;
    const roomId = event.room_id;
    const createId = v.roomIdFromCreateEvent ? roomIdToCreateEventId(roomId) : undefined;
    // The event itself, its auth events and its prev events, in one look-up.
    const known = await this.known.get([eventId, ...event.auth_events, ...(createId ? [createId] : []), ...event.prev_events], v);
    // A copy of the same event may have been stored while this one waited in the queue.
    const earlier = known.get(eventId);
    if (earlier && earlier.outlier !== 'outlier') return outcomeOf(earlier);
    const verifier = inboundAuthVerifier(v, keys);

    // 4. Against its own auth events.
    const unknownAuth = event.auth_events.filter((id) => !known.has(id));
    // Not stored: the origin did not give them to us, and the same event may pass once its auth events are known.
    if (unknownAuth.length > 0) return { eventId, rejected: `auth events unknown to this server: ${unknownAuth.join(', ')}` };
    const authEvents = event.auth_events.map((id) => (known.get(id) as KnownEvent).event);
    const createEvent = createId ? known.get(createId)?.event : undefined;
    const byAuthEvents = checkAuthAgainstAuthEvents(event, authEvents, v, {
      verifier,
      isRejected: (id) => known.get(id)?.outlier === 'rejected',
      ...(createEvent ? { createEvent } : {}),
    });
    if (!byAuthEvents.allowed) return this.reject(event, `not allowed by its auth events: ${byAuthEvents.reason}`);

    // 5. Against the state before it. Usually the event builds on all our forward extremities: the state before it
    // is then the current state, of which only the keys the auth rules read are loaded, and it cannot soft-fail.
    const extremityRows = await this.events.forwardExtremities(roomId);
    const timelinePrevs = event.prev_events.map((id) => known.get(id)).filter((p): p is KnownEvent & { streamOrdering: number } => p?.streamOrdering != null);
    const extremityIds = new Set(extremityRows.map((e) => e.eventId));
    const onTop = timelinePrevs.length === extremityIds.size && timelinePrevs.every((p) => extremityIds.has(p.event.event_id));
    if (onTop) {
      const own = event.state_key === undefined ? undefined : stateKey(event.type, event.state_key);
      // The keys the auth rules read and the one the event replaces, in one look-up.
      const currentEvents = await this.known.currentState(roomId, own === undefined ? authKeys(event, v) : [...authKeys(event, v), own], v);
      const byState = checkAuth(event, currentEvents, v, { verifier });
      if (!byState.allowed) return this.reject(event, `not allowed by the state before it: ${byState.reason}`);
      const replaced = own === undefined ? undefined : currentEvents.get(own);
      const stateChanges = event.state_key === undefined ? [] : [stateChangeOf(event, replaced?.event_id ?? null)];
      return this.write(event, stream, { extremities: [eventId], stateChanges, applyRedaction: await this.redactionApplies(event, 'current', v) });
    }
    const current = stateMapOf(await this.events.currentState(roomId));
    const before = timelinePrevs.length === 0 ? current : await this.resolve(v, await Promise.all(timelinePrevs.map((p) => this.stateAt(roomId, p.streamOrdering))));
    const byState = checkAuth(event, await this.authState(before, event, v), v, { verifier });
    if (!byState.allowed) return this.reject(event, `not allowed by the state before it: ${byState.reason}`);

    // 6. Against the current state.
    if (before !== current) {
      const byCurrent = checkAuth(event, await this.authState(current, event, v), v, { verifier });
      if (!byCurrent.allowed) {
        await this.known.storeOutlier(event, 'soft_failed', byCurrent.reason, this.opts.now());
        this.opts.logger.info({ eventId, roomId, reason: byCurrent.reason }, 'received event soft-failed');
        return { eventId, softFailed: true };
      }
    }

    // The new current state: the resolution of the states after the new forward extremities.
    const after = new Map(before);
    if (event.state_key !== undefined) after.set(stateKey(event.type, event.state_key), eventId);
    const remaining = extremityRows.filter((e) => !event.prev_events.includes(e.eventId));
    const next = remaining.length === 0 ? after : await this.resolve(v, [...(await Promise.all(remaining.map((e) => this.stateAt(roomId, e.streamOrdering)))), after]);
    return this.write(event, stream, {
      extremities: [...remaining.map((e) => e.eventId), eventId],
      stateChanges: await this.stateChanges(current, next, event, v),
      applyRedaction: await this.redactionApplies(event, next, v),
    });
  }

  /** Stores an accepted event at the next stream position and tells whoever must hear of it. */
  private async write(
    event: RoomEvent,
    stream: RemoteWriteStream,
    change: { extremities: string[]; stateChanges: StateChange[]; applyRedaction: boolean },
  ): Promise<AcceptResult> {
    const roomId = event.room_id;
    const streamOrdering = stream.reserve();
    await writeRemoteEvent(this.opts.db, {
      event,
      streamOrdering,
      ...change,
      isLocalUser: (userId) => domainOf(userId) === this.opts.serverName,
      now: this.opts.now(),
    });
    const invited: string[] = [];
    for (const c of change.stateChanges) {
      if (c.type === 'm.room.history_visibility' && c.stateKey === '') this.opts.notifier.historyVisibilityChanged(roomId);
      if (c.type !== 'm.room.member' || c.membership === null || domainOf(c.stateKey) !== this.opts.serverName) continue;
      this.opts.notifier.membershipChanged(roomId, c.stateKey, c.membership as Membership);
      if (c.membership === 'invite') invited.push(c.stateKey);
    }
    stream.announce(streamOrdering, { rooms: [roomId], users: invited });
    return { eventId: event.event_id };
  }

  private async reject(event: RoomEvent, reason: string): Promise<AcceptResult> {
    await this.known.storeOutlier(event, 'rejected', reason, this.opts.now());
    this.opts.logger.info({ eventId: event.event_id, roomId: event.room_id, reason }, 'received event rejected');
    return { eventId: event.event_id, rejected: reason };
  }

  private async stateAt(roomId: string, streamOrdering: number): Promise<StateMap> {
    return stateMapOf(await this.events.stateAt(roomId, streamOrdering));
  }

  private async resolve(v: RoomVersion, states: readonly StateMap[]): Promise<Map<StateKey, string>> {
    const source: EventSource = {
      getEvent: async (id) => (await this.known.get([id], v)).get(id)?.event,
      isRejected: async (id) => (await this.known.get([id], v)).get(id)?.outlier === 'rejected',
    };
    return resolveState(v, states, source, TRUSTING);
  }

  /**
   * The events the auth rules read for `event` (the create event always: v12 needs it too), from a state given as ids
   * or from the room's current state.
   */
  private async authState(state: ReadonlyMap<StateKey, string> | 'current', event: RoomEvent, v: RoomVersion): Promise<Map<StateKey, RoomEvent>> {
    const wanted = authKeys(event, v);
    if (state === 'current') return this.known.currentState(event.room_id, wanted, v);
    const ids = wanted.map((k) => state.get(k)).filter((id): id is string => id !== undefined);
    const found = await this.known.get(ids, v);
    const out = new Map<StateKey, RoomEvent>();
    for (const k of wanted) {
      const id = state.get(k);
      const e = id === undefined ? undefined : found.get(id)?.event;
      if (e) out.set(k, e);
    }
    return out;
  }

  /** Every key whose holder differs between the current state and the next one. */
  private async stateChanges(current: StateMap, next: StateMap, event: RoomEvent, v: RoomVersion): Promise<StateChange[]> {
    const changed = [...next].filter(([k, id]) => current.get(k) !== id);
    const loaded = await this.known.get(
      changed.map(([, id]) => id).filter((id) => id !== event.event_id),
      v,
    );
    const changes: StateChange[] = [];
    for (const [key, id] of changed) {
      const holder = id === event.event_id ? event : loaded.get(id)?.event;
      if (holder) changes.push(stateChangeOf(holder, current.get(key) ?? null));
    }
    return changes;
  }

  /**
   * A redaction is marked on its target only when the sender may redact it: the target was sent from the same
   * server, or the sender has the room's redact power level. (From v3 the auth rules accept any redaction and leave
   * this check to the time it is applied.)
   */
  private async redactionApplies(event: RoomEvent, state: StateMap | 'current', v: RoomVersion): Promise<boolean> {
    if (event.type !== 'm.room.redaction' || event.redacts === undefined) return false;
    const target = (await this.known.get([event.redacts], v)).get(event.redacts);
    if (!target || target.event.room_id !== event.room_id) return false;
    if (domainOf(target.event.sender) === domainOf(event.sender)) return true;
    const auth = await this.authState(state, event, v);
    const create = auth.get(stateKey('m.room.create', ''));
    const powerLevels = auth.get(stateKey('m.room.power_levels', ''));
    const redactLevel = parsePowerLevel(powerLevels?.content['redact'], v) ?? 50;
    return userPowerLevel(event.sender, create, powerLevels, v) >= redactLevel;
  }
}

/** The state keys the auth rules read for `event`: its auth event selection, and the create event (v12 too). */
function authKeys(event: RoomEvent, v: RoomVersion): StateKey[] {
  return [stateKey('m.room.create', ''), ...authTypesForEvent(event, v).map((k) => stateKey(k.type, k.stateKey))];
}

function outcomeOf(known: KnownEvent): AcceptResult {
  const eventId = known.event.event_id;
  if (known.outlier === 'rejected') return { eventId, rejected: known.reason ?? 'rejected' };
  if (known.outlier === 'soft_failed') return { eventId, softFailed: true };
  return { eventId };
}

function stateChangeOf(holder: RoomEvent, replaces: string | null): StateChange {
  const membership = holder.type === 'm.room.member' && typeof holder.content['membership'] === 'string' ? holder.content['membership'] : null;
  return { type: holder.type, stateKey: holder.state_key ?? '', eventId: holder.event_id, replaces, membership };
}

function stateMapOf(events: readonly StoredEvent[]): Map<StateKey, string> {
  return new Map(events.map((e) => [stateKey(e.type, e.stateKey ?? ''), e.eventId]));
}

function depthOf(pdu: JsonObject): number {
  return typeof pdu['depth'] === 'number' ? pdu['depth'] : 0;
}
