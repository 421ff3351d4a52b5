// PUT /rooms/{roomId}/typing/{userId}.
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, roomIdParam } from './rooms.ts';
import { userDataCall, userIdParam } from './userDataCall.ts';

const TYPING_BODY = {
  type: 'object',
  required: ['typing'],
  properties: { typing: { type: 'boolean' }, timeout: { type: 'integer', minimum: 0 } },
} as const;

export function registerTyping(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/rooms/:roomId/typing/:userId`, {
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const userId = userIdParam(request);
      const body = parseBody<{ typing: boolean; timeout?: number }>(TYPING_BODY, request.body);
      await userDataCall(() => ctx.userData.typing.set(requester.userId, userId, roomId, body.typing, body.timeout));
      return {};
    },
  });
}
