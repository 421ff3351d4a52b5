// POST /rooms/{roomId}/receipt/{receiptType}/{eventId} and POST /rooms/{roomId}/read_markers.
import type { FastifyInstance } from 'fastify';
import { isValidEventId } from '../../../protocol/identifiers.ts';
import { RECEIPT_TYPES, type ReceiptType } from '../../../userData/receipts.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, eventIdParam, params, roomIdParam } from './rooms.ts';
import { userDataCall } from './userDataCall.ts';

const RECEIPT_BODY = { type: 'object' } as const;
const MARKERS_BODY = {
  type: 'object',
  properties: Object.fromEntries(RECEIPT_TYPES.map((t) => [t, { type: 'string' }])),
} as const;

const isReceiptType = (value: string): value is ReceiptType => (RECEIPT_TYPES as readonly string[]).includes(value);

export function registerReceipts(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/rooms/:roomId/receipt/:receiptType/:eventId`, {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const receiptType = params(request)['receiptType'] ?? '';
      if (!isReceiptType(receiptType)) throw invalidParam(`Receipt type must be one of ${RECEIPT_TYPES.join(', ')}`);
      const eventId = eventIdParam(request);
      // An absent body is taken as {} (older clients send none); JSON that is not an object is refused.
      const body = parseBody<{ thread_id?: unknown }>(RECEIPT_BODY, request.body === undefined ? {} : request.body);
      const threadId = body.thread_id;
      if (threadId !== undefined && (typeof threadId !== 'string' || threadId === '')) {
        throw invalidParam('thread_id field must be a non-empty string');
      }
      await userDataCall(() => ctx.userData.receipts.send(requester.userId, roomId, receiptType, eventId, threadId));
      return {};
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/read_markers`, {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const body = parseBody<Partial<Record<ReceiptType, string>>>(MARKERS_BODY, request.body);
      const markers: Partial<Record<ReceiptType, string>> = {};
      for (const type of RECEIPT_TYPES) {
        const eventId = body[type];
        if (eventId === undefined) continue;
        if (!isValidEventId(eventId)) throw invalidParam(`${type}: ${eventId} is not a valid event id`);
        markers[type] = eventId;
      }
      await userDataCall(() => ctx.userData.receipts.setMarkers(requester.userId, roomId, markers));
      return {};
    },
  });
}
