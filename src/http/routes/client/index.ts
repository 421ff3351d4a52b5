// The Client-Server API, registered area by area.
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { registerVersions } from './versions.ts';
import { registerWhoami } from './whoami.ts';

export function registerClientRoutes(app: FastifyInstance, ctx: HttpContext): void {
  registerVersions(app);
  registerWhoami(app, ctx);
}
