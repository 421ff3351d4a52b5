// Account data: GET/PUT /user/{userId}/account_data/{type} and /user/{userId}/rooms/{roomId}/account_data/{type}.
// Types the server controls cannot be set here: m.push_rules (the push rules API) and m.fully_read (read markers).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { JsonObject } from '../../../protocol/json.ts';
import { GLOBAL } from '../../../storage/accountData.ts';
import { pushRulesContent } from '../../../pushRules/userRules.ts';
import { FULLY_READ } from '../../../userData/accountData.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, forbidden, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, params, roomIdParam } from './rooms.ts';
import { textParam } from './send.ts';
import { userDataCall, userIdParam } from './userDataCall.ts';

const ANY_OBJECT = { type: 'object' } as const;

const serverControlled = (type: string) =>
  new MatrixError(405, 'M_BAD_JSON', `Cannot set ${type} through this API`);

/** The path's user, which must be the requester's own. */
export async function ownUser(ctx: HttpContext, request: FastifyRequest, verb: string): Promise<string> {
  const requester = await ctx.authenticate(request);
  const userId = userIdParam(request);
  if (userId !== requester.userId) throw forbidden(`Cannot ${verb} account data for other users.`);
  return userId;
}

export function registerAccountData(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/user/:userId/account_data/:type`, {
    PUT: async (request) => {
      const userId = await ownUser(ctx, request, 'add');
      const type = textParam(params(request)['type'], 'type');
      if (type === 'm.push_rules') throw serverControlled(type);
      const content = parseBody<JsonObject>(ANY_OBJECT, request.body);
      await userDataCall(() => ctx.userData.accountData.set(userId, GLOBAL, type, content));
      return {};
    },
    GET: async (request) => {
      const userId = await ownUser(ctx, request, 'get');
      const type = textParam(params(request)['type'], 'type');
      // The push rules are account data the server keeps (as in /sync's global account data).
      if (type === 'm.push_rules') return pushRulesContent(await ctx.userData.pushRules.ruleset(userId));
      const content = await ctx.userData.accountData.get(userId, GLOBAL, type);
      if (!content) throw notFound('Account data not found');
      return content;
    },
  });

  route(app, `${CLIENT_V3}/user/:userId/rooms/:roomId/account_data/:type`, {
    PUT: async (request) => {
      const userId = await ownUser(ctx, request, 'add');
      const roomId = roomIdParam(request);
      const type = textParam(params(request)['type'], 'type');
      if (type === FULLY_READ) throw serverControlled(type);
      const content = parseBody<JsonObject>(ANY_OBJECT, request.body);
      await userDataCall(() => ctx.userData.accountData.set(userId, roomId, type, content));
      return {};
    },
    GET: async (request) => {
      const userId = await ownUser(ctx, request, 'get');
      const roomId = roomIdParam(request);
      const type = textParam(params(request)['type'], 'type');
      const content = await ctx.userData.accountData.get(userId, roomId, type);
      if (!content) throw notFound('Room account data not found');
      return content;
    },
  });
}
