// Membership: POST /join/{roomIdOrAlias}, /knock/{roomIdOrAlias}, /rooms/{roomId}/join, invite, leave, kick, ban, unban,
// forget.
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { MatrixError } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { roomAliasParam } from './aliases.ts';
import { resolveAlias, userExistsPerAppservice } from './appservice.ts';
import { CLIENT_V3, params, roomCall, roomIdParam } from './rooms.ts';

const REASON_SCHEMA = { type: 'object', properties: { reason: { type: 'string' } } } as const;
const TARGET_SCHEMA = {
  type: 'object',
  properties: { user_id: { type: 'string' }, reason: { type: 'string' } },
  required: ['user_id'],
} as const;

type Target = { user_id: string; reason?: string };

export function registerMembership(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/rooms/:roomId/join`, {
    POST: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const body = parseBody<{ reason?: string }>(REASON_SCHEMA, request.body === undefined ? {} : request.body);
      await roomCall(() => ctx.rooms.join(userId, roomId, body.reason));
      return { room_id: roomId };
    },
  });

  // Joining or knocking by room id or by a local alias.
  const byIdOrAlias = (action: 'join' | 'knock') =>
    route(app, `${CLIENT_V3}/${action}/:roomIdOrAlias`, {
      POST: async (request) => {
        const { userId } = await ctx.authenticate(request);
        const target = params(request)['roomIdOrAlias'] ?? '';
        const roomId = target.startsWith('#')
          ? (await roomCall(() => resolveAlias(ctx, roomAliasParam(request, ctx, 'roomIdOrAlias')))).roomId
          : roomIdParam(request, 'roomIdOrAlias');
        const body = parseBody<{ reason?: string }>(REASON_SCHEMA, request.body === undefined ? {} : request.body);
        await roomCall(() => ctx.rooms[action](userId, roomId, body.reason));
        return { room_id: roomId };
      },
    });
  byIdOrAlias('join');
  byIdOrAlias('knock');

  const withTarget = (action: 'invite' | 'kick' | 'ban' | 'unban') =>
    route(app, `${CLIENT_V3}/rooms/:roomId/${action}`, {
      POST: async (request) => {
        const { userId } = await ctx.authenticate(request);
        const roomId = roomIdParam(request);
        const body = parseBody<Target>(TARGET_SCHEMA, request.body);
        // An unknown user of an application service's namespace: the service may create them first.
        if (action === 'invite' && !(await ctx.users.getUser(body.user_id))) await userExistsPerAppservice(ctx, body.user_id);
        await roomCall(() => ctx.rooms[action](userId, roomId, body.user_id, body.reason));
        return {};
      },
    });
  withTarget('invite');
  withTarget('kick');
  withTarget('ban');
  withTarget('unban');

  route(app, `${CLIENT_V3}/rooms/:roomId/leave`, {
    POST: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const body = parseBody<{ reason?: string }>(REASON_SCHEMA, request.body === undefined ? {} : request.body);
      await roomCall(() => ctx.rooms.leave(userId, roomId, body.reason));
      return {};
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/forget`, {
    POST: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      if (request.body !== undefined && (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body))) {
        throw new MatrixError(400, 'M_NOT_JSON', 'Request body is not a JSON object');
      }
      await roomCall(() => ctx.rooms.forget(userId, roomId));
      return {};
    },
  });
}
