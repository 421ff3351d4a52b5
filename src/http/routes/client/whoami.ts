// GET /_matrix/client/v3/account/whoami
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';

export function registerWhoami(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/account/whoami', {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      // An application service's token has no device.
      if (requester.appservice) return { user_id: requester.userId, is_guest: false };
      return { user_id: requester.userId, device_id: requester.deviceId, is_guest: false };
    },
  });
}
