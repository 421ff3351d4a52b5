// PUT and GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} (the state key may be empty, with or
// without the trailing slash).
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import type { JsonObject } from '../../../protocol/json.ts';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, params, query, roomCall, roomIdParam } from './rooms.ts';
import { textParam } from './send.ts';
import { appserviceTs } from './appservice.ts';

const ANY_OBJECT = { type: 'object' } as const;

export function registerState(app: FastifyInstance, ctx: HttpContext): void {
  const put: RouteHandlerMethod = async (request) => {
    const requester = await ctx.authenticate(request);
    const roomId = roomIdParam(request);
    const type = textParam(params(request)['eventType'], 'eventType');
    const stateKey = params(request)['stateKey'] ?? '';
    const content = parseBody<JsonObject>(ANY_OBJECT, request.body);
    const ts = appserviceTs(request, requester);
    return roomCall(async () => ({ event_id: await ctx.rooms.sendState(requester, roomId, type, stateKey, content, ts) }));
  };
  const get: RouteHandlerMethod = async (request) => {
    const requester = await ctx.authenticate(request);
    const roomId = roomIdParam(request);
    const type = textParam(params(request)['eventType'], 'eventType');
    const stateKey = params(request)['stateKey'] ?? '';
    const format = query(request)['format'];
    return roomCall(async () => {
      const event = await ctx.rooms.stateEvent(requester.userId, roomId, type, stateKey);
      if (format === 'event') {
        const version = (await ctx.rooms.readableState(requester.userId, roomId)).version;
        const [formatted] = await ctx.rooms.format(requester, version, [event]);
        return formatted;
      }
      return event.pdu['content'] ?? {};
    });
  };
  route(app, `${CLIENT_V3}/rooms/:roomId/state/:eventType`, { GET: get, PUT: put });
  route(app, `${CLIENT_V3}/rooms/:roomId/state/:eventType/`, { GET: get, PUT: put });
  route(app, `${CLIENT_V3}/rooms/:roomId/state/:eventType/:stateKey`, { GET: get, PUT: put });
}
