// The published room directory: GET/POST /publicRooms and GET/PUT /directory/list/room/{roomId}.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isValidServerName } from '../../../protocol/identifiers.ts';
import { RoomDirectory, type PublicRoomsQuery } from '../../../rooms/directory.ts';
import { accessTokenOf } from '../../auth.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { PUBLIC_ROOMS_SCHEMA, publicRoomsQuery } from './publicRoomsQuery.ts';
import { CLIENT_V3, query, roomCall, roomIdParam } from './rooms.ts';

const VISIBILITY_SCHEMA = {
  type: 'object',
  properties: { visibility: { type: 'string', enum: ['public', 'private'] } },
} as const;

export function registerDirectory(app: FastifyInstance, ctx: HttpContext): void {
  const directory = new RoomDirectory({ db: ctx.db, aliases: ctx.rooms.aliases });

  /** `?server=`: only this server's directory can be listed (fetching another server's is not supported yet). */
  const checkServer = (request: FastifyRequest) => {
    const server = query(request)['server'];
    if (server === undefined) return;
    if (typeof server !== 'string' || !isValidServerName(server)) throw invalidParam('server is not a valid server name');
    if (server !== ctx.config.serverName) {
      throw new MatrixError(400, 'M_INVALID_PARAM', `Listing the room directory of ${server} is not supported by this server yet`);
    }
  };

  route(app, `${CLIENT_V3}/publicRooms`, {
    // The spec lets anyone read the directory; a token, when one is given, must still be valid.
    GET: async (request) => {
      if (accessTokenOf(request) !== undefined) await ctx.authenticate(request);
      checkServer(request);
      const out = publicRoomsQuery(query(request), false);
      return roomCall(() => directory.publicRooms(out));
    },
    POST: async (request) => {
      await ctx.authenticate(request);
      checkServer(request);
      const body = parseBody<PublicRoomsQuery>(PUBLIC_ROOMS_SCHEMA, request.body);
      return roomCall(() => directory.publicRooms(body));
    },
  });

  route(app, `${CLIENT_V3}/directory/list/room/:roomId`, {
    GET: async (request) => {
      const roomId = roomIdParam(request);
      return { visibility: await roomCall(() => directory.visibility(roomId)) };
    },
    PUT: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const body = parseBody<{ visibility?: 'public' | 'private' }>(VISIBILITY_SCHEMA, request.body);
      const user = await ctx.users.getUser(userId);
      await roomCall(() => directory.setVisibility(userId, roomId, body.visibility ?? 'public', user?.admin === true));
      return {};
    },
  });
}
