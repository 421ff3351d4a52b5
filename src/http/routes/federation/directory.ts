// Federation directory queries: /query/directory (a local alias to its room and resident servers) and the published
// room directory (GET and POST /publicRooms), answered from the same code as the Client-Server endpoints.
import type { FastifyInstance } from 'fastify';
import { parseRoomAlias } from '../../../protocol/identifiers.ts';
import { RoomDirectory, type PublicRoomsQuery } from '../../../rooms/directory.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, missingParam, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { query, roomCall } from '../client/rooms.ts';
import { FEDERATION_V1 } from './events.ts';

const PUBLIC_ROOMS_SCHEMA = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 0 },
    since: { type: 'string' },
    filter: {
      type: 'object',
      properties: {
        generic_search_term: { type: 'string' },
        room_types: { type: 'array', items: { type: ['string', 'null'] } },
      },
    },
    include_all_networks: { type: 'boolean' },
    third_party_instance_id: { type: 'string' },
  },
} as const;

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
      const q = query(request);
      const out: PublicRoomsQuery = {};
      const limit = q['limit'];
      if (limit !== undefined) {
        if (typeof limit !== 'string' || !/^[0-9]{1,9}$/.test(limit)) throw invalidParam('limit must be a non-negative integer');
        out.limit = Number(limit);
      }
      for (const name of ['since', 'third_party_instance_id'] as const) {
        const value = q[name];
        if (value === undefined) continue;
        if (typeof value !== 'string') throw invalidParam(`${name} must be given once`);
        out[name] = value;
      }
      const all = q['include_all_networks'];
      if (all !== undefined) {
        if (all !== 'true' && all !== 'false') throw invalidParam('include_all_networks must be true or false');
        out.include_all_networks = all === 'true';
      }
      return roomCall(() => directory.publicRooms(out));
    },
    POST: async (request) => {
      const body = parseBody<PublicRoomsQuery>(PUBLIC_ROOMS_SCHEMA, request.body);
      return roomCall(() => directory.publicRooms(body));
    },
  });
}
