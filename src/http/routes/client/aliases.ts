// Room aliases: PUT/GET/DELETE /directory/room/{roomAlias} and GET /rooms/{roomId}/aliases.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isJsonObject, type JsonObject } from '../../../protocol/json.ts';
import { RoomError } from '../../../rooms/errors.ts';
import { isRoomId } from '../../../rooms/service.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, params, roomCall, roomIdParam } from './rooms.ts';
import { refuseExclusiveAlias, resolveAlias } from './appservice.ts';

const SET_ALIAS_SCHEMA = {
  type: 'object',
  properties: { room_id: { type: 'string' } },
  required: ['room_id'],
} as const;

/** The {roomAlias} path parameter, syntactically valid (any server), or 400 M_INVALID_PARAM. */
export function roomAliasParam(request: FastifyRequest, ctx: HttpContext, name = 'roomAlias'): string {
  const alias = params(request)[name] ?? '';
  try {
    ctx.rooms.aliases.parseAlias(alias);
  } catch (error) {
    if (error instanceof RoomError) throw new MatrixError(error.status, error.errcode, error.message);
    throw error;
  }
  return alias;
}

export function registerAliases(app: FastifyInstance, ctx: HttpContext): void {
  const aliases = ctx.rooms.aliases;

  route(app, `${CLIENT_V3}/directory/room/:roomAlias`, {
    GET: async (request) => {
      const alias = roomAliasParam(request, ctx);
      const resolved = await roomCall(() => resolveAlias(ctx, alias));
      return { room_id: resolved.roomId, servers: resolved.servers };
    },
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const { userId } = requester;
      const alias = roomAliasParam(request, ctx);
      const body = parseBody<{ room_id: string }>(SET_ALIAS_SCHEMA, request.body);
      if (!isRoomId(body.room_id)) {
        throw invalidParam(`room_id: ${body.room_id} is not a valid room id`);
      }
      refuseExclusiveAlias(ctx, requester, alias);
      await roomCall(() => aliases.create(userId, aliases.parseLocalAlias(alias), body.room_id));
      ctx.appservices?.roomAliasesChanged(body.room_id);
      return {};
    },
    DELETE: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const alias = roomAliasParam(request, ctx);
      const user = await ctx.users.getUser(userId);
      const roomId = await roomCall(() => aliases.delete(userId, alias, user?.admin === true));
      ctx.appservices?.roomAliasesChanged(roomId);
      await dropFromCanonicalAlias(ctx, userId, roomId, alias);
      return {};
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/aliases`, {
    GET: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      return { aliases: await roomCall(() => aliases.localAliases(userId, roomId)) };
    },
  });
}

/**
 * After an alias is deleted, the room's m.room.canonical_alias stops advertising it, sent as the deleter. The spec
 * makes this optional and asks that the deletion succeed even when the deleter may not change that event, so a
 * refusal here is ignored.
 */
async function dropFromCanonicalAlias(ctx: HttpContext, userId: string, roomId: string, alias: string): Promise<void> {
  const current = await ctx.rooms.events.currentStateEvent(roomId, 'm.room.canonical_alias', '');
  const content = current && current.redactedBy === null && isJsonObject(current.pdu['content']) ? current.pdu['content'] : null;
  if (!content) return;
  const alt = Array.isArray(content['alt_aliases']) ? content['alt_aliases'] : undefined;
  if (content['alias'] !== alias && !alt?.includes(alias)) return;
  const next: JsonObject = { ...content };
  if (next['alias'] === alias) delete next['alias'];
  if (alt) next['alt_aliases'] = alt.filter((a) => a !== alias);
  const member = await ctx.rooms.events.localMembership(userId, roomId);
  if (member?.membership !== 'join') return;
  try {
    await ctx.rooms.sendState({ userId, deviceId: '' }, roomId, 'm.room.canonical_alias', '', next);
  } catch (error) {
    ctx.logger.debug({ err: error, roomId }, 'canonical alias not updated after alias deletion');
  }
}
