// PUT /_matrix/federation/v2/invite/{roomId}/{eventId}: a remote server invites one of our users (invites-v2.yaml).
import type { FastifyInstance } from 'fastify';
import { requestOrigin } from '../../../federation/requestAuth.ts';
import type { InviteReceiver } from '../../../federation/serving/invite.ts';
import { route } from '../../routes.ts';
import { eventIdParam, roomIdParam } from '../client/rooms.ts';

export function registerFederationInviteRoute(scope: FastifyInstance, invites: InviteReceiver): void {
  route(scope, '/_matrix/federation/v2/invite/:roomId/:eventId', {
    PUT: async (request) => invites.receive(requestOrigin(request), roomIdParam(request), eventIdParam(request), request.body),
  });
}
