// POST /_matrix/client/v3/user/{userId}/filter and GET /user/{userId}/filter/{filterId}: a user's stored filters.
// Also how /sync reads its `filter` parameter: inline JSON (starting with `{`) or a stored filter's id.
import type { FastifyInstance } from 'fastify';
import { canonicalJsonProblem } from '../../../protocol/canonicalJson.ts';
import type { JsonObject } from '../../../protocol/json.ts';
import { PostgresFilterStore, type FilterStore } from '../../../storage/filters.ts';
import { InvalidFilterError, parseFilter, type Filter } from '../../../sync/filter.ts';
import { keyOf } from '../../../sync/batch.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, badJson, forbidden, notFound, notJson } from '../../errors.ts';
import { route } from '../../routes.ts';
import { CLIENT_V3, params } from './rooms.ts';

function checkedFilter(value: unknown): Filter {
  // Stored as canonical JSON (any finite number allowed): a lone surrogate could not be.
  const problem = canonicalJsonProblem(value, { strict: false });
  if (problem !== undefined) throw badJson(`filter: ${problem}`);
  try {
    return parseFilter(value);
  } catch (error) {
    if (error instanceof InvalidFilterError) throw badJson(error.message);
    throw error;
  }
}

/** How many filters of each kind a FilterResolver keeps parsed (the oldest are forgotten first). */
const CACHED_FILTERS = 10_000;

/**
 * The filter named by /sync's `filter` parameter: inline JSON (400 M_NOT_JSON when it does not parse, M_BAD_JSON when
 * it is not a Filter) or the id of one of the user's filters (404 M_NOT_FOUND when there is none). A client sends the
 * same filter with every long poll, so filters are kept parsed: stored ones never change (there is no API to change
 * one), and an inline one is its text. The Filter objects handed out are shared and must not be modified.
 */
export class FilterResolver {
  private readonly store: FilterStore;
  private readonly inline = new Map<string, Filter>();
  private readonly stored = new Map<string, Filter>();

  constructor(store: FilterStore) {
    this.store = store;
  }

  async resolve(userId: string, value: unknown): Promise<Filter> {
    if (value === undefined || value === '') return {};
    if (typeof value !== 'string') throw new MatrixError(400, 'M_INVALID_PARAM', 'filter must be given once');
    if (value.startsWith('{')) {
      const known = this.inline.get(value);
      if (known) return known;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        throw notJson('filter is not valid JSON');
      }
      return remember(this.inline, value, checkedFilter(parsed));
    }
    const key = keyOf(userId, value);
    const known = this.stored.get(key);
    if (known) return known;
    const filter = await this.store.getFilter(userId, value);
    if (!filter) throw notFound(`No filter ${value}`);
    return remember(this.stored, key, filter as Filter);
  }
}

function remember(cache: Map<string, Filter>, key: string, filter: Filter): Filter {
  if (cache.size >= CACHED_FILTERS) cache.delete(cache.keys().next().value as string);
  cache.set(key, filter);
  return filter;
}

export function registerFilters(app: FastifyInstance, ctx: HttpContext): void {
  const filters = new PostgresFilterStore(ctx.db);

  route(app, `${CLIENT_V3}/user/:userId/filter`, {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const { userId } = params(request);
      if (requester.userId !== userId) throw forbidden('Cannot create filters for other users');
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw notJson('Request body is not a JSON object');
      const filter = checkedFilter(body);
      return { filter_id: await filters.addFilter(userId, filter as JsonObject) };
    },
  });

  route(app, `${CLIENT_V3}/user/:userId/filter/:filterId`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const { userId, filterId } = params(request);
      if (requester.userId !== userId) throw forbidden('Cannot get filters for other users');
      const filter = await filters.getFilter(userId, filterId ?? '');
      if (!filter) throw notFound('No such filter');
      return filter;
    },
  });
}
