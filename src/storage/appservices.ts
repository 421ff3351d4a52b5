// Application services' positions, UP/DOWN state and stored transactions (migrations/0011, 0015), and the reads
// the transaction builder needs (events after a position, a room's local joined members, receipts, presence and
// to-device messages after a position).
import type { Database } from './database.ts';
import { EVENT_COLUMNS, toStoredEvent, type StoredEvent } from './events.ts';
import { PRESENCE_COLUMNS, toPresenceRow, type PresenceRow, type PresenceTableRow } from './presence.ts';
import { RECEIPT_COLUMNS, toReceiptRow, type ReceiptRow, type ReceiptTableRow } from './receipts.ts';

export type AppserviceStatus = 'up' | 'down';

/**
 * The last to-device message a service has been given, in the order they are read in (stream id, user id, device
 * id); `after` null: every message of `streamId` is behind. One send shares a stream id among all its devices, and
 * may hold more than a transaction carries.
 */
export interface ToDevicePosition {
  streamId: number;
  after: { userId: string; deviceId: string } | null;
}

/** How far a service has been given receipts, presence and to-device messages. */
export interface EphemeralPositions {
  receipts: number;
  presence: number;
  toDevice: ToDevicePosition;
}

/** Where some of a service's ephemeral positions move (an absent one does not move). */
export type EphemeralAdvance = Partial<EphemeralPositions>;

/** A registration as ensureServices needs it: which of the ephemeral streams it is sent. */
export interface AppserviceStreams {
  serviceId: string;
  ephemeral: boolean;
  toDevice: boolean;
}

/** The streams' positions at boot (where new services, and streams a service is not sent, start). */
export interface EphemeralStreamPositions {
  receipts: number;
  presence: number;
  toDevice: number;
}

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
  /** Where the ephemeral positions move when it is acknowledged. */
  ephemeralTo?: EphemeralAdvance;
}

export interface AppserviceStore {
  /**
   * Creates the rows of services seen for the first time, at `position` and `ephemeral` (no history is replayed),
   * moves the positions of streams a service is not sent to the streams' current ones (so asking for them later
   * does not replay them), and returns every listed service's stored state.
   */
  ensureServices(
    services: readonly AppserviceStreams[],
    position: number,
    ephemeral: EphemeralStreamPositions,
  ): Promise<Map<string, AppserviceStateRecord>>;
  /** One service's stored state (null: no row). */
  serviceState(serviceId: string): Promise<AppserviceStateRecord | null>;
  /**
   * The service's stored positions and its oldest stored transaction (null: none); null for an unknown service.
   */
  nextWork(serviceId: string): Promise<AppserviceWork | null>;
  /** Stores a transaction under the next transaction id of the service (one statement, so atomically). */
  storeTransaction(serviceId: string, txn: NewAppserviceTransaction): Promise<string>;
  /** The stored body, or null when the transaction is not (or no longer) stored. */
  transactionContents(serviceId: string, txnId: string): Promise<string | null>;
  /**
   * The service was acknowledged: in one statement the transaction is deleted, the events position moves to
   * `toPosition` and the ephemeral positions to those stored with the transaction.
   */
  completeTransaction(serviceId: string, txnId: string, toPosition: number): Promise<void>;
  /** Moves the positions past what did not interest the service (the events one only ever forwards). */
  advancePosition(serviceId: string, position: number, ephemeral?: EphemeralAdvance): Promise<void>;
  /** Persists UP/DOWN and, when given, the back-off step. */
  setState(serviceId: string, state: AppserviceStatus, backoffStep?: number): Promise<void>;
  /** Events with after < stream_ordering <= upTo, in stream order. */
  eventsBetween(after: number, upTo: number, limit: number): Promise<StoredEvent[]>;
  /** The room's joined members who are users of this server. */
  localJoinedMembers(roomId: string): Promise<string[]>;
  /** Presence changes written in (after, upTo], in stream order. */
  presenceBetween(after: number, upTo: number, limit: number): Promise<AppservicePresence[]>;
  /** To-device messages after `after` with a stream id at most `upTo`, in (stream id, user id, device id) order. */
  toDeviceBetween(after: ToDevicePosition, upTo: number, limit: number): Promise<AppserviceToDevice[]>;
  /** Public receipts (not m.read.private) written in (after, upTo], in stream order. */
  receiptsBetween(after: number, upTo: number, limit: number): Promise<AppserviceReceipt[]>;
}

export interface AppserviceWork {
  position: number;
  ephemeral: EphemeralPositions;
  oldest: StoredAppserviceTransaction | null;
}

export type AppservicePresence = PresenceRow;

export interface AppserviceToDevice {
  userId: string;
  deviceId: string;
  streamId: number;
  sender: string;
  type: string;
  content: unknown;
}

export type AppserviceReceipt = ReceiptRow;

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

  async ensureServices(
    services: readonly AppserviceStreams[],
    position: number,
    ephemeral: EphemeralStreamPositions,
  ): Promise<Map<string, AppserviceStateRecord>> {
    const ids = services.map((s) => s.serviceId);
    if (ids.length === 0) return new Map();
    await this.#db.query(
      `INSERT INTO appservice_state (service_id, stream_position, receipts_position, presence_position, to_device_position)
       SELECT id, $2, $3, $4, $5 FROM unnest($1::text[]) AS id
       ON CONFLICT (service_id) DO NOTHING`,
      [ids, position, ephemeral.receipts, ephemeral.presence, ephemeral.toDevice],
    );
    const notEphemeral = services.filter((s) => !s.ephemeral).map((s) => s.serviceId);
    if (notEphemeral.length > 0) {
      await this.#db.query(
        `UPDATE appservice_state SET receipts_position = GREATEST(receipts_position, $2),
           presence_position = GREATEST(presence_position, $3)
         WHERE service_id = ANY($1::text[])`,
        [notEphemeral, ephemeral.receipts, ephemeral.presence],
      );
    }
    const notToDevice = services.filter((s) => !s.toDevice).map((s) => s.serviceId);
    if (notToDevice.length > 0) {
      await this.#db.query(
        `UPDATE appservice_state SET to_device_position = $2, to_device_user_id = NULL, to_device_device_id = NULL
         WHERE service_id = ANY($1::text[]) AND to_device_position <= $2`,
        [notToDevice, ephemeral.toDevice],
      );
    }
    const { rows } = await this.#db.query<StateRow>(`${STATE_SELECT} WHERE s.service_id = ANY($1::text[])`, [ids]);
    return new Map(rows.map((r) => [r.service_id, toState(r)]));
  }

  async serviceState(serviceId: string): Promise<AppserviceStateRecord | null> {
    const { rows } = await this.#db.query<StateRow>(`${STATE_SELECT} WHERE s.service_id = $1`, [serviceId]);
    const r = rows[0];
    return r ? toState(r) : null;
  }

  async nextWork(serviceId: string): Promise<AppserviceWork | null> {
    const { rows } = await this.#db.query<WorkRow>(
      `SELECT s.stream_position, s.receipts_position, s.presence_position, s.to_device_position, s.to_device_user_id,
         s.to_device_device_id, t.txn_id, t.to_position, t.event_count
       FROM appservice_state s
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
    return {
      position: r.stream_position,
      ephemeral: {
        receipts: r.receipts_position,
        presence: r.presence_position,
        toDevice: toDevicePosition(r.to_device_position, r.to_device_user_id, r.to_device_device_id),
      },
      oldest,
    };
  }

  async storeTransaction(serviceId: string, txn: NewAppserviceTransaction): Promise<string> {
    const to = txn.ephemeralTo ?? {};
    const { rows } = await this.#db.query<{ txn_id: number }>(
      `WITH bumped AS (
         UPDATE appservice_state SET last_txn_id = last_txn_id + 1 WHERE service_id = $1 RETURNING last_txn_id
       )
       INSERT INTO appservice_transactions (service_id, txn_id, contents, to_position, event_count, created_ts,
         receipts_to, presence_to, to_device_to, to_device_user_id, to_device_device_id)
       SELECT $1, last_txn_id, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM bumped RETURNING txn_id`,
      [
        serviceId,
        txn.contents,
        txn.toPosition,
        txn.eventCount,
        txn.createdTs,
        to.receipts ?? null,
        to.presence ?? null,
        to.toDevice?.streamId ?? null,
        to.toDevice?.after?.userId ?? null,
        to.toDevice?.after?.deviceId ?? null,
      ],
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
    // One statement, so atomic without an explicit transaction (and one round trip). A transaction already deleted
    // (completed before) moves nothing but the events position, which only ever moves forwards.
    await this.#db.query(
      `WITH done AS (
         DELETE FROM appservice_transactions WHERE service_id = $1 AND txn_id = $2
         RETURNING receipts_to, presence_to, to_device_to, to_device_user_id, to_device_device_id
       )
       UPDATE appservice_state s SET stream_position = GREATEST(s.stream_position, $3),
         receipts_position = GREATEST(s.receipts_position, (SELECT receipts_to FROM done)),
         presence_position = GREATEST(s.presence_position, (SELECT presence_to FROM done)),
         to_device_position = COALESCE((SELECT to_device_to FROM done), s.to_device_position),
         to_device_user_id = CASE WHEN (SELECT to_device_to FROM done) IS NULL THEN s.to_device_user_id
           ELSE (SELECT to_device_user_id FROM done) END,
         to_device_device_id = CASE WHEN (SELECT to_device_to FROM done) IS NULL THEN s.to_device_device_id
           ELSE (SELECT to_device_device_id FROM done) END
       WHERE s.service_id = $1`,
      [serviceId, Number(txnId), toPosition],
    );
  }

  async advancePosition(serviceId: string, position: number, ephemeral: EphemeralAdvance = {}): Promise<void> {
    await this.#db.query(
      `UPDATE appservice_state SET stream_position = GREATEST(stream_position, $2),
         receipts_position = GREATEST(receipts_position, $3),
         presence_position = GREATEST(presence_position, $4),
         to_device_position = COALESCE($5, to_device_position),
         to_device_user_id = CASE WHEN $5::bigint IS NULL THEN to_device_user_id ELSE $6 END,
         to_device_device_id = CASE WHEN $5::bigint IS NULL THEN to_device_device_id ELSE $7 END
       WHERE service_id = $1`,
      [
        serviceId,
        position,
        ephemeral.receipts ?? null,
        ephemeral.presence ?? null,
        ephemeral.toDevice?.streamId ?? null,
        ephemeral.toDevice?.after?.userId ?? null,
        ephemeral.toDevice?.after?.deviceId ?? null,
      ],
    );
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
    const { rows } = await this.#db.query<PresenceTableRow>(
      `SELECT ${PRESENCE_COLUMNS} FROM presence WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map(toPresenceRow);
  }

  async toDeviceBetween(after: ToDevicePosition, upTo: number, limit: number): Promise<AppserviceToDevice[]> {
    if (upTo < after.streamId || (upTo === after.streamId && after.after === null)) return [];
    const { rows } = await this.#db.query<{ user_id: string; device_id: string; stream_id: number; sender: string; type: string; content: unknown }>(
      `SELECT user_id, device_id, stream_id, sender, type, content FROM to_device_messages
       WHERE stream_id <= $4
         AND (stream_id > $1 OR (stream_id = $1 AND $2::text IS NOT NULL AND (user_id, device_id) > ($2::text, $3::text)))
       ORDER BY stream_id, user_id, device_id LIMIT $5`,
      [after.streamId, after.after?.userId ?? null, after.after?.deviceId ?? null, upTo, limit],
    );
    return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id, streamId: r.stream_id, sender: r.sender, type: r.type, content: r.content }));
  }

  async receiptsBetween(after: number, upTo: number, limit: number): Promise<AppserviceReceipt[]> {
    if (upTo <= after) return [];
    const { rows } = await this.#db.query<ReceiptTableRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts
       WHERE stream_id > $1 AND stream_id <= $2 AND receipt_type <> 'm.read.private' ORDER BY stream_id LIMIT $3`,
      [after, upTo, limit],
    );
    return rows.map(toReceiptRow);
  }
}

interface WorkRow {
  stream_position: number;
  receipts_position: number;
  presence_position: number;
  to_device_position: number;
  to_device_user_id: string | null;
  to_device_device_id: string | null;
  txn_id: number | null;
  to_position: number | null;
  event_count: number | null;
}

function toDevicePosition(streamId: number, userId: string | null, deviceId: string | null): ToDevicePosition {
  return { streamId, after: userId !== null && deviceId !== null ? { userId, deviceId } : null };
}
