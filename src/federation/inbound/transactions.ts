// Inbound transactions (PUT /_matrix/federation/v1/send/{txnId}): idempotent per (origin, txnId). The first time a
// transaction is seen its PDUs are checked and stored one by one (RemoteEventHandler) and its EDUs handed on; the
// response is then stored (migrations/0012), and a repeat, or a copy arriving while the first is still being
// processed, gets that same response with nothing processed again.
import type { Logger } from '../../log.ts';
import type { JsonObject } from '../../protocol/json.ts';
import type { Queryable } from '../../storage/database.ts';
import { PduDroppedError, pduEventId, type RemoteEventHandler } from './accept.ts';

export interface InboundTransaction {
  origin: string;
  originServerTs: number;
  pdus: readonly JsonObject[];
  edus: readonly { eduType: string; content: JsonObject }[];
}

export interface TransactionResponse {
  pdus: Record<string, { error?: string }>;
}

/** What EDUs are handed to (typing, receipts, presence, device lists, to-device); failures only log. */
export type EduHandler = (origin: string, eduType: string, content: JsonObject) => Promise<void>;

export interface InboundTransactionsOptions {
  db: Queryable;
  remoteEvents: RemoteEventHandler;
  serverName: string;
  logger: Logger;
  edus?: EduHandler;
  now(): number;
}

export class InboundTransactions {
  private readonly opts: InboundTransactionsOptions;
  private readonly inFlight = new Map<string, Promise<TransactionResponse>>();

  constructor(opts: InboundTransactionsOptions) {
    this.opts = opts;
  }

  async receive(txnId: string, txn: InboundTransaction): Promise<TransactionResponse> {
    const key = `${txn.origin}\u0000${txnId}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const work = (async () => {
      const stored = await this.storedResponse(txn.origin, txnId);
      if (stored) return stored;
      const response = await this.process(txn);
      await this.opts.db.query(
        `INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_ts) VALUES ($1, $2, $3, $4)
         ON CONFLICT (origin, txn_id) DO NOTHING`,
        [txn.origin, txnId, JSON.stringify(response), this.opts.now()],
      );
      return response;
    })();
    this.inFlight.set(key, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async storedResponse(origin: string, txnId: string): Promise<TransactionResponse | undefined> {
    const { rows } = await this.opts.db.query<{ response: string }>(
      'SELECT response FROM federation_inbound_transactions WHERE origin = $1 AND txn_id = $2',
      [origin, txnId],
    );
    return rows[0] ? (JSON.parse(rows[0].response) as TransactionResponse) : undefined;
  }

  private async process(txn: InboundTransaction): Promise<TransactionResponse> {
    const pdus: TransactionResponse['pdus'] = {};
    const joined = new Map<string, boolean>();
    for (const pdu of txn.pdus) {
      const roomId = typeof pdu['room_id'] === 'string' ? pdu['room_id'] : undefined;
      let inRoom = roomId === undefined ? false : joined.get(roomId);
      if (roomId !== undefined && inRoom === undefined) {
        inRoom = await this.hasLocalMember(roomId);
        joined.set(roomId, inRoom);
      }
      if (!inRoom) {
        const eventId = pduEventId(pdu);
        if (eventId !== undefined) pdus[eventId] = { error: `This server is not in room ${String(roomId)}` };
        continue;
      }
      try {
        const result = await this.opts.remoteEvents.accept(pdu, { origin: txn.origin });
        pdus[result.eventId] = result.rejected !== undefined ? { error: `Rejected: ${result.rejected}` } : {};
      } catch (error) {
        if (!(error instanceof PduDroppedError)) throw error;
        this.opts.logger.info({ origin: txn.origin, reason: error.message }, 'received PDU dropped');
        if (error.eventId !== undefined) pdus[error.eventId] = { error: `Dropped: ${error.message}` };
      }
    }
    for (const edu of txn.edus) {
      try {
        await this.opts.edus?.(txn.origin, edu.eduType, edu.content);
      } catch (error) {
        this.opts.logger.warn({ origin: txn.origin, eduType: edu.eduType, err: (error as Error).message }, 'handling an EDU failed');
      }
    }
    return { pdus };
  }

  /** Whether a user of this server is joined to the room (only then does this server take its events). */
  private async hasLocalMember(roomId: string): Promise<boolean> {
    const { rows } = await this.opts.db.query(
      `SELECT 1 FROM current_state WHERE room_id = $1 AND type = 'm.room.member' AND membership = 'join'
          AND right(state_key, $3) = $2 LIMIT 1`,
      [roomId, `:${this.opts.serverName}`, this.opts.serverName.length + 1],
    );
    return rows.length > 0;
  }
}
