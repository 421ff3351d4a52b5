// PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId} and PUT /rooms/{roomId}/redact/{eventId}/{txnId}.
// The same txnId from the same device gives back the same event id.
import type { FastifyInstance } from 'fastify';
import type { JsonObject } from '../../../protocol/json.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, eventIdParam, params, roomCall, roomIdParam } from './rooms.ts';
import { appserviceTs } from './appservice.ts';

const ANY_OBJECT = { type: 'object' } as const;
const REDACT_SCHEMA = { type: 'object', properties: { reason: { type: 'string' } } } as const;

/** A path segment the spec leaves free-form but that must fit in an event (type) or a table row (txn id). */
export function textParam(value: string | undefined, name: string): string {
  if (value === undefined || value === '' || Buffer.byteLength(value) > 255) throw invalidParam(`${name} must be 1 to 255 bytes`);
  return value;
}

export function registerSend(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/rooms/:roomId/send/:eventType/:txnId`, {
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const type = textParam(params(request)['eventType'], 'eventType');
      const txnId = textParam(params(request)['txnId'], 'txnId');
      const content = parseBody<JsonObject>(ANY_OBJECT, request.body);
      const ts = appserviceTs(request, requester);
      return roomCall(async () => ({ event_id: await ctx.rooms.send(requester, roomId, type, content, txnId, ts) }));
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/redact/:eventId/:txnId`, {
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const eventId = eventIdParam(request);
      const txnId = textParam(params(request)['txnId'], 'txnId');
      const body = parseBody<{ reason?: string }>(REDACT_SCHEMA, request.body === undefined ? {} : request.body);
      return roomCall(async () => ({ event_id: await ctx.rooms.redact(requester, roomId, eventId, txnId, body.reason) }));
    },
  });
}
