// Synapse's registration tokens admin API, so that its tooling works: under /_synapse/admin/v1/registration_tokens,
// GET (list, ?valid=true|false), POST /new (token or a random one of `length`, uses_allowed, expiry_time), and
// GET, PUT (uses_allowed, expiry_time), DELETE of /<token>. Admins only. Field errors are 400 M_INVALID_PARAM and an
// unknown token 404 M_NOT_FOUND, as Synapse answers them.
import { randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { REGISTRATION_TOKEN_PATTERN } from '../../../auth/registrationTokens.ts';
import { PostgresRegistrationTokenStore, type RegistrationToken } from '../../../storage/registrationTokens.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, notFound, notJson } from '../../errors.ts';
import { route } from '../../routes.ts';
import { requireAdmin } from './requireAdmin.ts';

const BASE = '/_synapse/admin/v1/registration_tokens';
const TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-';
const MAX_USES = 2 ** 31 - 1;

function randomToken(length: number): string {
  let token = '';
  for (let i = 0; i < length; i++) token += TOKEN_CHARS[randomInt(TOKEN_CHARS.length)];
  return token;
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw notJson('Request body is not a JSON object');
  return body as Record<string, unknown>;
}

function usesAllowed(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_USES) {
    throw invalidParam('uses_allowed must be a non-negative integer or null');
  }
  return value;
}

function expiryTime(value: unknown, now: number): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidParam('expiry_time must be an integer or null');
  if (value < now) throw invalidParam('expiry_time must not be in the past');
  return value;
}

export function registerRegistrationTokensAdmin(app: FastifyInstance, ctx: HttpContext): void {
  const store = new PostgresRegistrationTokenStore(ctx.db);
  const noSuchToken = (token: string) => notFound(`No such registration token: ${token}`);
  const existing = async (token: string): Promise<RegistrationToken> => {
    const found = REGISTRATION_TOKEN_PATTERN.test(token) ? await store.get(token, ctx.now()) : null;
    if (!found) throw noSuchToken(token);
    return found;
  };
  const tokenOf = (request: FastifyRequest): string => (request.params as { token?: string }).token ?? 'new';

  route(app, BASE, {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      const valid = (request.query as Record<string, unknown>)['valid'];
      if (valid !== undefined && valid !== 'true' && valid !== 'false') throw invalidParam("valid must be 'true' or 'false'");
      return { registration_tokens: await store.list(ctx.now(), valid === undefined ? undefined : valid === 'true') };
    },
  });

  const get: RouteHandlerMethod = async (request) => {
    await requireAdmin(ctx, request);
    return existing(tokenOf(request));
  };
  const update: RouteHandlerMethod = async (request) => {
    await requireAdmin(ctx, request);
    const body = bodyObject(request.body);
    const token = tokenOf(request);
    const changes = {
      ...('uses_allowed' in body ? { usesAllowed: usesAllowed(body['uses_allowed']) } : {}),
      ...('expiry_time' in body ? { expiryTime: expiryTime(body['expiry_time'], ctx.now()) } : {}),
    };
    if (!REGISTRATION_TOKEN_PATTERN.test(token) || !(await store.update(token, changes))) throw noSuchToken(token);
    return existing(token);
  };
  const remove: RouteHandlerMethod = async (request) => {
    await requireAdmin(ctx, request);
    const token = tokenOf(request);
    if (!REGISTRATION_TOKEN_PATTERN.test(token) || !(await store.delete(token))) throw noSuchToken(token);
    return {};
  };

  route(app, `${BASE}/new`, {
    POST: async (request) => {
      await requireAdmin(ctx, request);
      const body = bodyObject(request.body);
      const uses = usesAllowed(body['uses_allowed'] ?? null);
      const expiry = expiryTime(body['expiry_time'] ?? null, ctx.now());
      const given = body['token'];
      if (given !== undefined) {
        if (typeof given !== 'string' || !REGISTRATION_TOKEN_PATTERN.test(given)) {
          throw invalidParam('token must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", "~" and "-"');
        }
        if (!(await store.create(given, uses, expiry))) throw invalidParam(`Token already exists: ${given}`);
        return existing(given);
      }
      const length = body['length'] ?? 16;
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > 64) {
        throw invalidParam('length must be an integer from 1 to 64');
      }
      // A drawn token may be taken (likely only for very short lengths): draw again, a bounded number of times.
      for (let attempt = 0; attempt < 100; attempt++) {
        const token = randomToken(length);
        if (await store.create(token, uses, expiry)) return existing(token);
      }
      throw invalidParam(`No unused token of length ${length} was found; ask for a longer one`);
    },
    // A token may be called "new" too.
    GET: get,
    PUT: update,
    DELETE: remove,
  });

  route(app, `${BASE}/:token`, { GET: get, PUT: update, DELETE: remove });
}
