// GET /_matrix/client/versions: only the spec versions whose Client-Server API Troupe really implements.
import type { FastifyInstance } from 'fastify';
import { route } from '../../routes.ts';

/** Grows as the Client-Server API issues land; the foundation implements no client API yet. */
export const SPEC_VERSIONS: readonly string[] = [];

export function registerVersions(app: FastifyInstance): void {
  route(app, '/_matrix/client/versions', {
    GET: async () => ({ versions: SPEC_VERSIONS, unstable_features: {} }),
  });
}
