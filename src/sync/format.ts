// Events as /sync serves them, formatted for every room of a response at once (RoomService.format does the same
// for one room with several queries; a sync of hundreds of rooms needs them batched): client format without
// room_id, the device's transaction ids, redacted content with redacted_because, prev_content where the user may
// see the replaced event; or, with event_format `federation`, the PDU (redacted if it was). Then event_fields.
import type { JsonObject } from '../protocol/json.ts';
import { redactEvent } from '../protocol/redaction.ts';
import type { RoomVersion } from '../protocol/roomVersions.ts';
import { toClientEvent } from '../rooms/clientEvent.ts';
import type { RoomVisibility } from '../rooms/visibility.ts';
import type { EventStore, StoredEvent } from '../storage/events.ts';
import { pickEventFields, type Filter } from './filter.ts';
import { Batch, keyOf, partsOf } from './batch.ts';
import type { Replacement, SyncStore } from './syncStore.ts';

export interface FormatRequest {
  userId: string;
  deviceId: string;
  now: number;
  filter: Filter;
  versionOf(roomId: string): RoomVersion;
  visibilityOf(roomId: string): RoomVisibility | undefined;
}

export class SyncEventFormatter {
  private readonly events: EventStore;
  /**
   * Which event each state event replaced, with that event, by room, stream ordering and event id: read for many
   * responses at once.
   */
  private readonly replaced: Batch<Replacement | null>;
  /** The txn id each of a device's own served events was sent with, by user, device and event id. */
  private readonly txnIds: Batch<string | null>;

  constructor(events: EventStore, store: SyncStore) {
    this.events = events;
    this.replaced = new Batch(async (keys) => {
      const points = keys.map((key) => {
        const [roomId, streamOrdering, eventId] = partsOf(key);
        return { roomId: roomId as string, streamOrdering: Number(streamOrdering), eventId: eventId as string };
      });
      const found = await store.replacedState(points);
      return new Map(keys.map((key, i) => [key, found.get(i) ?? null]));
    }, () => null);
    this.txnIds = new Batch(async (keys) => {
      const found = await events.txnIdsOfMany(keys.map((key) => {
        const [userId, deviceId, eventId] = partsOf(key);
        return { userId: userId as string, deviceId: deviceId as string, eventId: eventId as string };
      }));
      return new Map(keys.map((key) => [key, found.get(key) ?? null]));
    }, () => null);
  }

  /** The txn ids the requesting device sent any of these (the requester's own) events with. */
  private async txnIdsOf(userId: string, deviceId: string, eventIds: readonly string[]): Promise<Map<string, string>> {
    const found = await Promise.all(eventIds.map((id) => this.txnIds.get(keyOf(userId, deviceId, id))));
    const out = new Map<string, string>();
    eventIds.forEach((id, i) => {
      const txnId = found[i];
      if (txnId) out.set(id, txnId);
    });
    return out;
  }

  /** For the state events among `events`: the event each replaced, where there was one; `known` is not read again. */
  private async replacedState(events: readonly StoredEvent[], known: ReadonlyMap<string, Replacement | null>): Promise<Map<string, Replacement>> {
    const state = events.filter((e) => e.stateKey !== null);
    const found = await Promise.all(
      state.map((e) => (known.has(e.eventId) ? (known.get(e.eventId) ?? null) : this.replaced.get(keyOf(e.roomId, e.streamOrdering, e.eventId)))),
    );
    const out = new Map<string, Replacement>();
    state.forEach((e, i) => {
      const replacement = found[i];
      if (replacement) out.set(e.eventId, replacement);
    });
    return out;
  }

  /**
   * Formats every event given (any rooms); the result maps event id to the served JSON. `known`: what replacedState
   * would read, for events whose reads already told it (lazy-loaded members).
   */
  async format(request: FormatRequest, all: readonly StoredEvent[], known: ReadonlyMap<string, Replacement | null> = new Map()): Promise<Map<string, JsonObject>> {
    const unique = [...new Map(all.map((e) => [e.eventId, e])).values()];
    const out = new Map<string, JsonObject>();
    if (unique.length === 0) return out;
    const fields = request.filter.event_fields;
    if (request.filter.event_format === 'federation') {
      for (const e of unique) {
        const pdu = e.redactedBy !== null ? redactEvent(e.pdu, request.versionOf(e.roomId)) : e.pdu;
        out.set(e.eventId, pickEventFields(pdu, fields));
      }
      return out;
    }
    // Only message events carry txn ids (PUT /send and /redact): state events are never looked up.
    const own = unique.filter((e) => e.sender === request.userId && e.stateKey === null).map((e) => e.eventId);
    const redactionIds = [...new Set(unique.map((e) => e.redactedBy).filter((id): id is string => id !== null))];
    const [txnIds, redactions, replacements] = await Promise.all([
      this.txnIdsOf(request.userId, request.deviceId, own),
      this.events.getEvents(redactionIds),
      this.replacedState(unique, known),
    ]);
    const replaces = new Map<string, string>();
    const previous = new Map<string, StoredEvent>();
    for (const [id, replacement] of replacements) {
      replaces.set(id, replacement.eventId);
      const e = replacement.previous;
      if (e && (request.visibilityOf(e.roomId)?.canSee(e, request.userId) ?? false)) previous.set(e.eventId, e);
    }
    for (const e of unique) {
      const client = toClientEvent(e, request.versionOf(e.roomId), { now: request.now, txnIds, redactions, replaces, previous });
      delete client['room_id'];
      out.set(e.eventId, pickEventFields(client, fields));
    }
    return out;
  }
}
