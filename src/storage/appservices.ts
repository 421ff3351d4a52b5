// Application services' positions, UP/DOWN state and stored transactions (migrations/0011), and the reads the
// transaction builder needs (events after a position, a room's local joined members).
import type { Database, Queryable } from './database.ts';
import { EVENT_COLUMNS, toStoredEvent, type StoredEvent } from './events.ts';

export type AppserviceStatus = 'up' | 'down';

export interface AppserviceStateRecord {
  serviceId: string;
  state: AppserviceStatus;
  streamPosition: number;
  backoffStep: number;
  /** Whether a transaction is stored and not yet acknowledged. */
  hasStoredTransaction: boolean;
}

export interface StoredAppserviceTransaction {
  txnId: string;
  toPosition: number;
  eventCount: number;
}

export interface NewAppserviceTransaction {
  /** The request body, JSON text. */
  contents: string;
  toPosition: number;
  eventCount: number;
  createdTs: number;
}

export interface AppserviceStore {
  /**
   * Creates the rows of services seen for the first time, at `position` (no history is replayed), and returns
   * every listed service's stored state.
   */
  ensureServices(serviceIds: readonly string[], position: number): Promise<Map<string, AppserviceStateRecord>>;
  /** The service's stored position and its oldest stored transaction (null: none); null for an unknown service. */
  nextWork(serviceId: string): Promise<{ position: number; oldest: StoredAppserviceTransaction | null } | null>;
  /** Stores a transaction under the next transaction id of the service (one statement, so atomically). */
  storeTransaction(serviceId: string, txn: NewAppserviceTransaction): Promise<string>;
  /** The stored body, or null when the transaction is not (or no longer) stored. */
  transactionContents(serviceId: string, txnId: string): Promise<string | null>;
  /** The service was acknowledged: its position moves to `toPosition` and the transaction is deleted. */
  completeTransaction(serviceId: string, txnId: string, toPosition: number): Promise<void>;
  /** Moves the position past events that did not interest the service (only ever forwards). */
  advancePosition(serviceId: string, position: number): Promise<void>;
  /** Persists UP/DOWN and, when given, the back-off step. */
  setState(serviceId: string, state: AppserviceStatus, backoffStep?: number): Promise<void>;
  /** Events with after < stream_ordering <= upTo, in stream order. */
  eventsBetween(after: number, upTo: number, limit: number): Promise<StoredEvent[]>;
  /** The room's joined members who are users of this server. */
  localJoinedMembers(roomId: string): Promise<string[]>;
  /** Presence changes written in (after, upTo], in stream order. */
  presenceBetween(after: number, upTo: number, limit: number): Promise<AppservicePresence[]>;
  /** The rooms a local user is joined to. */
  joinedRoomsOf(userId: string): Promise<string[]>;
  /** To-device messages written in (after, upTo], in stream order. */
  toDeviceBetween(after: number, upTo: number, limit: number): Promise<AppserviceToDevice[]>;
  /** Public receipts (not m.read.private) written in (after, upTo], in stream order. */
  receiptsBetween(after: number, upTo: number, limit: number): Promise<AppserviceReceipt[]>;
}

export interface AppservicePresence {
  userId: string;
  state: string;
  statusMsg: string | null;
  lastActiveTs: number;
  currentlyActive: boolean;
  streamId: number;
}

export interface AppserviceToDevice {
  userId: string;
  deviceId: string;
  streamId: number;
  sender: string;
  type: string;
  content: unknown;
}

export interface AppserviceReceipt {
  roomId: string;
  receiptType: string;
  userId: string;
  threadId: string;
  eventId: string;
  ts: number;
  streamId: number;
}

interface StateRow {
  service_id: string;
  state: AppserviceStatus;
  stream_position: number;
  backoff_step: number;
  has_txn: boolean;
}

const STATE_SELECT = `SELECT s.service_id, s.state, s.stream_position, s.backoff_step,
  EXISTS (SELECT 1 FROM appservice_transactions t WHERE t.service_id = s.service_id) AS has_txn
  FROM appservice_state s`;

const toState = (r: StateRow): AppserviceStateRecord => ({
  serviceId: r.service_id,
  state: r.state,
  streamPosition: r.stream_position,
  backoffStep: r.backoff_step,
  hasStoredTransaction: r.has_txn,
});

export class PostgresAppserviceStore implements AppserviceStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async ensureServices(serviceIds: readonly string[], position: number): Promise<Map<string, AppserviceStateRecord>> {
    const ids = [...serviceIds];
    if (ids.length === 0) return new Map();
    await this.#db.query(
      `INSERT INTO appservice_state (service_id, stream_position) SELECT id, $2 FROM unnest($1::text[]) AS id
       ON CONFLICT (service_id) DO NOTHING`,
      [ids, position],
    );
    const { rows } = await this.#db.query<StateRow>(`${STATE_SELECT} WHERE s.service_id = ANY($1::text[])`, [ids]);
    return new Map(rows.map((r) => [r.service_id, toState(r)]));
  }

  async nextWork(serviceId: string): Promise<{ position: number; oldest: StoredAppserviceTransaction | null } | null> {
    const { rows } = await this.#db.query<{ stream_position: number; txn_id: number | null; to_position: number | null; event_count: number | null }>(
      `SELECT s.stream_position, t.txn_id, t.to_position, t.event_count FROM appservice_state s
       LEFT JOIN LATERAL (
         SELECT txn_id, to_position, event_count FROM appservice_transactions
         WHERE service_id = s.service_id ORDER BY txn_id LIMIT 1
       ) t ON true
       WHERE s.service_id = $1`,
      [serviceId],
    );
    const r = rows[0];
    if (!r) return null;
    const oldest = r.txn_id !== null ? { txnId: String(r.txn_id), toPosition: r.to_position ?? 0, eventCount: r.event_count ?? 0 } : null;
    return { position: r.stream_position, oldest };
  }

  async storeTransaction(serviceId: string, txn: NewAppserviceTransaction): Promise<string> {
    const { rows } = await this.#db.query<{ txn_id: number }>(
      `WITH bumped AS (
         UPDATE appservice_state SET last_txn_id = last_txn_id + 1 WHERE service_id = $1 RETURNING last_txn_id
       )
       INSERT INTO appservice_transactions (service_id, txn_id, contents, to_position, event_count, created_ts)
       SELECT $1, last_txn_id, $2, $3, $4, $5 FROM bumped RETURNING txn_id`,
      [serviceId, txn.contents, txn.toPosition, txn.eventCount, txn.createdTs],
    );
    const r = rows[0];
    if (!r) throw new Error(`unknown application service ${JSON.stringify(serviceId)}`);
    return String(r.txn_id);
  }

  async transactionContents(serviceId: string, txnId: string): Promise<string | null> {
    const { rows } = await this.#db.query<{ contents: string }>(
      'SELECT contents FROM appservice_transactions WHERE service_id = $1 AND txn_id = $2',
      [serviceId, Number(txnId)],
    );
    return rows[0]?.contents ?? null;
  }

  async completeTransaction(serviceId: string, txnId: string, toPosition: number): Promise<void> {
    // One statement, so atomic without an explicit transaction (and one round trip).
    await this.#db.query(
      `WITH done AS (DELETE FROM appservice_transactions WHERE service_id = $1 AND txn_id = $2)
       UPDATE appservice_state SET stream_position = GREATEST(stream_position, $3) WHERE service_id = $1`,
      [serviceId, Number(txnId), toPosition],
    );
  }

  async advancePosition(serviceId: string, position: number): Promise<void> {
    await advance(this.#db, serviceId, position);
  }

  async setState(serviceId: string, state: AppserviceStatus, backoffStep?: number): Promise<void> {
    await this.#db.query(
      'UPDATE appservice_state SET state = $2, backoff_step = COALESCE($3, backoff_step) WHERE service_id = $1',
      [serviceId, state, backoffStep ?? null],
    );
  }

  async eventsBetween(after: number, upTo: number, limit: number): Promise<StoredEvent[]> {
    const { rows } = await this.#db.query<Parameters<typeof toStoredEvent>[0]>(
      `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.stream_ordering > $1 AND e.stream_ordering <= $2
       ORDER BY e.stream_ordering LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map(toStoredEvent);
  }

  async localJoinedMembers(roomId: string): Promise<string[]> {
    const { rows } = await this.#db.query<{ user_id: string }>(
      "SELECT user_id FROM local_memberships WHERE room_id = $1 AND membership = 'join'",
      [roomId],
    );
    return rows.map((r) => r.user_id);
  }

  async presenceBetween(after: number, upTo: number, limit: number): Promise<AppservicePresence[]> {
    if (upTo <= after) return [];
    const { rows } = await this.#db.query<{
      user_id: string;
      state: string;
      status_msg: string | null;
      last_active_ts: number;
      currently_active: boolean;
      stream_id: number;
    }>(
      `SELECT user_id, state, status_msg, last_active_ts, currently_active, stream_id FROM presence
       WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      state: r.state,
      statusMsg: r.status_msg,
      lastActiveTs: r.last_active_ts,
      currentlyActive: r.currently_active,
      streamId: r.stream_id,
    }));
  }

  async joinedRoomsOf(userId: string): Promise<string[]> {
    const { rows } = await this.#db.query<{ room_id: string }>(
      "SELECT room_id FROM local_memberships WHERE user_id = $1 AND membership = 'join'",
      [userId],
    );
    return rows.map((r) => r.room_id);
  }

  async toDeviceBetween(after: number, upTo: number, limit: number): Promise<AppserviceToDevice[]> {
    if (upTo <= after) return [];
    const { rows } = await this.#db.query<{ user_id: string; device_id: string; stream_id: number; sender: string; type: string; content: unknown }>(
      `SELECT user_id, device_id, stream_id, sender, type, content FROM to_device_messages
       WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id, user_id, device_id LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id, streamId: r.stream_id, sender: r.sender, type: r.type, content: r.content }));
  }

  async receiptsBetween(after: number, upTo: number, limit: number): Promise<AppserviceReceipt[]> {
    if (upTo <= after) return [];
    const { rows } = await this.#db.query<ReceiptRow>(
      `SELECT room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id FROM receipts
       WHERE stream_id > $1 AND stream_id <= $2 AND receipt_type <> 'm.read.private' ORDER BY stream_id LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map((r) => ({
      roomId: r.room_id,
      receiptType: r.receipt_type,
      userId: r.user_id,
      threadId: r.thread_id,
      eventId: r.event_id,
      ts: r.ts,
      streamId: r.stream_id,
    }));
  }
}

interface ReceiptRow {
  room_id: string;
  receipt_type: string;
  user_id: string;
  thread_id: string;
  event_id: string;
  ts: number;
  stream_id: number;
}

function advance(q: Queryable, serviceId: string, position: number): Promise<unknown> {
  return q.query('UPDATE appservice_state SET stream_position = GREATEST(stream_position, $2) WHERE service_id = $1', [
    serviceId,
    position,
  ]);
}
