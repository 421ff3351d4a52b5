// Key endpoints (Server-Server API "Retrieving server keys"): our own keys, and the notary endpoints that hand on
// other servers' self-signed key documents with our signature added. None of them is authenticated.
import type { FastifyInstance } from 'fastify';
import type { FederationServices } from '../../../federation/index.ts';
import { isValidServerName } from '../../../protocol/identifiers.ts';
import type { JsonObject } from '../../../protocol/json.ts';
import { isJsonObject } from '../../../protocol/json.ts';
import { signJson } from '../../../protocol/signing.ts';
import type { HttpContext } from '../../context.ts';
import { badJson, invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';

/** At most this many servers per POST /query: each may cost a fetch. */
const MAX_SERVERS_PER_QUERY = 100;

function timestampParam(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^[0-9]{1,16}$/.test(value)) throw invalidParam('minimum_valid_until_ts must be an integer');
  return Number(value);
}

export function registerKeyRoutes(app: FastifyInstance, ctx: HttpContext, federation: FederationServices): void {
  const { keyring } = federation;
  const serverName = ctx.config.serverName;
  const cosign = (document: JsonObject) => signJson(document, serverName, ctx.signingKey);

  route(app, '/_matrix/key/v2/server', {
    GET: async () => keyring.ownKeys(),
  });

  route(app, '/_matrix/key/v2/query/:serverName', {
    GET: async (request) => {
      const { serverName: queried } = request.params as { serverName: string };
      if (!isValidServerName(queried)) throw invalidParam('Invalid server name');
      const minimum = timestampParam((request.query as Record<string, unknown>)['minimum_valid_until_ts'], ctx.now());
      return { server_keys: (await keyring.keyResponses(queried, minimum)).map(cosign) };
    },
  });

  route(app, '/_matrix/key/v2/query', {
    POST: async (request) => {
      const body = request.body;
      if (!isJsonObject(body) || !isJsonObject(body['server_keys'])) throw badJson('server_keys: must be an object');
      const entries = Object.entries(body['server_keys']);
      if (entries.length > MAX_SERVERS_PER_QUERY) throw badJson(`server_keys: at most ${MAX_SERVERS_PER_QUERY} servers per query`);
      const now = ctx.now();
      const answers = await Promise.all(
        entries.map(async ([queried, criteria]) => {
          // Unknown or malformed servers are left out, as for servers that cannot be reached.
          if (!isValidServerName(queried) || !isJsonObject(criteria)) return [];
          // Each key id's minimum defaults to now; the loosest one decides which responses qualify.
          const keyIds: string[] = [];
          const minimums: number[] = [];
          for (const [keyId, c] of Object.entries(criteria)) {
            keyIds.push(keyId);
            const ts = isJsonObject(c) ? c['minimum_valid_until_ts'] : undefined;
            minimums.push(typeof ts === 'number' && Number.isSafeInteger(ts) ? ts : now);
          }
          const minimum = minimums.length > 0 ? Math.min(...minimums) : now;
          return keyring.keyResponses(queried, minimum, keyIds.filter((id) => /^ed25519:[A-Za-z0-9_]+$/.test(id)));
        }),
      );
      return { server_keys: answers.flat().map(cosign) };
    },
  });
}
