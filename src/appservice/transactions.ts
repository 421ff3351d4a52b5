// Building application service transactions from storage (Application Service API, "Pushing events"). The
// service's stored position on the events stream is the truth: the oldest stored (unacknowledged) transaction is
// resent as it is; otherwise the events after the position are read in stream order, the ones that interest the
// service are kept (at most 100), and the transaction is stored before anyone PUTs it. Events that interest
// nobody still move the position on, so a quiet service is never asked to rescan them.
//
// Whether a room interests a service (its id or an alias in the namespaces, or one of the service's users
// joined) is cached per service and room, and forgotten when the scan meets a membership or canonical alias
// event of that room, or when an alias of the room is created or deleted (invalidateRoom).
//
// Services that asked for ephemeral events (receive_ephemeral / MSC2409) also get the public receipts and the
// typing notifications of the rooms that interest them, and the presence of their users and of local users joined
// to a room that interests them, at most 100 per transaction, under both the stable
// `ephemeral` key and MSC2409's `de.sorunome.msc2409.ephemeral` (which the bridges' libraries read). Services
// that asked for to-device messages (push_to_device, MSC4203) get those sent to devices of their users, at most
// 100 per transaction, under `to_device` and `de.sorunome.msc2409.to_device`. How far a service has been given
// receipts, presence and to-device messages is stored with its events position (migrations/0015): a transaction
// carries where they move, applied when it is acknowledged, so what was written while Troupe was down or while
// the service was DOWN is sent after recovery, exactly once. To-device messages are cut by message, not by send,
// so one send with more than 100 for the service continues in the next transaction. Typing lives in memory (the
// typing service starts empty at restart), so how far a service has been given it does too: a restart starts it
// at the stream's position, when nobody is typing; while the process runs, a service that was DOWN gets, for each
// room whose typing changed meanwhile, who is typing now.
import type { JsonObject } from '../protocol/json.ts';
import { getRoomVersion, type RoomVersion } from '../protocol/roomVersions.ts';
import { toClientEvent } from '../rooms/clientEvent.ts';
import type { AppserviceReceipt, AppserviceStore, AppserviceToDevice, EphemeralAdvance, EphemeralPositions, ToDevicePosition } from '../storage/appservices.ts';
import type { StreamNotification } from '../notifier.ts';
import type { RoomAliasStore } from '../storage/aliases.ts';
import type { EventStore, StoredEvent } from '../storage/events.ts';
import { isInterestedInEvent, isInterestedInRoom, isInterestedInToDevice, isInterestedInUser } from './namespaces.ts';
import { TRANSACTION_KEYS, type Registration } from './registration.ts';

/**
 * How many events the first storage read of a take scans: as many as a transaction holds, so a busy service reads
 * nothing it does not send; reads double from there (up to MAX_SCAN) through stretches that interest it little.
 */
const MAX_SCAN = 2000;
/** Rooms remembered per service before the cache starts again (a bound, not a tuning knob). */
const MAX_CACHED_ROOMS = 50_000;
/** Ephemeral events and to-device messages per transaction (DESIGN.md §4). */
const MAX_EPHEMERAL = 100;
const MAX_TO_DEVICE = 100;

/** A receipt as an m.receipt event of its room, in the shape /sync gives it. */
function receiptEvent(r: AppserviceReceipt): JsonObject {
  const receipt: JsonObject = { ts: r.ts };
  if (r.threadId !== '') receipt['thread_id'] = r.threadId;
  return { type: 'm.receipt', room_id: r.roomId, content: { [r.eventId]: { [r.receiptType]: { [r.userId]: receipt } } } };
}

export interface TakenAppserviceTransaction {
  txnId: string;
  toPosition: number;
  events: number;
  ephemeral: number;
  toDevice: number;
}

/** Where receipts, typing and to-device messages come from (the per-user data streams). */
export interface EphemeralSource {
  positions(): EphemeralCursor;
  typingIn(roomId: string): string[];
}

export interface EphemeralCursor {
  receipts: number;
  typing: number;
  toDevice: number;
  presence: number;
}

interface Extras {
  ephemeral: JsonObject[];
  toDevice: JsonObject[];
  /** Where the stored positions move (the streams the service is sent, when they moved). */
  advance: EphemeralAdvance;
  /** Where the typing cursor moves (null: it is not sent typing). */
  typing: number | null;
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
  readonly #lastBuilt = new Map<string, { txnId: string; body: string; typing: number | null }>();
  #ephemeral: EphemeralSource | null = null;
  /** The typing stream's position when the source arrived: where every service's typing cursor starts. */
  #typingStart = 0;
  /** Per service, how far it has been given typing (in memory, as typing is; moved when a transaction is acknowledged). */
  readonly #typingCursors = new Map<string, number>();
  /** Room -> typing stream position of its last change. */
  readonly #typingChanges = new Map<string, number>();

  constructor(opts: TransactionBuilderOptions) {
    this.#opts = opts;
  }

  /** Receipts and typing become available (they exist only once the per-user data streams run). */
  useEphemeral(source: EphemeralSource): void {
    this.#ephemeral = source;
    this.#typingStart = source.positions().typing;
  }

  /** Every stream notification, before it is routed: typing changes are remembered here by room. */
  streamAdvanced(notification: StreamNotification): void {
    if (notification.stream !== 'typing') return;
    for (const roomId of notification.rooms ?? []) this.#typingChanges.set(roomId, notification.position);
    // Bounded: changes every service sent typing has been given are dropped.
    if (this.#typingChanges.size > MAX_CACHED_ROOMS && this.#typingCursors.size > 0) {
      const oldest = Math.min(...this.#typingCursors.values());
      for (const [roomId, at] of this.#typingChanges) if (at <= oldest) this.#typingChanges.delete(roomId);
    }
  }

  /** An alias of the room was created or deleted: every service's answer for it may change. */
  invalidateRoom(roomId: string): void {
    for (const rooms of this.#roomInterest.values()) rooms.delete(roomId);
  }

  /** The oldest stored transaction, or a new stored one of at most `limit` events, or null when there is nothing. */
  async take(reg: Registration, limit: number): Promise<TakenAppserviceTransaction | null> {
    const { store } = this.#opts;
    const work = await store.nextWork(reg.id);
    if (!work) throw new Error(`application service ${JSON.stringify(reg.id)} has no stored state`);
    const stored = work.oldest;
    if (stored) return { txnId: stored.txnId, toPosition: stored.toPosition, events: stored.eventCount, ephemeral: 0, toDevice: 0 };
    const upTo = this.#opts.eventsPosition();
    const from = work.position;
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
    const extras = await this.#takeExtras(reg, work.ephemeral);
    if (picked.length === 0 && (!extras || extras.ephemeral.length + extras.toDevice.length === 0)) {
      const advance = extras?.advance ?? {};
      if (scannedTo > from || Object.keys(advance).length > 0) await store.advancePosition(reg.id, scannedTo, advance);
      if (extras && extras.typing !== null) this.#typingCursors.set(reg.id, extras.typing);
      return null;
    }
    const contents = await this.#contents(picked);
    if (extras && extras.ephemeral.length > 0) {
      contents[TRANSACTION_KEYS.ephemeral] = extras.ephemeral;
      contents[TRANSACTION_KEYS.ephemeralUnstable] = extras.ephemeral;
    }
    if (extras && extras.toDevice.length > 0) {
      contents[TRANSACTION_KEYS.toDevice] = extras.toDevice;
      contents[TRANSACTION_KEYS.toDeviceUnstable] = extras.toDevice;
    }
    const body = JSON.stringify(contents);
    const txnId = await store.storeTransaction(reg.id, {
      contents: body,
      toPosition: scannedTo,
      eventCount: picked.length,
      createdTs: this.#opts.now(),
      ...(extras ? { ephemeralTo: extras.advance } : {}),
    });
    this.#lastBuilt.set(reg.id, { txnId, body, typing: extras?.typing ?? null });
    return {
      txnId,
      toPosition: scannedTo,
      events: picked.length,
      ephemeral: extras?.ephemeral.length ?? 0,
      toDevice: extras?.toDevice.length ?? 0,
    };
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
    const built = this.#lastBuilt.get(serviceId);
    if (built?.txnId !== txnId) return;
    this.#lastBuilt.delete(serviceId);
    if (built.typing !== null) this.#typingCursors.set(serviceId, built.typing);
  }

  /**
   * Ephemeral events and to-device messages after the service's stored positions (typing: its cursor in memory);
   * null when it wants neither or the streams do not run yet.
   */
  async #takeExtras(reg: Registration, stored: EphemeralPositions): Promise<Extras | null> {
    const source = this.#ephemeral;
    if (!source || (!reg.receiveEphemeral && !reg.receiveToDevice)) return null;
    const now = source.positions();
    const extras: Extras = { ephemeral: [], toDevice: [], advance: {}, typing: null };
    if (reg.receiveEphemeral) {
      const from = { receipts: stored.receipts, presence: stored.presence, typing: this.#typingCursors.get(reg.id) ?? this.#typingStart };
      const taken = await this.#takeEphemeral(reg, source, from, now);
      extras.ephemeral = taken.events;
      if (taken.receipts > stored.receipts) extras.advance.receipts = taken.receipts;
      if (taken.presence > stored.presence) extras.advance.presence = taken.presence;
      extras.typing = taken.typing;
    }
    if (reg.receiveToDevice) {
      const taken = await this.#takeToDevice(reg, stored.toDevice, now.toDevice);
      extras.toDevice = taken.messages;
      if (!samePosition(taken.to, stored.toDevice)) extras.advance.toDevice = taken.to;
    }
    return extras;
  }

  /**
   * To-device messages for the service's users after `after`, at most 100. The position is a message, not a send:
   * a cut inside one send (which shares a stream id among its devices) leaves the rest for the next transaction.
   */
  async #takeToDevice(reg: Registration, after: ToDevicePosition, upTo: number): Promise<{ messages: JsonObject[]; to: ToDevicePosition }> {
    if (upTo < after.streamId) return { messages: [], to: after };
    const rows = await this.#opts.store.toDeviceBetween(after, upTo, MAX_SCAN);
    const kept: AppserviceToDevice[] = [];
    let last: AppserviceToDevice | undefined;
    for (const r of rows) {
      if (kept.length === MAX_TO_DEVICE) break;
      last = r;
      if (isInterestedInToDevice(reg, r.userId)) kept.push(r);
    }
    // A short read that was looked at to its end saw every message up to the readable position.
    const sawAll = rows.length < MAX_SCAN && last === rows.at(-1);
    let to: ToDevicePosition = after;
    if (sawAll) to = { streamId: upTo, after: null };
    else if (last) to = { streamId: last.streamId, after: { userId: last.userId, deviceId: last.deviceId } };
    const messages = kept.map((r) => ({ type: r.type, sender: r.sender, content: r.content as JsonObject, to_user_id: r.userId, to_device_id: r.deviceId }));
    return { messages, to };
  }

  /** Receipts and typing of interesting rooms, and presence of interesting users, since the cursor, at most 100. */
  async #takeEphemeral(
    reg: Registration,
    source: EphemeralSource,
    from: { receipts: number; presence: number; typing: number },
    now: EphemeralCursor,
  ): Promise<{ events: JsonObject[]; receipts: number; typing: number; presence: number }> {
    const limit = MAX_EPHEMERAL;
    const events: JsonObject[] = [];
    const receipts = await this.#opts.store.receiptsBetween(from.receipts, now.receipts, limit);
    for (const receipt of receipts) if (await this.#roomInterested(reg, receipt.roomId)) events.push(receiptEvent(receipt));
    const receiptsTo = receipts.length === limit ? (receipts.at(-1)?.streamId ?? from.receipts) : now.receipts;
    let typingTo = now.typing;
    const changed = [...this.#typingChanges].filter(([, at]) => at > from.typing && at <= now.typing).sort((a, b) => a[1] - b[1]);
    for (const [roomId, at] of changed) {
      if (events.length === limit) {
        typingTo = at - 1;
        break;
      }
      if (await this.#roomInterested(reg, roomId)) {
        events.push({ type: 'm.typing', room_id: roomId, content: { user_ids: source.typingIn(roomId) } });
      }
    }
    let presenceTo = now.presence;
    const room = limit - events.length;
    const changes = room > 0 ? await this.#opts.store.presenceBetween(from.presence, now.presence, room) : [];
    if (room === 0) presenceTo = from.presence;
    else if (changes.length === room) presenceTo = changes.at(-1)?.streamId ?? from.presence;
    const clock = this.#opts.now();
    for (const p of changes) {
      if (!(await this.#presenceInterests(reg, p.userId))) continue;
      const content: JsonObject = { presence: p.state, last_active_ago: Math.max(0, clock - p.lastActiveTs), currently_active: p.currentlyActive };
      if (p.statusMsg !== null) content['status_msg'] = p.statusMsg;
      events.push({ type: 'm.presence', sender: p.userId, content });
    }
    return { events, receipts: Math.max(from.receipts, receiptsTo), typing: Math.max(from.typing, typingTo), presence: Math.max(from.presence, presenceTo) };
  }

  /** A user of the service, or a local user joined to a room that interests it (as Synapse decides). */
  async #presenceInterests(reg: Registration, userId: string): Promise<boolean> {
    if (isInterestedInUser(reg, userId)) return true;
    for (const roomId of await this.#opts.events.joinedRooms(userId)) if (await this.#roomInterested(reg, roomId)) return true;
    return false;
  }

  async #interested(reg: Registration, event: StoredEvent): Promise<boolean> {
    if (event.type === 'm.room.member' || event.type === 'm.room.canonical_alias') this.#roomInterest.get(reg.id)?.delete(event.roomId);
    const facts = { type: event.type, sender: event.sender, room_id: event.roomId, ...(event.stateKey !== null ? { state_key: event.stateKey } : {}) };
    return isInterestedInEvent(reg, facts, {}) || this.#roomInterested(reg, event.roomId);
  }

  /** The room's id or an alias is in the namespaces, or one of the service's users is joined (cached). */
  async #roomInterested(reg: Registration, roomId: string): Promise<boolean> {
    let rooms = this.#roomInterest.get(reg.id);
    if (!rooms) {
      rooms = new Map();
      this.#roomInterest.set(reg.id, rooms);
    }
    let interested = rooms.get(roomId);
    if (interested === undefined) {
      const aliases = reg.namespaces.aliases.length > 0 ? await this.#opts.aliases.aliasesOfRoom(roomId) : [];
      const joinedMembers = await this.#opts.store.localJoinedMembers(roomId);
      interested = isInterestedInRoom(reg, roomId, { aliases, joinedMembers });
      if (rooms.size >= MAX_CACHED_ROOMS) rooms.clear();
      rooms.set(roomId, interested);
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

function samePosition(a: ToDevicePosition, b: ToDevicePosition): boolean {
  return a.streamId === b.streamId && a.after?.userId === b.after?.userId && a.after?.deviceId === b.after?.deviceId;
}
