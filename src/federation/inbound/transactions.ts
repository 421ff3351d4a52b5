// Inbound transactions (PUT /_matrix/federation/v1/send/{txnId}): idempotent per (origin, txnId). The first time a
// transaction is seen its PDUs are checked and stored one by one (RemoteEventHandler) and its EDUs handed on; the
// response is then stored (migrations/0012), and a repeat, or a copy arriving while the first is still being
// processed, gets that same response with nothing processed again. PDUs of rooms this server is not in, or whose
// server ACL denies the origin, are answered with an error each; typing and receipts for such rooms are dropped.
import type { Logger } from '../../log.ts';
import { isJsonObject, type JsonObject } from '../../protocol/json.ts';
import type { Queryable } from '../../storage/database.ts';
import { EventStore } from '../../storage/events.ts';
import { PduDroppedError, type RemoteEventHandler } from './accept.ts';
import { pduEventId } from './knownEvents.ts';
import { serverAclAllows } from '../serving/serverAcl.ts';

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
  private readonly events: EventStore;

  constructor(opts: InboundTransactionsOptions) {
    this.opts = opts;
    this.events = new EventStore(opts.db);
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
    // Why this server takes nothing from the origin for a room (undefined: it does), once per room.
    const refusals = new Map<string, Promise<string | undefined>>();
    const refusal = (roomId: string) => {
      let found = refusals.get(roomId);
      if (!found) {
        found = this.refusal(roomId, txn.origin);
        refusals.set(roomId, found);
      }
      return found;
    };
    for (const pdu of txn.pdus) {
      const roomId = typeof pdu['room_id'] === 'string' ? pdu['room_id'] : undefined;
      const refused = roomId === undefined ? 'The PDU has no room_id' : await refusal(roomId);
      if (refused !== undefined) {
        const eventId = pduEventId(pdu);
        if (eventId !== undefined) pdus[eventId] = { error: refused };
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
      const content = await this.allowedEduContent(edu, async (roomId) => (await refusal(roomId)) === undefined);
      if (content === undefined) continue;
      try {
        await this.opts.edus?.(txn.origin, edu.eduType, content);
      } catch (error) {
        this.opts.logger.warn({ origin: txn.origin, eduType: edu.eduType, err: (error as Error).message }, 'handling an EDU failed');
      }
    }
    return { pdus };
  }

  /** The EDU's content without the rooms the origin may not speak in (typing and receipts are about rooms). */
  private async allowedEduContent(edu: InboundTransaction['edus'][number], allowed: (roomId: string) => Promise<boolean>): Promise<JsonObject | undefined> {
    if (edu.eduType === 'm.typing') {
      const roomId = edu.content['room_id'];
      return typeof roomId === 'string' && (await allowed(roomId)) ? edu.content : undefined;
    }
    if (edu.eduType === 'm.receipt') {
      const kept: JsonObject = {};
      for (const [roomId, receipts] of Object.entries(edu.content)) if (await allowed(roomId)) kept[roomId] = receipts;
      return kept;
    }
    return edu.content;
  }

  /** Why PDUs of this room from `origin` are not taken: no local member (we are not in it), or the room's server ACL. */
  private async refusal(roomId: string, origin: string): Promise<string | undefined> {
    if (!(await this.hasLocalMember(roomId))) return `This server is not in room ${roomId}`;
    const acl = await this.events.currentStateEvent(roomId, 'm.room.server_acl', '');
    const content = acl?.pdu['content'];
    if (acl && !serverAclAllows(origin, isJsonObject(content) ? content : {})) return `Server ${origin} is denied by the server ACL of ${roomId}`;
    return undefined;
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
