// GET /_matrix/client/versions: only the spec versions whose Client-Server API Troupe really implements.
import type { FastifyInstance } from 'fastify';
import { route } from '../../routes.ts';

/**
 * Accounts, rooms, messages, /sync with filters and the per-user streams are in (issues #5, #6); the push rules, end-to-end
 * key and media modules are not yet. Clients (matrix-js-sdk) key features off these: v1.1 is the minimum they accept.
 */
export const SPEC_VERSIONS: readonly string[] = [
  'r0.0.1',
  'r0.1.0',
  'r0.2.0',
  'r0.3.0',
  'r0.4.0',
  'r0.5.0',
  'r0.6.0',
  'r0.6.1',
  'v1.1',
  'v1.2',
  'v1.3',
  'v1.4',
  'v1.5',
  'v1.6',
  'v1.7',
  'v1.8',
  'v1.9',
  'v1.10',
  'v1.11',
  'v1.12',
];

export function registerVersions(app: FastifyInstance): void {
  route(app, '/_matrix/client/versions', {
    GET: async () => ({ versions: SPEC_VERSIONS, unstable_features: {} }),
  });
}
