// Remote servers joining, leaving and knocking on our rooms: make_join / v2 send_join, make_leave / v2 send_leave,
// make_knock / send_knock (server-server API "Joining Rooms", "Leaving Rooms", "Knocking upon a room").
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isValidUserId } from '../../../protocol/identifiers.ts';
import { requestOrigin } from '../../../federation/requestAuth.ts';
import type { MembershipServer } from '../../../federation/serving/membership.ts';
import { membershipTemplate, type TemplateMembership } from '../../../federation/serving/templates.ts';
import type { EventStore } from '../../../storage/events.ts';
import { invalidParam, missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { eventIdParam, params, query, roomIdParam } from '../client/rooms.ts';
import { FEDERATION_V1 } from './events.ts';

const FEDERATION_V2 = '/_matrix/federation/v2';

/** `ver` (one or more room versions); absent: `fallback`, or 400 M_MISSING_PARAM when there is none. */
function versions(request: FastifyRequest, fallback?: string[]): string[] {
  const ver = query(request)['ver'];
  if (ver === undefined) {
    if (fallback) return fallback;
    throw missingParam('ver is required');
  }
  const list = Array.isArray(ver) ? ver : [ver];
  if (!list.every((v): v is string => typeof v === 'string')) throw invalidParam('ver must be room versions');
  return list;
}

function userIdParam(request: FastifyRequest): string {
  const userId = params(request)['userId'] ?? '';
  if (!isValidUserId(userId)) throw invalidParam(`${userId} is not a valid user id`);
  return userId;
}

export function registerFederationMembershipRoutes(
  scope: FastifyInstance,
  opts: { events: EventStore; membership: MembershipServer; serverName: string; now(): number },
): void {
  const { events, membership, now } = opts;
  const template = (request: FastifyRequest, kind: TemplateMembership, supportedVersions?: string[]) =>
    membershipTemplate(events, {
      origin: requestOrigin(request),
      serverName: opts.serverName,
      roomId: roomIdParam(request),
      userId: userIdParam(request),
      membership: kind,
      ...(supportedVersions ? { supportedVersions } : {}),
      now: now(),
    });

  // Without `ver`, the spec has the asking server support room version 1 only.
  route(scope, `${FEDERATION_V1}/make_join/:roomId/:userId`, { GET: async (request) => template(request, 'join', versions(request, ['1'])) });
  route(scope, `${FEDERATION_V1}/make_leave/:roomId/:userId`, { GET: async (request) => template(request, 'leave') });
  route(scope, `${FEDERATION_V1}/make_knock/:roomId/:userId`, { GET: async (request) => template(request, 'knock', versions(request)) });

  route(scope, `${FEDERATION_V2}/send_join/:roomId/:eventId`, {
    PUT: async (request) => {
      const omit = query(request)['omit_members'];
      if (omit !== undefined && omit !== 'true' && omit !== 'false') throw invalidParam('omit_members must be true or false');
      return membership.sendJoin(requestOrigin(request), roomIdParam(request), eventIdParam(request), request.body);
    },
  });
  route(scope, `${FEDERATION_V2}/send_leave/:roomId/:eventId`, {
    PUT: async (request) => membership.sendLeave(requestOrigin(request), roomIdParam(request), eventIdParam(request), request.body),
  });
  route(scope, `${FEDERATION_V1}/send_knock/:roomId/:eventId`, {
    PUT: async (request) => membership.sendKnock(requestOrigin(request), roomIdParam(request), eventIdParam(request), request.body),
  });
}
