// Federation reads of room history (server-server API "Retrieving events", "Backfilling", "Retrieving missing
// events", "Retrieving event authorization information"): /event, /state, /state_ids, /event_auth, /backfill and
// /get_missing_events. Registered inside the X-Matrix authenticated scope.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isValidEventId } from '../../../protocol/identifiers.ts';
import { isJsonObject } from '../../../protocol/json.ts';
import { requestOrigin } from '../../../federation/requestAuth.ts';
import type { RoomHistoryServer } from '../../../federation/serving/history.ts';
import { badJson, invalidParam, missingParam, notJson } from '../../errors.ts';
import { route } from '../../routes.ts';
import { eventIdParam, query, roomIdParam } from '../client/rooms.ts';

export const FEDERATION_V1 = '/_matrix/federation/v1';

function eventIdQuery(request: FastifyRequest): string {
  const value = query(request)['event_id'];
  if (value === undefined) throw missingParam('event_id is required');
  if (typeof value !== 'string' || !isValidEventId(value)) throw invalidParam('event_id must be one valid event id');
  return value;
}

/** A non-negative integer query or body value. */
function count(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidParam(`${name} must be a non-negative integer`);
  return n;
}

function eventIdList(value: unknown, name: string, asBody: boolean): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((id): id is string => typeof id === 'string' && isValidEventId(id))) {
    throw asBody ? badJson(`${name} must be a list of event ids`) : invalidParam(`${name} must be event ids`);
  }
  return list;
}

export function registerFederationEventRoutes(scope: FastifyInstance, history: RoomHistoryServer): void {
  route(scope, `${FEDERATION_V1}/event/:eventId`, {
    GET: async (request) => history.event(requestOrigin(request), eventIdParam(request)),
  });

  route(scope, `${FEDERATION_V1}/state/:roomId`, {
    GET: async (request) => history.state(requestOrigin(request), roomIdParam(request), eventIdQuery(request)),
  });

  route(scope, `${FEDERATION_V1}/state_ids/:roomId`, {
    GET: async (request) => history.stateIds(requestOrigin(request), roomIdParam(request), eventIdQuery(request)),
  });

  route(scope, `${FEDERATION_V1}/event_auth/:roomId/:eventId`, {
    GET: async (request) => history.eventAuth(requestOrigin(request), roomIdParam(request), eventIdParam(request)),
  });

  route(scope, `${FEDERATION_V1}/backfill/:roomId`, {
    GET: async (request) => {
      const roomId = roomIdParam(request);
      const q = query(request);
      if (q['v'] === undefined) throw missingParam('v is required');
      if (q['limit'] === undefined) throw missingParam('limit is required');
      const limit = count(q['limit'], 'limit');
      return history.backfill(requestOrigin(request), roomId, eventIdList(q['v'], 'v', false), limit);
    },
  });

  route(scope, `${FEDERATION_V1}/get_missing_events/:roomId`, {
    POST: async (request) => {
      const roomId = roomIdParam(request);
      const body = request.body;
      if (body === undefined) throw notJson();
      if (!isJsonObject(body)) throw badJson('The body must be a JSON object');
      if (body['latest_events'] === undefined || body['earliest_events'] === undefined) {
        throw badJson('latest_events and earliest_events are required');
      }
      if (!Array.isArray(body['latest_events']) || !Array.isArray(body['earliest_events'])) {
        throw badJson('latest_events and earliest_events must be lists of event ids');
      }
      const asBodyCount = (value: unknown, name: string, fallback: number) => {
        if (value === undefined) return fallback;
        if (typeof value !== 'number') throw badJson(`${name} must be an integer`);
        return count(value, name);
      };
      return history.missingEvents(requestOrigin(request), roomId, {
        latestEvents: eventIdList(body['latest_events'], 'latest_events', true),
        earliestEvents: eventIdList(body['earliest_events'], 'earliest_events', true),
        limit: asBodyCount(body['limit'], 'limit', 10),
        minDepth: asBodyCount(body['min_depth'], 'min_depth', 0),
      });
    },
  });
}
