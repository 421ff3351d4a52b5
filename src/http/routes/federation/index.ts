// Federation endpoints that need no rooms: the server version, /.well-known/matrix/server (when configured), and
// the authenticated profile query. Every route registered inside `authenticated` passes X-Matrix request
// authentication first (src/federation/requestAuth.ts); the handler reads the origin with requestOrigin().
import type { FastifyInstance } from 'fastify';
import type { FederationServices } from '../../../federation/index.ts';
import { federationAuthPreHandler } from '../../../federation/requestAuth.ts';
import { isValidUserId } from '../../../protocol/identifiers.ts';
import { PostgresProfileStore } from '../../../storage/profiles.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, missingParam, notFound, unrecognized } from '../../errors.ts';
import { route } from '../../routes.ts';
import { TROUPE_VERSION } from '../admin/synapse.ts';
import { registerSendRoute } from './send.ts';
import { registerFederationServingRoutes } from './serving.ts';

/** Registers `register` inside a scope whose routes all require X-Matrix request authentication. */
export function authenticatedFederationRoutes(
  app: FastifyInstance,
  ctx: HttpContext,
  federation: FederationServices,
  register: (scope: FastifyInstance) => void,
): void {
  void app.register(async (scope) => {
    scope.addHook(
      'preHandler',
      federationAuthPreHandler({
        serverName: ctx.config.serverName,
        keys: federation.keyring,
        ...(ctx.config.federationDomainWhitelist ? { domainWhitelist: ctx.config.federationDomainWhitelist } : {}),
        remoteUp: federation.remoteUp,
        now: ctx.now,
      }),
    );
    register(scope);
  });
}

/** m.server for /.well-known/matrix/server: public_baseurl's host, with its port or 443. */
export function wellKnownServer(publicBaseurl: string): string {
  const url = new URL(publicBaseurl);
  return `${url.hostname}:${url.port || '443'}`;
}

export function registerFederationRoutes(app: FastifyInstance, ctx: HttpContext, federation: FederationServices): void {
  route(app, '/_matrix/federation/v1/version', {
    GET: async () => ({ server: { name: 'Troupe', version: TROUPE_VERSION } }),
  });

  route(app, '/.well-known/matrix/server', {
    GET: async () => {
      if (!ctx.config.serveServerWellknown) throw unrecognized('No .well-known/matrix/server is served here');
      return { 'm.server': wellKnownServer(ctx.config.publicBaseurl) };
    },
  });

  const profiles = new PostgresProfileStore(ctx.db);
  authenticatedFederationRoutes(app, ctx, federation, (scope) => {
    route(scope, '/_matrix/federation/v1/query/profile', {
      GET: async (request) => {
        const query = request.query as Record<string, unknown>;
        const userId = query['user_id'];
        const field = query['field'];
        if (userId === undefined) throw missingParam('user_id is required');
        if (typeof userId !== 'string' || !isValidUserId(userId)) throw invalidParam('user_id is not a valid user id');
        if (field !== undefined && typeof field !== 'string') throw invalidParam('field must be given once');
        if (!userId.endsWith(`:${ctx.config.serverName}`)) throw invalidParam('user_id is not a user of this server');
        const user = await ctx.users.getUser(userId);
        if (!user) throw notFound('Profile not found');
        if (field !== undefined) {
          const value = await profiles.getField(userId, field);
          return value === undefined ? {} : { [field]: value };
        }
        return profiles.getProfile(userId);
      },
    });
    registerSendRoute(scope, ctx);
    registerFederationServingRoutes(scope, ctx);
  });
}
