// Everything Troupe serves to remote servers about its rooms and users, registered inside the X-Matrix
// authenticated scope of src/http/routes/federation/index.ts.
import type { FastifyInstance } from 'fastify';
import { RoomHistoryServer } from '../../../federation/serving/history.ts';
import { MembershipServer } from '../../../federation/serving/membership.ts';
import type { HttpContext } from '../../context.ts';
import { registerFederationDeviceRoutes } from './devices.ts';
import { registerFederationDirectoryRoutes } from './directory.ts';
import { registerFederationEventRoutes } from './events.ts';
import { registerFederationInviteRoute } from './invite.ts';
import { registerFederationMembershipRoutes } from './membership.ts';

export function registerFederationServingRoutes(scope: FastifyInstance, ctx: HttpContext): void {
  const history = new RoomHistoryServer({ db: ctx.db, events: ctx.rooms.events, serverName: ctx.config.serverName, now: ctx.now });
  registerFederationEventRoutes(scope, history);
  registerFederationDirectoryRoutes(scope, ctx);
  registerFederationDeviceRoutes(scope, ctx);
  const { federation, remoteEvents } = ctx;
  if (federation && remoteEvents) {
    const membership = new MembershipServer({
      db: ctx.db,
      events: ctx.rooms.events,
      remoteEvents,
      keys: federation.keyring,
      serverName: ctx.config.serverName,
      signingKey: ctx.signingKey,
    });
    registerFederationMembershipRoutes(scope, { events: ctx.rooms.events, membership, serverName: ctx.config.serverName, now: ctx.now });
  }
  if (ctx.invites) registerFederationInviteRoute(scope, ctx.invites);
}
