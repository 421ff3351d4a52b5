// Every admin endpoint: a valid access token (401 otherwise) of a server admin (403 M_FORBIDDEN otherwise).
import type { FastifyRequest } from 'fastify';
import type { Requester } from '../../auth.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, forbidden } from '../../errors.ts';
import type { ActorsPort } from '../../../admin/actorsPort.ts';

export async function requireAdmin(ctx: HttpContext, request: FastifyRequest): Promise<Requester> {
  const requester = await ctx.authenticate(request);
  const user = await ctx.users.getUser(requester.userId);
  if (!user?.admin) throw forbidden('You are not a server admin');
  return requester;
}

/** The actor system's admin port, or 503 when this server was assembled without one. */
export function actorsOf(ctx: HttpContext): ActorsPort {
  if (!ctx.actors) throw new MatrixError(503, 'M_UNKNOWN', 'The actor system is not available');
  return ctx.actors;
}

/** A non-negative integer query parameter, or 400 M_INVALID_PARAM. */
export function intParam(query: Record<string, unknown>, name: string, fallback: number): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^[0-9]{1,15}$/.test(raw)) {
    throw new MatrixError(400, 'M_INVALID_PARAM', `Query parameter ${name} must be a non-negative integer`);
  }
  return Number(raw);
}

/** A boolean query parameter ('true' / 'false'), or 400 M_INVALID_PARAM. */
export function boolParam(query: Record<string, unknown>, name: string): boolean | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new MatrixError(400, 'M_INVALID_PARAM', `Query parameter ${name} must be true or false`);
}
