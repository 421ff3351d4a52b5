// The published room directory's request, read the same way for the Client-Server and the federation
// /publicRooms: the POST body's schema and the GET query string.
import type { PublicRoomsQuery } from '../../../rooms/directory.ts';
import { invalidParam } from '../../errors.ts';

export const PUBLIC_ROOMS_SCHEMA = {
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

/**
 * The GET query string's limit and since; with `networks`, also include_all_networks and third_party_instance_id,
 * which only the federation GET takes. A malformed or repeated parameter is 400 M_INVALID_PARAM.
 */
export function publicRoomsQuery(q: Record<string, unknown>, networks: boolean): PublicRoomsQuery {
  const out: PublicRoomsQuery = {};
  const limit = q['limit'];
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !/^[0-9]{1,9}$/.test(limit)) throw invalidParam('limit must be a non-negative integer');
    out.limit = Number(limit);
  }
  for (const name of networks ? (['since', 'third_party_instance_id'] as const) : (['since'] as const)) {
    const value = q[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw invalidParam(`${name} must be given once`);
    out[name] = value;
  }
  const all = networks ? q['include_all_networks'] : undefined;
  if (all !== undefined) {
    if (all !== 'true' && all !== 'false') throw invalidParam('include_all_networks must be true or false');
    out.include_all_networks = all === 'true';
  }
  return out;
}
