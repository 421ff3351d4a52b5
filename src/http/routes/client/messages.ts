// GET /_matrix/client/v3/rooms/{roomId}/messages and /context/{eventId}: the timeline in either direction, from/to tokens, limit and a
// RoomEventFilter (types, not_types, senders, not_senders, contains_url, lazy_load_members).
import type { FastifyInstance } from 'fastify';
import type { RoomEventFilter } from '../../../rooms/service.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { CLIENT_V3, eventIdParam, eventsPosition, query, roomCall, roomIdParam, tokenFor } from './rooms.ts';

const MAX_LIMIT = 1000;

function parseLimit(value: unknown): number {
  if (value === undefined) return 10;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw invalidParam('limit must be a non-negative integer');
  return Math.min(Number(value), MAX_LIMIT);
}

const stringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

export function parseRoomEventFilter(value: unknown): RoomEventFilter | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch {
    throw invalidParam('filter is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidParam('filter must be a JSON object');
  const f = parsed as Record<string, unknown>;
  const filter: RoomEventFilter = {};
  for (const key of ['types', 'not_types', 'senders', 'not_senders'] as const) {
    if (f[key] === undefined) continue;
    const list = f[key];
    if (!stringList(list)) throw invalidParam(`filter.${key} must be a list of strings`);
    filter[key] = list;
  }
  for (const key of ['lazy_load_members', 'contains_url'] as const) {
    if (f[key] === undefined) continue;
    if (typeof f[key] !== 'boolean') throw invalidParam(`filter.${key} must be a boolean`);
    filter[key] = f[key];
  }
  return filter;
}

export function registerMessages(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/rooms/:roomId/messages`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const q = query(request);
      const dir = q['dir'];
      if (dir === undefined) throw missingParam('dir is required');
      if (dir !== 'b' && dir !== 'f') throw invalidParam('dir must be b or f');
      const from = eventsPosition(q['from'], 'from');
      const to = eventsPosition(q['to'], 'to');
      const limit = parseLimit(q['limit']);
      const filter = parseRoomEventFilter(q['filter']);
      return roomCall(async () => {
        const page = await ctx.rooms.messages(requester, roomId, {
          dir,
          limit,
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          ...(filter !== undefined ? { filter } : {}),
        });
        return {
          chunk: page.chunk,
          start: tokenFor(page.start),
          ...(page.end !== undefined ? { end: tokenFor(page.end) } : {}),
          ...(page.state.length > 0 ? { state: page.state } : {}),
        };
      });
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/context/:eventId`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const eventId = eventIdParam(request);
      const q = query(request);
      const limit = parseLimit(q['limit']);
      const filter = parseRoomEventFilter(q['filter']);
      return roomCall(async () => {
        const context = await ctx.rooms.context(requester, roomId, eventId, limit, filter);
        return {
          start: tokenFor(context.start),
          end: tokenFor(context.end),
          events_before: context.before,
          event: context.event,
          events_after: context.after,
          state: context.state,
        };
      });
    },
  });
}
