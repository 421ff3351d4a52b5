// Room tags: GET /user/{userId}/rooms/{roomId}/tags, PUT and DELETE /tags/{tag}; stored as the room account data
// m.tag ({ tags: { name: { order } } }), so they reach /sync like any room account data.
import type { FastifyInstance } from 'fastify';
import { isJsonObject, type JsonObject } from '../../../protocol/json.ts';
import { TAGS } from '../../../userData/accountData.ts';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { ownUser } from './accountData.ts';
import { CLIENT_V3, params, roomIdParam } from './rooms.ts';
import { textParam } from './send.ts';

const TAG_SCHEMA = { type: 'object', properties: { order: { type: 'number' } } } as const;

function tagsOf(content: JsonObject | null): JsonObject {
  const tags = content?.['tags'];
  return isJsonObject(tags) ? tags : {};
}

export function registerTags(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/user/:userId/rooms/:roomId/tags`, {
    GET: async (request) => {
      const userId = await ownUser(ctx, request, 'get');
      const roomId = roomIdParam(request);
      return { tags: tagsOf(await ctx.userData.accountData.get(userId, roomId, TAGS)) };
    },
  });

  route(app, `${CLIENT_V3}/user/:userId/rooms/:roomId/tags/:tag`, {
    PUT: async (request) => {
      const userId = await ownUser(ctx, request, 'add');
      const roomId = roomIdParam(request);
      const tag = textParam(params(request)['tag'], 'tag');
      const body = parseBody<JsonObject>(TAG_SCHEMA, request.body);
      await ctx.userData.accountData.update(userId, roomId, TAGS, (current) => ({ ...current, tags: { ...tagsOf(current), [tag]: body } }));
      return {};
    },
    DELETE: async (request) => {
      const userId = await ownUser(ctx, request, 'delete');
      const roomId = roomIdParam(request);
      const tag = textParam(params(request)['tag'], 'tag');
      // Deleting a tag that is not there succeeds and changes nothing.
      await ctx.userData.accountData.update(userId, roomId, TAGS, (current) => {
        const tags = tagsOf(current);
        if (!(tag in tags)) return null;
        const { [tag]: _removed, ...rest } = tags;
        return { ...current, tags: rest };
      });
      return {};
    },
  });
}
