// PUT /_matrix/federation/v1/send/{txnId}: a transaction of PDUs and EDUs from another server (transactions.yaml).
// Registered inside the X-Matrix authenticated scope. The body is checked before anything is processed: a bad one
// is a Matrix error and changes nothing.
import type { FastifyInstance } from 'fastify';
import { federationEduHandler } from '../../../federation/inbound/edus.ts';
import { InboundTransactions, type InboundTransaction } from '../../../federation/inbound/transactions.ts';
import { requestOrigin } from '../../../federation/requestAuth.ts';
import { isJsonObject, type JsonObject } from '../../../protocol/json.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, badJson, forbidden } from '../../errors.ts';

export const MAX_PDUS = 50;
export const MAX_EDUS = 100;
/** 50 PDUs of up to 64 KiB each, with EDUs and framing. */
const SEND_BODY_LIMIT = 8 * 1024 * 1024;

const PATH = '/_matrix/federation/v1/send/:txnId';

export function registerSendRoute(scope: FastifyInstance, ctx: HttpContext): void {
  const remoteEvents = ctx.remoteEvents;
  if (!remoteEvents) return;
  const logger = ctx.logger.child({ component: 'federation-send' });
  const edus = federationEduHandler({ services: ctx.userData, db: ctx.db, notifier: ctx.notifier, serverName: ctx.config.serverName, logger });
  const transactions = new InboundTransactions({
    db: ctx.db,
    remoteEvents,
    serverName: ctx.config.serverName,
    logger,
    edus,
    now: ctx.now,
  });
  scope.route({
    method: 'PUT',
    url: PATH,
    bodyLimit: SEND_BODY_LIMIT,
    handler: async (request) => {
      const { txnId } = request.params as { txnId: string };
      const txn = parseTransaction(request.body, requestOrigin(request));
      return transactions.receive(txnId, txn);
    },
  });
  scope.route({
    method: ['GET', 'POST', 'DELETE', 'PATCH'],
    url: PATH,
    handler: async () => {
      throw new MatrixError(405, 'M_UNRECOGNIZED', 'Unrecognized request: method not allowed on this endpoint');
    },
  });
}

/** The transaction body, checked: origin (the authenticated server), origin_server_ts, at most 50 PDUs, 100 EDUs. */
export function parseTransaction(body: unknown, authenticatedOrigin: string): InboundTransaction {
  if (!isJsonObject(body)) throw badJson('The transaction must be a JSON object');
  const { origin, origin_server_ts: ts, pdus, edus } = body;
  if (typeof origin !== 'string') throw badJson('origin must be a string');
  if (origin !== authenticatedOrigin) throw forbidden(`origin ${origin} is not the server that signed the request`);
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw badJson('origin_server_ts must be an integer');
  if (!Array.isArray(pdus)) throw badJson('pdus must be an array');
  if (pdus.length > MAX_PDUS) throw badJson(`A transaction may carry at most ${MAX_PDUS} PDUs`);
  if (!pdus.every(isJsonObject)) throw badJson('Every PDU must be a JSON object');
  if (edus !== undefined && !Array.isArray(edus)) throw badJson('edus must be an array');
  const eduList = edus ?? [];
  if (eduList.length > MAX_EDUS) throw badJson(`A transaction may carry at most ${MAX_EDUS} EDUs`);
  const parsedEdus = eduList.map((edu) => {
    if (!isJsonObject(edu) || typeof edu['edu_type'] !== 'string' || !isJsonObject(edu['content'])) {
      throw badJson('Every EDU must be an object with a string edu_type and an object content');
    }
    return { eduType: edu['edu_type'], content: edu['content'] };
  });
  return { origin, originServerTs: ts, pdus: pdus as JsonObject[], edus: parsedEdus };
}
