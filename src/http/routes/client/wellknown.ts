// GET /.well-known/matrix/client: where clients find this homeserver (public_baseurl).
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';

export function registerWellKnownClient(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/.well-known/matrix/client', {
    GET: async () => ({ 'm.homeserver': { base_url: ctx.config.publicBaseurl.replace(/\/+$/, '') } }),
  });
}
