// POST /_matrix/client/v3/createRoom
import type { FastifyInstance } from 'fastify';
import type { CreateRoomRequest } from '../../../rooms/service.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, roomCall } from './rooms.ts';
import { refuseExclusiveAlias } from './appservice.ts';

const CREATE_ROOM_SCHEMA = {
  type: 'object',
  properties: {
    visibility: { type: 'string', enum: ['public', 'private'] },
    room_alias_name: { type: 'string' },
    name: { type: 'string' },
    topic: { type: 'string' },
    invite: { type: 'array', items: { type: 'string' } },
    invite_3pid: { type: 'array' },
    room_version: { type: 'string' },
    creation_content: { type: 'object' },
    initial_state: {
      type: 'array',
      items: {
        type: 'object',
        properties: { type: { type: 'string' }, state_key: { type: 'string' }, content: { type: 'object' } },
        required: ['type', 'content'],
      },
    },
    preset: { type: 'string', enum: ['private_chat', 'public_chat', 'trusted_private_chat'] },
    is_direct: { type: 'boolean' },
    power_level_content_override: { type: 'object' },
  },
} as const;

export function registerCreateRoom(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/createRoom`, {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const { userId } = requester;
      const body = parseBody<CreateRoomRequest & { invite_3pid?: unknown[] }>(CREATE_ROOM_SCHEMA, request.body === undefined ? {} : request.body);
      if (typeof body.room_alias_name === 'string') {
        refuseExclusiveAlias(ctx, requester, `#${body.room_alias_name}:${ctx.config.serverName}`);
      }
      if (body.invite_3pid !== undefined && body.invite_3pid.length > 0) {
        throw new MatrixError(400, 'M_UNRECOGNIZED', 'invite_3pid is not supported by this server yet');
      }
      return roomCall(async () => ({ room_id: await ctx.rooms.createRoom(userId, body) }));
    },
  });
}
