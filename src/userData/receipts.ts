// Receipts (m.read shared with the room, m.read.private only with its user, threaded or not) and the read
// marker (m.fully_read, kept as room account data). Receipts and markers only move forward: one for an earlier
// event than the stored one is accepted and ignored, as Synapse does.
import { isValidEventId } from '../protocol/identifiers.ts';
import { isJsonObject, type JsonObject } from '../protocol/json.ts';
import type { Database } from '../storage/database.ts';
import { ReceiptStore, type ReceiptRow } from '../storage/receipts.ts';
import type { StoredEvent } from '../storage/events.ts';
import type { AccountDataService } from './accountData.ts';
import { FULLY_READ } from './accountData.ts';
import { userDataInvalidParam } from './errors.ts';
import type { RoomAccess } from './membership.ts';
import { Batch, keyOf, partsOf } from '../sync/batch.ts';
import type { StreamWriter } from './streamWriter.ts';

export const RECEIPT_TYPES = ['m.read', 'm.read.private', 'm.fully_read'] as const;
export type ReceiptType = (typeof RECEIPT_TYPES)[number];
export const MAIN_THREAD = 'main';

export class ReceiptService {
  private readonly store: ReceiptStore;
  private readonly writer: StreamWriter;
  private readonly access: RoomAccess;
  private readonly accountData: AccountDataService;
  private readonly now: () => number;
  /** Read positions asked for by many woken /sync computations at once, read in one statement. */
  private readonly reads: Batch<number | null>;

  constructor(db: Database, writer: StreamWriter, access: RoomAccess, accountData: AccountDataService, now: () => number) {
    this.store = new ReceiptStore(db);
    this.writer = writer;
    this.access = access;
    this.accountData = accountData;
    this.now = now;
    this.reads = new Batch(async (keys) => {
      const pairs = keys.map((key) => {
        const [userId, roomId] = partsOf(key);
        return { userId: userId as string, roomId: roomId as string };
      });
      return new Map((await this.store.readUpTo(pairs)).map((r) => [keyOf(r.userId, r.roomId), r.at]));
    }, () => null);
  }

  /** POST /receipt: `threadId` undefined for an unthreaded receipt. */
  async send(userId: string, roomId: string, receiptType: ReceiptType, eventId: string, threadId: string | undefined): Promise<void> {
    if (threadId !== undefined) {
      if (receiptType === FULLY_READ) throw userDataInvalidParam('thread_id cannot be used with m.fully_read');
      if (threadId !== MAIN_THREAD && !isValidEventId(threadId)) throw userDataInvalidParam('thread_id must be "main" or an event id');
    }
    await this.access.requireJoined(userId, roomId);
    const event = await this.access.requireEvent(roomId, eventId);
    if (threadId !== undefined && threadId !== MAIN_THREAD && threadRoot(event) !== threadId) {
      throw userDataInvalidParam(`${eventId} is not in the thread ${threadId}`);
    }
    if (receiptType === FULLY_READ) await this.setFullyRead(userId, roomId, event);
    else await this.setReceipt(userId, roomId, receiptType, event, threadId ?? '');
  }

  /** POST /read_markers: each marker given, after checking all of them. */
  async setMarkers(userId: string, roomId: string, markers: Partial<Record<ReceiptType, string>>): Promise<void> {
    await this.access.requireJoined(userId, roomId);
    const events = new Map<ReceiptType, StoredEvent>();
    for (const type of RECEIPT_TYPES) {
      const eventId = markers[type];
      if (eventId !== undefined) events.set(type, await this.access.requireEvent(roomId, eventId));
    }
    for (const [type, event] of events) {
      if (type === FULLY_READ) await this.setFullyRead(userId, roomId, event);
      else await this.setReceipt(userId, roomId, type, event, '');
    }
  }

  private async setReceipt(userId: string, roomId: string, receiptType: ReceiptType, event: StoredEvent, threadId: string): Promise<void> {
    await this.writer.write(async (tx, id) => {
      const store = new ReceiptStore(tx);
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1::text))', [`receipt:${roomId}:${userId}`]);
      const current = await store.position(roomId, receiptType, userId, threadId);
      if (current !== null && current >= event.streamOrdering) return { result: undefined, audience: {} };
      const row: ReceiptRow = { roomId, receiptType, userId, threadId, eventId: event.eventId, ts: this.now(), streamId: id };
      await store.put(row, event.streamOrdering);
      return { result: undefined, audience: receiptType === 'm.read.private' ? { users: [userId] } : { rooms: [roomId] } };
    });
  }

  private async setFullyRead(userId: string, roomId: string, event: StoredEvent): Promise<void> {
    const currentId = (await this.accountData.get(userId, roomId, FULLY_READ))?.['event_id'];
    const current = typeof currentId === 'string' ? await this.access.events.getEvent(currentId) : null;
    if (current && current.streamOrdering >= event.streamOrdering) return;
    await this.accountData.set(userId, roomId, FULLY_READ, { event_id: event.eventId });
  }

  /** Per room, the stream ordering of the newest event the user's m.read or m.read.private receipt is at. */
  async readUpTo(userId: string, roomIds: readonly string[]): Promise<Map<string, number>> {
    const found = await Promise.all(roomIds.map((roomId) => this.reads.get(keyOf(userId, roomId))));
    const out = new Map<string, number>();
    roomIds.forEach((roomId, i) => {
      const at = found[i];
      if (at !== null && at !== undefined) out.set(roomId, at);
    });
    return out;
  }

  /**
   * m.receipt events per room: receipts of the joined rooms written in (since, to], every receipt of the rooms
   * joined since `since` (or of all joined rooms on an initial sync); never from ignored users, private ones only
   * the viewer's own.
   */
  async collect(
    viewer: string,
    since: number | undefined,
    to: number,
    joinedRoomIds: readonly string[],
    newlyJoinedRoomIds: readonly string[],
    ignored: ReadonlySet<string>,
  ): Promise<Map<string, JsonObject>> {
    // Most incremental syncs (a message woke the user): nothing to read.
    if (since !== undefined && since >= to && newlyJoinedRoomIds.length === 0) return new Map();
    const fresh = new Set(since === undefined ? joinedRoomIds : newlyJoinedRoomIds);
    const rest = joinedRoomIds.filter((r) => !fresh.has(r));
    const [whole, changed] = await Promise.all([
      this.store.changed([...fresh], viewer, 0, to),
      this.store.changed(rest, viewer, since ?? 0, to),
    ]);
    const byRoom = new Map<string, JsonObject>();
    for (const r of [...whole, ...changed]) {
      if (ignored.has(r.userId)) continue;
      let content = byRoom.get(r.roomId);
      if (!content) {
        content = {};
        byRoom.set(r.roomId, content);
      }
      const forEvent = (content[r.eventId] ??= {}) as JsonObject;
      const forType = (forEvent[r.receiptType] ??= {}) as JsonObject;
      forType[r.userId] = r.threadId === '' ? { ts: r.ts } : { ts: r.ts, thread_id: r.threadId };
    }
    return new Map([...byRoom].map(([roomId, content]) => [roomId, { type: 'm.receipt', content }]));
  }
}

/** The thread an event belongs to (its m.thread relation's root), if any. */
function threadRoot(event: StoredEvent): string | undefined {
  const content = event.pdu['content'];
  const relates = isJsonObject(content) ? content['m.relates_to'] : undefined;
  if (!isJsonObject(relates) || relates['rel_type'] !== 'm.thread') return undefined;
  return typeof relates['event_id'] === 'string' ? relates['event_id'] : undefined;
}
