// GET /_matrix/client/v3/capabilities.
import type { FastifyInstance } from 'fastify';
import { ROOM_VERSIONS } from '../../../protocol/roomVersions.ts';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';

/**
 * Spec v1.19 recommends room version 10 as the default for new rooms. The rooms code keeps its own
 * DEFAULT_ROOM_VERSION (src/rooms/service.ts, same value); the two should become one constant.
 */
export const CAPABILITIES_DEFAULT_ROOM_VERSION = '10';

export function registerCapabilities(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/capabilities', {
    GET: async (request) => {
      await ctx.authenticate(request);
      const available = Object.fromEntries([...ROOM_VERSIONS.values()].map((v) => [v.id, v.stable ? 'stable' : 'unstable']));
      return {
        capabilities: {
          'm.change_password': { enabled: true },
          'm.room_versions': { default: CAPABILITIES_DEFAULT_ROOM_VERSION, available },
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
