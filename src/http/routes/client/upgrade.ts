// POST /_matrix/client/v3/rooms/{roomId}/upgrade
import type { FastifyInstance } from 'fastify';
import { upgradeRoom } from '../../../rooms/upgrade.ts';
import { unstorableText } from '../../../storage/text.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, roomCall, roomIdParam } from './rooms.ts';

const UPGRADE_SCHEMA = {
  type: 'object',
  properties: {
    new_version: { type: 'string' },
    additional_creators: { type: 'array', items: { type: 'string' } },
  },
  required: ['new_version'],
} as const;

export function registerRoomUpgrade(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/rooms/:roomId/upgrade`, {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const body = parseBody<{ new_version: string; additional_creators?: string[] }>(UPGRADE_SCHEMA, request.body);
      const bad = unstorableText(body);
      if (bad !== null) throw invalidParam(`${bad} may not contain NUL or unpaired surrogates`);
      const replacement = await roomCall(() =>
        upgradeRoom({ rooms: ctx.rooms, db: ctx.db, logger: ctx.logger }, requester, roomId, {
          newVersion: body.new_version,
          ...(body.additional_creators !== undefined ? { additionalCreators: body.additional_creators } : {}),
        }),
      );
      return { replacement_room: replacement };
    },
  });
}
