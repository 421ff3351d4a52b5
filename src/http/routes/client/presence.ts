// PUT and GET /presence/{userId}/status.
import type { FastifyInstance } from 'fastify';
import type { PresenceValue } from '../../../storage/presence.ts';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3 } from './rooms.ts';
import { userDataCall, userIdParam } from './userDataCall.ts';

const PRESENCE_BODY = {
  type: 'object',
  required: ['presence'],
  properties: {
    presence: { enum: ['online', 'offline', 'unavailable'] },
    status_msg: { type: 'string', maxLength: 1024 },
  },
} as const;

export function registerPresence(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/presence/:userId/status`, {
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const userId = userIdParam(request);
      const body = parseBody<{ presence: PresenceValue; status_msg?: string }>(PRESENCE_BODY, request.body);
      await userDataCall(() => ctx.userData.presence.set(requester.userId, userId, body.presence, body.status_msg));
      return {};
    },
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const userId = userIdParam(request);
      return userDataCall(() => ctx.userData.presence.get(requester.userId, userId));
    },
  });
}
