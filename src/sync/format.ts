// Events as /sync serves them, formatted for every room of a response at once (RoomService.format does the same
// for one room with several queries; a sync of hundreds of rooms needs them batched): client format without
// room_id, the device's transaction ids, redacted content with redacted_because, prev_content where the user may
// see the replaced event; or, with event_format `federation`, the PDU (redacted if it was). Then event_fields.
// What that needs read is the same for every requester (`reads`: redactions, replaced state events), so responses that
// share a room's part (./shared.ts) share it too; the txn ids and the JSON are each requester's own.
import type { JsonObject } from '../protocol/json.ts';
import { redactEvent } from '../protocol/redaction.ts';
import type { RoomVersion } from '../protocol/roomVersions.ts';
import { toClientEvent } from '../rooms/clientEvent.ts';
import type { RoomVisibility } from '../rooms/visibility.ts';
import type { EventStore, StoredEvent } from '../storage/events.ts';
import { pickEventFields, type Filter } from './filter.ts';
import { Batch, keyOf, partsOf } from './batch.ts';
import { merged } from './merged.ts';
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
  private readonly txnIdReads: Batch<string | null>;

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
    this.txnIdReads = new Batch(async (keys) => {
      const found = await events.txnIdsOfMany(keys.map((key) => {
        const [userId, deviceId, eventId] = partsOf(key);
        return { userId: userId as string, deviceId: deviceId as string, eventId: eventId as string };
      }));
      return new Map(keys.map((key) => [key, found.get(key) ?? null]));
    }, () => null);
  }

  /** The txn ids the requesting device sent any of these events with: its own message events (only /send and /redact store them). */
  async txnIds(request: Pick<FormatRequest, 'userId' | 'deviceId'>, events: readonly StoredEvent[]): Promise<Map<string, string>> {
    const own = [...new Set(events.filter((e) => e.sender === request.userId && e.stateKey === null).map((e) => e.eventId))];
    if (own.length === 0) return new Map();
    const found = await Promise.all(own.map((id) => this.txnIdReads.get(keyOf(request.userId, request.deviceId, id))));
    const out = new Map<string, string>();
    own.forEach((id, i) => {
      const txnId = found[i];
      if (txnId) out.set(id, txnId);
    });
    return out;
  }

  /**
   * What serving these events needs read, whoever asks: the redaction events of redacted ones, and for state events the
   * event each replaced, where there was one; `known` is not read again.
   */
  async reads(events: readonly StoredEvent[], known: ReadonlyMap<string, Replacement | null> = new Map()): Promise<FormatReads> {
    const redactionIds = [...new Set(events.map((e) => e.redactedBy).filter((id): id is string => id !== null))];
    const state = [...new Map(events.filter((e) => e.stateKey !== null).map((e) => [e.eventId, e])).values()];
    const [redactions, found] = await Promise.all([
      this.events.getEvents(redactionIds),
      Promise.all(
        state.map((e) => (known.has(e.eventId) ? (known.get(e.eventId) ?? null) : this.replaced.get(keyOf(e.roomId, e.streamOrdering, e.eventId)))),
      ),
    ]);
    const replacements = new Map<string, Replacement>();
    state.forEach((e, i) => {
      const replacement = found[i];
      if (replacement) replacements.set(e.eventId, replacement);
    });
    return { redactions, replacements };
  }

  /**
   * The served JSON of each event given (any rooms), by event id, from what `reads` and `txnIds` found (for these
   * events or more): per requester, as prev_content depends on what they may see.
   */
  serve(request: FormatRequest, events: readonly StoredEvent[], reads: FormatReads, txnIds: ReadonlyMap<string, string>): Map<string, JsonObject> {
    const out = new Map<string, JsonObject>();
    const fields = request.filter.event_fields;
    if (request.filter.event_format === 'federation') {
      for (const e of events) {
        const pdu = e.redactedBy !== null ? redactEvent(e.pdu, request.versionOf(e.roomId)) : e.pdu;
        out.set(e.eventId, pickEventFields(pdu, fields));
      }
      return out;
    }
    const replaces = new Map<string, string>();
    const previous = new Map<string, StoredEvent>();
    for (const e of events) {
      const replacement = e.stateKey !== null ? reads.replacements.get(e.eventId) : undefined;
      if (!replacement) continue;
      replaces.set(e.eventId, replacement.eventId);
      const p = replacement.previous;
      if (p && (request.visibilityOf(p.roomId)?.canSee(p, request.userId) ?? false)) previous.set(p.eventId, p);
    }
    const options = { now: request.now, txnIds, redactions: reads.redactions, replaces, previous };
    for (const e of events) {
      if (out.has(e.eventId)) continue;
      const client = toClientEvent(e, request.versionOf(e.roomId), options);
      delete client['room_id'];
      out.set(e.eventId, pickEventFields(client, fields));
    }
    return out;
  }
}

/** What serving events needs read besides them, the same for every requester (SyncEventFormatter.reads). */
export interface FormatReads {
  /** Redaction events, by id. */
  redactions: ReadonlyMap<string, StoredEvent>;
  /** For state events: the event each replaced, by the replacing event's id. */
  replacements: ReadonlyMap<string, Replacement>;
}

/** Both kinds of reads together. */
export function mergeReads(all: readonly FormatReads[]): FormatReads {
  return { redactions: merged(all.map((r) => r.redactions)), replacements: merged(all.map((r) => r.replacements)) };
}
