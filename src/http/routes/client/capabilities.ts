// GET /_matrix/client/v3/capabilities.
import type { FastifyInstance } from 'fastify';
import { ROOM_VERSIONS } from '../../../protocol/roomVersions.ts';
import { DEFAULT_ROOM_VERSION } from '../../../rooms/service.ts';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';

export function registerCapabilities(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/capabilities', {
    GET: async (request) => {
      await ctx.authenticate(request);
      const available = Object.fromEntries([...ROOM_VERSIONS.values()].map((v) => [v.id, v.stable ? 'stable' : 'unstable']));
      return {
        capabilities: {
          'm.change_password': { enabled: true },
          // The version /createRoom uses when none is asked for.
          'm.room_versions': { default: DEFAULT_ROOM_VERSION, available },
          'm.set_displayname': { enabled: true },
          'm.set_avatar_url': { enabled: true },
          'm.3pid_changes': { enabled: false },
          'm.get_login_token': { enabled: false },
          'm.profile_fields': { enabled: true },
        },
      };
    },
  });
}
