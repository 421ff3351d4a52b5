// Auth events a received PDU cites that we do not have (server-server API, "Retrieving event authorization
// information"): asked of the PDU's origin with GET /event_auth/{roomId}/{eventId}, which answers the event's whole
// auth chain. Only the part of the chain we lack is kept: each of those events, oldest first, must be well formed
// and signed (else dropped) and, with its content redacted if its hash fails, is checked against its own auth
// events: allowed, it is stored as an 'outlier'; refused, as 'rejected' (so that the PDU citing it is rejected in
// turn). Outliers are never checked against the room's state and never enter the timeline from here.
import type { Logger } from '../../log.ts';
import { checkAuthAgainstAuthEvents } from '../../protocol/authRules.ts';
import { roomIdToCreateEventId } from '../../protocol/eventIds.ts';
import { validatePdu } from '../../protocol/eventFormat.ts';
import type { RoomEvent } from '../../protocol/events.ts';
import { isJsonObject, type JsonObject } from '../../protocol/json.ts';
import { applyContentHashCheck, checkEventSignatures, requiredSignatureServers, toRoomEvent } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import { listSignatures, type ServerVerifyKeys } from '../../protocol/signing.ts';
import type { FederationFetcher } from '../client.ts';
import type { RequestKeySource } from '../requestAuth.ts';
import { inboundAuthVerifier } from './authVerifier.ts';
import { pduEventId, storageProblem, type KnownEvent, type KnownEvents } from './knownEvents.ts';

/**
 * At most this many unknown auth events are taken in for one PDU: a room's auth chain is usually far smaller, and a
 * bound keeps one PDU from costing unbounded work.
 */
export const MAX_MISSING_AUTH_EVENTS = 500;

export interface MissingAuthEventsOptions {
  fetcher: FederationFetcher;
  keys: RequestKeySource;
  known: KnownEvents;
  logger: Logger;
  now(): number;
}

/** The keys of every server whose signature `pdu` needs, valid at its origin_server_ts from room version 5. */
export async function eventSigningKeys(keys: RequestKeySource, pdu: JsonObject, v: RoomVersion): Promise<Map<string, ServerVerifyKeys>> {
  const ts = pdu['origin_server_ts'];
  const validAt = v.enforceKeyValidity && typeof ts === 'number' ? ts : 0;
  const signed = listSignatures(pdu);
  const out = new Map<string, ServerVerifyKeys>();
  for (const server of requiredSignatureServers(pdu, v)) {
    const keyIds = signed.filter(([entity]) => entity === server).map(([, keyId]) => keyId);
    out.set(server, await keys.getVerifyKeys(server, validAt, keyIds));
  }
  return out;
}

export class MissingAuthEvents {
  private readonly opts: MissingAuthEventsOptions;

  constructor(opts: MissingAuthEventsOptions) {
    this.opts = opts;
  }

  /** Fetches and stores what it can of `missing` (auth events of `event`); what stays unknown is left to the caller. */
  async fetch(event: RoomEvent, v: RoomVersion, origin: string, missing: readonly string[]): Promise<void> {
    const chain = await this.authChain(origin, event);
    if (chain.length === 0) return;
    const byId = new Map<string, { pdu: JsonObject; event: RoomEvent }>();
    for (const pdu of chain) {
      if (pdu['room_id'] !== event.room_id || pdu['type'] === 'm.room.create' || !validatePdu(pdu, v).ok) continue;
      const id = pduEventId(pdu, v);
      if (id === undefined) continue;
      const parsed = toRoomEvent(pdu, v, { validate: false, eventId: id });
      if (storageProblem(parsed) === undefined) byId.set(id, { pdu, event: parsed });
    }

    // What we need: the missing events and, through their auth events, whatever of the chain we lack.
    const createId = v.roomIdFromCreateEvent ? roomIdToCreateEventId(event.room_id) : undefined;
    const needed = new Set<string>();
    let frontier = [...missing];
    while (frontier.length > 0 && needed.size < MAX_MISSING_AUTH_EVENTS) {
      const known = await this.opts.known.get(frontier, v);
      const next: string[] = [];
      for (const id of frontier) {
        if (needed.has(id) || known.has(id) || !byId.has(id)) continue;
        needed.add(id);
        next.push(...(byId.get(id)?.event.auth_events ?? []));
      }
      frontier = next;
    }

    // Oldest first: an event is taken once every auth event it cites is known, or settled in this round.
    const settled = await this.opts.known.get([...new Set([...needed].flatMap((id) => byId.get(id)?.event.auth_events ?? []).concat(createId ?? []))], v);
    let pending = [...needed];
    while (pending.length > 0) {
      const ready = pending.filter((id) => (byId.get(id)?.event.auth_events ?? []).every((a) => settled.has(a)));
      if (ready.length === 0) break; // the rest cite events nobody gave us (or each other in a cycle)
      for (const id of ready) {
        const stored = await this.take(byId.get(id) as { pdu: JsonObject; event: RoomEvent }, id, v, settled, createId);
        if (stored) settled.set(id, stored);
      }
      pending = pending.filter((id) => !ready.includes(id));
    }
  }

  private async authChain(origin: string, event: RoomEvent): Promise<JsonObject[]> {
    try {
      const response = await this.opts.fetcher.request(origin, {
        method: 'GET',
        path: `/_matrix/federation/v1/event_auth/${encodeURIComponent(event.room_id)}/${encodeURIComponent(event.event_id)}`,
        signed: true,
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      const body = response.body;
      const chain = isJsonObject(body) && Array.isArray(body['auth_chain']) ? body['auth_chain'] : [];
      return chain.filter(isJsonObject);
    } catch (error) {
      this.opts.logger.info({ origin, roomId: event.room_id, eventId: event.event_id, err: (error as Error).message }, 'event_auth failed');
      return [];
    }
  }

  /** Checks one auth event and stores it as an outlier (or rejected); undefined when it is dropped. */
  private async take(
    candidate: { pdu: JsonObject; event: RoomEvent },
    eventId: string,
    v: RoomVersion,
    settled: ReadonlyMap<string, KnownEvent>,
    createId: string | undefined,
  ): Promise<KnownEvent | undefined> {
    const keys = await eventSigningKeys(this.opts.keys, candidate.pdu, v);
    const signatures = checkEventSignatures(candidate.pdu, v, (server) => keys.get(server));
    if (!signatures.ok) {
      this.opts.logger.info({ eventId, reason: signatures.reason }, 'a fetched auth event was dropped: bad signature');
      return undefined;
    }
    const hashed = applyContentHashCheck(candidate.pdu, v);
    const event = toRoomEvent(hashed.pdu, v, { validate: false, eventId });
    const createEvent = createId ? settled.get(createId)?.event : undefined;
    const result = checkAuthAgainstAuthEvents(
      event,
      event.auth_events.map((id) => (settled.get(id) as KnownEvent).event),
      v,
      {
        verifier: inboundAuthVerifier(v, keys),
        isRejected: (id) => settled.get(id)?.outlier === 'rejected',
        ...(createEvent ? { createEvent } : {}),
      },
    );
    const kind = result.allowed ? 'outlier' : 'rejected';
    const reason = result.allowed ? 'fetched as an auth event' : `not allowed by its auth events: ${result.reason}`;
    await this.opts.known.storeOutlier(event, kind, reason, this.opts.now());
    if (!result.allowed) this.opts.logger.info({ eventId, reason }, 'a fetched auth event was rejected');
    return { event, streamOrdering: null, outlier: kind, reason };
  }
}
