// Receipts (migrations/0010): the newest of each (room, type, user, thread).
import type { Queryable } from './database.ts';

export interface ReceiptRow {
  roomId: string;
  receiptType: string;
  userId: string;
  /** '' for an unthreaded receipt. */
  threadId: string;
  eventId: string;
  ts: number;
  streamId: number;
}

export interface ReceiptTableRow {
  room_id: string;
  receipt_type: string;
  user_id: string;
  thread_id: string;
  event_id: string;
  ts: number;
  stream_id: number;
}

export const toReceiptRow = (r: ReceiptTableRow): ReceiptRow => ({
  roomId: r.room_id,
  receiptType: r.receipt_type,
  userId: r.user_id,
  threadId: r.thread_id,
  eventId: r.event_id,
  ts: r.ts,
  streamId: r.stream_id,
});

export const RECEIPT_COLUMNS = 'room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id';

export class ReceiptStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async put(receipt: ReceiptRow, eventStreamOrdering: number): Promise<void> {
    // A write may commit after one with a larger stream id (ids are taken before the row's lock): the larger id stays
    // (test/storage/streamRows.test.ts says why).
    await this.db.query(
      `INSERT INTO receipts (${RECEIPT_COLUMNS}, event_stream_ordering) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE
         SET event_id = EXCLUDED.event_id, ts = EXCLUDED.ts, stream_id = GREATEST(receipts.stream_id, EXCLUDED.stream_id),
             event_stream_ordering = EXCLUDED.event_stream_ordering`,
      [receipt.roomId, receipt.receiptType, receipt.userId, receipt.threadId, receipt.eventId, receipt.ts, receipt.streamId, eventStreamOrdering],
    );
  }

  /** The stream ordering of the event a receipt of this kind points at now, if any. */
  async position(roomId: string, receiptType: string, userId: string, threadId: string): Promise<number | null> {
    const { rows } = await this.db.query<{ event_stream_ordering: number }>(
      'SELECT event_stream_ordering FROM receipts WHERE room_id = $1 AND receipt_type = $2 AND user_id = $3 AND thread_id = $4',
      [roomId, receiptType, userId, threadId],
    );
    return rows[0]?.event_stream_ordering ?? null;
  }

  /**
   * Receipts in these rooms written in (after, upTo] that `viewer` may see: everyone's public ones and the viewer's
   * own private ones.
   */
  async changed(roomIds: readonly string[], viewer: string, after: number, upTo: number): Promise<ReceiptRow[]> {
    if (roomIds.length === 0 || upTo <= after) return [];
    const { rows } = await this.db.query<ReceiptTableRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts
        WHERE room_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3
          AND (receipt_type <> 'm.read.private' OR user_id = $4)
        ORDER BY stream_id`,
      [[...roomIds], after, upTo, viewer],
    );
    return rows.map(toReceiptRow);
  }

  /**
   * How far each (user, room) has read the main timeline (m.read or m.read.private, unthreaded or main): the stream
   * ordering of the newest event read; pairs with no receipt are absent.
   */
  async readUpTo(pairs: readonly { userId: string; roomId: string }[]): Promise<{ userId: string; roomId: string; at: number }[]> {
    if (pairs.length === 0) return [];
    const { rows } = await this.db.query<{ user_id: string; room_id: string; at: number }>(
      `SELECT r.user_id, r.room_id, max(r.event_stream_ordering) AS at
         FROM unnest($1::text[], $2::text[]) AS k(user_id, room_id)
         JOIN receipts r ON r.user_id = k.user_id AND r.room_id = k.room_id
        WHERE r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id IN ('', 'main')
        GROUP BY r.user_id, r.room_id`,
      [pairs.map((p) => p.userId), pairs.map((p) => p.roomId)],
    );
    return rows.map((r) => ({ userId: r.user_id, roomId: r.room_id, at: Number(r.at) }));
  }
}
