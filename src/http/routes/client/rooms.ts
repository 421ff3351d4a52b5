// Room reads: GET /rooms/{roomId}/event/{eventId}, /state, /state/{type}/{key}, /members, /joined_members,
// /joined_rooms. Also the helpers the other room route files share (path parameter checks, RoomError mapping).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isValidEventId, isValidRoomId } from '../../../protocol/identifiers.ts';
import { RoomError } from '../../../rooms/errors.ts';
import { unstorableText } from '../../../storage/text.ts';
import { StreamToken } from '../../../streams/token.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';

export const CLIENT_V3 = '/_matrix/client/v3';

/** Runs a room operation, turning its RoomErrors into Matrix errors. */
export async function roomCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof RoomError) throw new MatrixError(error.status, error.errcode, error.message);
    throw error;
  }
}

/** The path parameters; one PostgreSQL could not store (NUL, an unpaired surrogate) is 400 M_INVALID_PARAM. */
export function params(request: FastifyRequest): Record<string, string> {
  const values = (request.params ?? {}) as Record<string, string>;
  for (const [name, value] of Object.entries(values)) {
    if (unstorableText(value) !== null) throw invalidParam(`${name} may not contain NUL or unpaired surrogates`);
  }
  return values;
}

export function query(request: FastifyRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>;
}

/** The {roomId} path parameter, or 400 M_INVALID_PARAM. */
export function roomIdParam(request: FastifyRequest, name = 'roomId'): string {
  const roomId = params(request)[name] ?? '';
  if (!isValidRoomId(roomId) && !isValidRoomId(roomId, true)) throw invalidParam(`${roomId} is not a valid room id`);
  return roomId;
}

export function eventIdParam(request: FastifyRequest): string {
  const eventId = params(request)['eventId'] ?? '';
  if (!isValidEventId(eventId)) throw invalidParam(`${eventId} is not a valid event id`);
  return eventId;
}

/** A client-supplied stream token's `events` position, or 400 M_INVALID_PARAM. */
export function eventsPosition(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const token = typeof value === 'string' ? StreamToken.tryParse(value) : null;
  if (!token) throw invalidParam(`${name} is not a valid token`);
  return token.get('events');
}

export function tokenFor(position: number): string {
  return StreamToken.of({ events: position }).toString();
}

export function registerRoomReads(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/joined_rooms`, {
    GET: async (request) => {
      const { userId } = await ctx.authenticate(request);
      return { joined_rooms: await ctx.rooms.joinedRooms(userId) };
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/event/:eventId`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const eventId = eventIdParam(request);
      return roomCall(() => ctx.rooms.event(requester, roomId, eventId));
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/state`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      return roomCall(async () => {
        const { state, version } = await ctx.rooms.readableState(requester.userId, roomId);
        return ctx.rooms.format(requester, version, state);
      });
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/members`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      const q = query(request);
      const at = eventsPosition(q['at'], 'at');
      const membership = membershipParam(q['membership'], 'membership');
      const notMembership = membershipParam(q['not_membership'], 'not_membership');
      return roomCall(async () => {
        const { events, version } = await ctx.rooms.members(requester.userId, roomId, {
          ...(at !== undefined ? { at } : {}),
          ...(membership !== undefined ? { membership } : {}),
          ...(notMembership !== undefined ? { notMembership } : {}),
        });
        return { chunk: await ctx.rooms.format(requester, version, events) };
      });
    },
  });

  route(app, `${CLIENT_V3}/rooms/:roomId/joined_members`, {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const roomId = roomIdParam(request);
      return roomCall(async () => ({ joined: await ctx.rooms.joinedMembers(requester.userId, roomId) }));
    },
  });
}

const MEMBERSHIPS = new Set(['join', 'invite', 'knock', 'leave', 'ban']);

function membershipParam(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !MEMBERSHIPS.has(value)) throw invalidParam(`${name} must be one of join, invite, knock, leave, ban`);
  return value;
}
