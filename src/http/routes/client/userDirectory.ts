// POST /_matrix/client/v3/user_directory/search
import type { FastifyInstance } from 'fastify';
import { unstorableText } from '../../../storage/text.ts';
import { DEFAULT_SEARCH_LIMIT, UserDirectory } from '../../../userDirectory/search.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3 } from './rooms.ts';

const SEARCH_SCHEMA = {
  type: 'object',
  properties: {
    search_term: { type: 'string' },
    limit: { type: 'integer' },
  },
  required: ['search_term'],
} as const;

export function registerUserDirectory(app: FastifyInstance, ctx: HttpContext): void {
  const directory = new UserDirectory(ctx.db);
  route(app, `${CLIENT_V3}/user_directory/search`, {
    POST: async (request) => {
      const { userId } = await ctx.authenticate(request);
      const body = parseBody<{ search_term: string; limit?: number }>(SEARCH_SCHEMA, request.body);
      if (unstorableText(body.search_term) !== null) throw invalidParam('search_term may not contain NUL or unpaired surrogates');
      const limit = body.limit ?? DEFAULT_SEARCH_LIMIT;
      if (limit < 0) throw invalidParam('limit must not be negative');
      return directory.search(userId, body.search_term, limit);
    },
  });
}
