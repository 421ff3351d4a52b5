// Federation directory queries: /query/directory (a local alias to its room and resident servers) and the published
// room directory (GET and POST /publicRooms), answered from the same code as the Client-Server endpoints.
import type { FastifyInstance } from 'fastify';
import { parseRoomAlias } from '../../../protocol/identifiers.ts';
import { RoomDirectory, type PublicRoomsQuery } from '../../../rooms/directory.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, missingParam, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { PUBLIC_ROOMS_SCHEMA, publicRoomsQuery } from '../client/publicRoomsQuery.ts';
import { query, roomCall } from '../client/rooms.ts';
import { FEDERATION_V1 } from './events.ts';

export function registerFederationDirectoryRoutes(scope: FastifyInstance, ctx: HttpContext): void {
  const directory = new RoomDirectory({ db: ctx.db, aliases: ctx.rooms.aliases });

  route(scope, `${FEDERATION_V1}/query/directory`, {
    GET: async (request) => {
      const alias = query(request)['room_alias'];
      if (alias === undefined) throw missingParam('room_alias is required');
      if (typeof alias !== 'string' || !parseRoomAlias(alias).ok) throw invalidParam('room_alias is not a valid room alias');
      if (!alias.endsWith(`:${ctx.config.serverName}`)) throw notFound(`Room alias ${alias} is not an alias of this server`);
      const resolved = await roomCall(() => ctx.rooms.aliases.resolve(alias));
      return { room_id: resolved.roomId, servers: resolved.servers };
    },
  });

  route(scope, `${FEDERATION_V1}/publicRooms`, {
    GET: async (request) => {
      const out = publicRoomsQuery(query(request), true);
      return roomCall(() => directory.publicRooms(out));
    },
    POST: async (request) => {
      const body = parseBody<PublicRoomsQuery>(PUBLIC_ROOMS_SCHEMA, request.body);
      return roomCall(() => directory.publicRooms(body));
    },
  });
}
