// Building application service transactions from storage (Application Service API, "Pushing events"). The
// service's stored position on the events stream is the truth: the oldest stored (unacknowledged) transaction is
// resent as it is; otherwise the events after the position are read in stream order, the ones that interest the
// service are kept (at most 100), and the transaction is stored before anyone PUTs it. Events that interest
// nobody still move the position on, so a quiet service is never asked to rescan them.
//
// Whether a room interests a service (its id or an alias in the namespaces, or one of the service's users
// joined) is cached per service and room, and forgotten when the scan meets a membership or canonical alias
// event of that room, or when an alias of the room is created or deleted (invalidateRoom).
import type { JsonObject } from '../protocol/json.ts';
import { getRoomVersion, type RoomVersion } from '../protocol/roomVersions.ts';
import { toClientEvent } from '../rooms/clientEvent.ts';
import type { AppserviceStore } from '../storage/appservices.ts';
import type { RoomAliasStore } from '../storage/aliases.ts';
import type { EventStore, StoredEvent } from '../storage/events.ts';
import { isInterestedInEvent, isInterestedInRoom } from './namespaces.ts';
import { TRANSACTION_KEYS, type Registration } from './registration.ts';

/**
 * How many events the first storage read of a take scans: as many as a transaction holds, so a busy service reads
 * nothing it does not send; reads double from there (up to MAX_SCAN) through stretches that interest it little.
 */
const MAX_SCAN = 2000;
/** Rooms remembered per service before the cache starts again (a bound, not a tuning knob). */
const MAX_CACHED_ROOMS = 50_000;

export interface TakenAppserviceTransaction {
  txnId: string;
  toPosition: number;
  events: number;
}

export interface TransactionBuilderOptions {
  store: AppserviceStore;
  aliases: RoomAliasStore;
  events: EventStore;
  /** The events stream's readable position: events above it may still be in flight and are not read yet. */
  eventsPosition(): number;
  now(): number;
}

export class TransactionBuilder {
  readonly #opts: TransactionBuilderOptions;
  /** service id -> room id -> interested. */
  readonly #roomInterest = new Map<string, Map<string, boolean>>();
  readonly #roomVersions = new Map<string, RoomVersion>();
  /** Per service, the last transaction built, so its PUT need not read back what was just written. */
  readonly #lastBuilt = new Map<string, { txnId: string; body: string }>();

  constructor(opts: TransactionBuilderOptions) {
    this.#opts = opts;
  }

  /** An alias of the room was created or deleted: every service's answer for it may change. */
  invalidateRoom(roomId: string): void {
    for (const rooms of this.#roomInterest.values()) rooms.delete(roomId);
  }

  /** The oldest stored transaction, or a new stored one of at most `limit` events, or null when there is nothing. */
  async take(reg: Registration, limit: number): Promise<TakenAppserviceTransaction | null> {
    const { store } = this.#opts;
    const stored = await store.oldestTransaction(reg.id);
    if (stored) return { txnId: stored.txnId, toPosition: stored.toPosition, events: stored.eventCount };
    const state = await store.getState(reg.id);
    if (!state) throw new Error(`application service ${JSON.stringify(reg.id)} has no stored state`);
    const upTo = this.#opts.eventsPosition();
    const from = state.streamPosition;
    const picked: StoredEvent[] = [];
    let scannedTo = from;
    let scan = limit;
    while (scannedTo < upTo && picked.length < limit) {
      const batch = await store.eventsBetween(scannedTo, upTo, scan);
      for (const event of batch) {
        if (await this.#interested(reg, event)) picked.push(event);
        scannedTo = event.streamOrdering;
        if (picked.length === limit) break;
      }
      // A short read saw everything up to the readable position (ids without an event were rolled back).
      if (batch.length < scan && picked.length < limit) scannedTo = upTo;
      scan = Math.min(MAX_SCAN, scan * 2);
    }
    if (picked.length === 0) {
      if (scannedTo > from) await store.advancePosition(reg.id, scannedTo);
      return null;
    }
    const contents = await this.#contents(picked);
    const body = JSON.stringify(contents);
    const txnId = await store.storeTransaction(reg.id, {
      contents: body,
      toPosition: scannedTo,
      eventCount: picked.length,
      createdTs: this.#opts.now(),
    });
    this.#lastBuilt.set(reg.id, { txnId, body });
    return { txnId, toPosition: scannedTo, events: picked.length };
  }

  /**
   * The body of a stored transaction: the one just built from memory (the row holds the same), any other from
   * storage (a resend after a restart). Null when it is not stored.
   */
  async contents(serviceId: string, txnId: string): Promise<string | null> {
    const built = this.#lastBuilt.get(serviceId);
    if (built?.txnId === txnId) return built.body;
    return this.#opts.store.transactionContents(serviceId, txnId);
  }

  /** The transaction was acknowledged: its body is not needed any more. */
  forget(serviceId: string, txnId: string): void {
    if (this.#lastBuilt.get(serviceId)?.txnId === txnId) this.#lastBuilt.delete(serviceId);
  }

  async #interested(reg: Registration, event: StoredEvent): Promise<boolean> {
    let rooms = this.#roomInterest.get(reg.id);
    if (!rooms) {
      rooms = new Map();
      this.#roomInterest.set(reg.id, rooms);
    }
    if (event.type === 'm.room.member' || event.type === 'm.room.canonical_alias') rooms.delete(event.roomId);
    const facts = { type: event.type, sender: event.sender, room_id: event.roomId, ...(event.stateKey !== null ? { state_key: event.stateKey } : {}) };
    if (isInterestedInEvent(reg, facts, {})) return true;
    let interested = rooms.get(event.roomId);
    if (interested === undefined) {
      const aliases = reg.namespaces.aliases.length > 0 ? await this.#opts.aliases.aliasesOfRoom(event.roomId) : [];
      const joinedMembers = await this.#opts.store.localJoinedMembers(event.roomId);
      interested = isInterestedInRoom(reg, event.roomId, { aliases, joinedMembers });
      if (rooms.size >= MAX_CACHED_ROOMS) rooms.clear();
      rooms.set(event.roomId, interested);
    }
    return interested;
  }

  async #contents(events: readonly StoredEvent[]): Promise<JsonObject> {
    const now = this.#opts.now();
    const out: JsonObject[] = [];
    for (const event of events) {
      const version = await this.#roomVersion(event.roomId);
      if (version) out.push(toClientEvent(event, version, { now }));
    }
    return { [TRANSACTION_KEYS.events]: out };
  }

  async #roomVersion(roomId: string): Promise<RoomVersion | undefined> {
    let version = this.#roomVersions.get(roomId);
    if (!version) {
      const room = await this.#opts.events.getRoom(roomId);
      version = room ? getRoomVersion(room.version) : undefined;
      if (version) this.#roomVersions.set(roomId, version);
    }
    return version;
  }
}
