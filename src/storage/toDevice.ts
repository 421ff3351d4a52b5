// To-device messages waiting for their devices, and the transaction ids that make /sendToDevice idempotent
// (migrations/0010).
import type { JsonObject } from '../protocol/json.ts';
import type { Queryable } from './database.ts';

export interface ToDeviceMessage {
  userId: string;
  deviceId: string;
  sender: string;
  type: string;
  content: JsonObject;
}

export interface DeliveredMessage {
  streamId: number;
  sender: string;
  type: string;
  content: JsonObject;
}

export class ToDeviceStore {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  /**
   * Records the transaction id; false when the sender's device had used it already (nothing else is written then).
   * Call inside the transaction that stores the messages.
   */
  async claimTxn(userId: string, deviceId: string, txnId: string, streamId: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO to_device_txns (user_id, device_id, txn_id, stream_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, device_id, txn_id) DO NOTHING`,
      [userId, deviceId, txnId, streamId],
    );
    return rowCount > 0;
  }

  async insert(streamId: number, messages: readonly ToDeviceMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.db.query(
      `INSERT INTO to_device_messages (user_id, device_id, stream_id, sender, type, content)
       SELECT m.user_id, m.device_id, $1, m.sender, m.type, m.content
         FROM jsonb_to_recordset($2::jsonb) AS m(user_id text, device_id text, sender text, type text, content jsonb)
       ON CONFLICT DO NOTHING`,
      [streamId, JSON.stringify(messages.map((m) => ({ user_id: m.userId, device_id: m.deviceId, sender: m.sender, type: m.type, content: m.content })))],
    );
  }

  /** The device's messages in (after, upTo], oldest first, at most `limit`. */
  async pending(userId: string, deviceId: string, after: number, upTo: number, limit: number): Promise<DeliveredMessage[]> {
    if (upTo <= after) return [];
    const { rows } = await this.db.query<{ stream_id: number; sender: string; type: string; content: JsonObject }>(
      `SELECT stream_id, sender, type, content FROM to_device_messages
        WHERE user_id = $1 AND device_id = $2 AND stream_id > $3 AND stream_id <= $4
        ORDER BY stream_id LIMIT $5`,
      [userId, deviceId, after, upTo, limit],
    );
    return rows.map((r) => ({ streamId: r.stream_id, sender: r.sender, type: r.type, content: r.content }));
  }

  /** Forgets the device's messages up to `upTo`: the device has acknowledged them. */
  async deleteUpTo(userId: string, deviceId: string, upTo: number): Promise<void> {
    await this.db.query('DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3', [userId, deviceId, upTo]);
  }

  /** Drops everything queued for deleted devices. */
  async deleteForDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.db.query('DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = ANY($2::text[])', [userId, [...deviceIds]]);
  }
}
