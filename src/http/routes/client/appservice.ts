// Client-Server API for application services:
//   POST /_matrix/client/v3/register with `type: m.login.application_service` (users in the service's namespace)
//   POST /_matrix/client/v3/login with `type: m.login.application_service` (a device for one of its users)
//   POST /_matrix/client/v1/appservice/{appserviceId}/ping
// and the exclusive-namespace refusals the ordinary register and alias routes apply.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { validateUserLocalpart } from '../../../protocol/identifiers.ts';
import { onDevicesChanged, runListeners } from '../../../auth/hooks.ts';
import { issueLogin, requestedUserId } from '../../../auth/login.ts';
import type { Queryable } from '../../../storage/database.ts';
import {
  mayActAsUser,
  exclusiveServiceForAlias,
  exclusiveServiceForUser,
  findServiceForAlias,
  findServiceForUser,
  isInterestedInUser,
} from '../../../appservice/namespaces.ts';
import type { ResolvedAlias } from '../../../rooms/aliases.ts';
import { RoomError } from '../../../rooms/errors.ts';
import type { Registration } from '../../../appservice/registration.ts';
import { PostgresAccountStore } from '../../../storage/accounts.ts';
import { accessTokenOf, type Requester } from '../../auth.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, forbidden, missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { checkDeviceFields, createAccount } from './register.ts';
import { REGISTER_LOGIN_PROPERTIES, requestedLogin, type RegisterLoginFields } from './registerFields.ts';

export const APPSERVICE_LOGIN_TYPE = 'm.login.application_service';

const exclusive = (message: string) => new MatrixError(400, 'M_EXCLUSIVE', message);

export function isAppserviceRegistration(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { type?: unknown }).type === APPSERVICE_LOGIN_TYPE;
}

/** Ordinary registration of a user ID an application service claims exclusively: 400 M_EXCLUSIVE. */
export function refuseExclusiveUser(ctx: HttpContext, userId: string): void {
  if (ctx.appservices && exclusiveServiceForUser(ctx.appservices.registrations, userId)) {
    throw exclusive('This user ID is reserved by an application service');
  }
}

/**
 * Creating an alias in a namespace some application service claims exclusively: only that service may
 * (Synapse answers 400 M_EXCLUSIVE, as for user IDs).
 */
export function refuseExclusiveAlias(ctx: HttpContext, requester: Requester, alias: string): void {
  const owner = ctx.appservices ? exclusiveServiceForAlias(ctx.appservices.registrations, alias) : undefined;
  if (owner && requester.appservice?.id !== owner.id) throw exclusive('This alias is reserved by an application service');
}

/** The service whose as_token the request carries (401 for a missing or unknown token). */
function appserviceOf(ctx: HttpContext, request: FastifyRequest): Registration {
  const token = accessTokenOf(request);
  if (token === undefined) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
  const reg = ctx.appservices?.byAsToken(token);
  if (!reg) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token', { soft_logout: false });
  return reg;
}

interface AppserviceRegisterBody extends RegisterLoginFields {
  type: string;
}

const registerSchema = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, ...REGISTER_LOGIN_PROPERTIES },
} as const;

/** POST /register with m.login.application_service: no user-interactive auth, the as_token instead. */
export async function registerAppserviceUser(ctx: HttpContext, request: FastifyRequest): Promise<Record<string, unknown>> {
  const body = parseBody<AppserviceRegisterBody>(registerSchema, request.body);
  checkDeviceFields(body);
  const reg = appserviceOf(ctx, request);
  if (body.username === undefined || body.username === '') throw missingParam('username is required');
  // Services may use localparts ordinary users may not (a leading underscore, as most bridges do).
  const localpart = body.username.toLowerCase();
  const valid = validateUserLocalpart(localpart, ctx.config.serverName);
  if (!valid.ok) throw new MatrixError(400, 'M_INVALID_USERNAME', `Invalid username: ${valid.reason}`);
  const userId = `@${localpart}:${ctx.config.serverName}`;
  if (!isInterestedInUser(reg, userId)) throw exclusive('This user ID is not in the namespace of the application service');
  const owner = exclusiveServiceForUser(ctx.appservices?.registrations ?? [], userId);
  if (owner && owner.id !== reg.id) throw exclusive('This user ID is reserved by another application service');
  if (await new PostgresAccountStore(ctx.db).isUserIdTaken(userId)) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken');
  const { login } = await createAccount(ctx, { localpart, passwordHash: null, displayName: localpart, login: requestedLogin(body) });
  return { user_id: userId, home_server: ctx.config.serverName, ...(login ?? {}) };
}

const pingSchema = { type: 'object', properties: { transaction_id: { type: 'string' } } } as const;

export function registerAppservice(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v1/appservice/:appserviceId/ping', {
    POST: async (request) => {
      const id = (request.params as { appserviceId: string }).appserviceId;
      const token = accessTokenOf(request);
      if (token === undefined) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
      const reg = ctx.appservices?.byAsToken(token);
      if (!reg) {
        // A user's token (or an unknown one) is a 401 like anywhere else; a user's valid token is not a service's.
        await ctx.authenticate(request);
        throw forbidden('This access token does not belong to an application service');
      }
      if (reg.id !== id) throw forbidden('This access token belongs to another application service');
      const body = parseBody<{ transaction_id?: string }>(pingSchema, request.body === undefined ? {} : request.body);
      const result = await ctx.appservices?.ping(reg, body.transaction_id);
      if (!result) throw new MatrixError(400, 'M_URL_NOT_SET', 'The application service has no URL');
      if (result.ok) return { duration_ms: result.durationMs };
      switch (result.errcode) {
        case 'M_URL_NOT_SET':
          throw new MatrixError(400, 'M_URL_NOT_SET', 'The application service has no URL');
        case 'M_CONNECTION_TIMEOUT':
          throw new MatrixError(504, 'M_CONNECTION_TIMEOUT', 'The application service did not answer in time');
        case 'M_CONNECTION_FAILED':
          throw new MatrixError(502, 'M_CONNECTION_FAILED', 'Could not connect to the application service');
        case 'M_BAD_STATUS':
          throw new MatrixError(502, 'M_BAD_STATUS', 'The application service answered with an error', {
            status: result.status,
            body: result.body,
          });
      }
    },
  });
}

/**
 * The `ts` query parameter of an application service's /send or /state PUT: the event's origin_server_ts.
 * Ignored for anyone else, as the spec gives it to services only.
 */
export function appserviceTs(request: FastifyRequest, requester: Requester): number | undefined {
  if (!requester.appservice) return undefined;
  const ts = (request.query as Record<string, unknown> | undefined)?.['ts'];
  if (ts === undefined) return undefined;
  if (typeof ts !== 'string' || !/^[0-9]{1,16}$/.test(ts) || !Number.isSafeInteger(Number(ts))) {
    throw new MatrixError(400, 'M_INVALID_PARAM', 'ts: must be a timestamp in milliseconds');
  }
  return Number(ts);
}

/**
 * Resolves a local alias; when it is unknown and in a service's namespace, asks that service
 * (GET /_matrix/app/v1/rooms/{alias}) and, if it says it created the alias, looks it up again.
 */
export async function resolveAlias(ctx: HttpContext, alias: string): Promise<ResolvedAlias> {
  try {
    return await ctx.rooms.aliases.resolve(alias);
  } catch (error) {
    if (!(error instanceof RoomError) || error.errcode !== 'M_NOT_FOUND' || !alias.endsWith(`:${ctx.config.serverName}`)) throw error;
    const service = ctx.appservices ? findServiceForAlias(ctx.appservices.registrations, alias) : undefined;
    if (!service || !(await ctx.appservices?.queryAlias(service, alias))) throw error;
    return ctx.rooms.aliases.resolve(alias);
  }
}

/**
 * Whether a local user who does not exist should be looked up with the service claiming them
 * (GET /_matrix/app/v1/users/{userId}): true when the service says it has created them.
 */
export async function userExistsPerAppservice(ctx: HttpContext, userId: string): Promise<boolean> {
  if (!userId.endsWith(`:${ctx.config.serverName}`) || !ctx.appservices) return false;
  const service = findServiceForUser(ctx.appservices.registrations, userId);
  if (!service || service.url === null) return false;
  return (await ctx.appservices.queryUser(service, userId)) && (await ctx.users.getUser(userId)) !== null;
}

interface AppserviceLoginBody {
  device_id?: string;
  initial_device_display_name?: string;
  refresh_token?: boolean;
}

/**
 * POST /login with m.login.application_service: a device and access token for a user of the service's
 * namespaces who exists, on the strength of the as_token (no password).
 */
export async function loginAppserviceUser(ctx: HttpContext, request: FastifyRequest, body: AppserviceLoginBody & Record<string, unknown>): Promise<Record<string, unknown>> {
  const reg = appserviceOf(ctx, request);
  const userId = requestedUserId(body, ctx.config.serverName);
  if (!mayActAsUser(reg, userId)) throw forbidden('This user is not in the namespace of the application service');
  const user = await ctx.users.getUser(userId);
  if (!user) throw forbidden('Application service has not registered this user');
  if (user.deactivated) throw new MatrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated');
  const issued = await ctx.db.transaction((tx: Queryable) =>
    issueLogin(tx, {
      userId,
      deviceId: body.device_id,
      displayName: body.initial_device_display_name,
      refresh: body.refresh_token === true,
      now: ctx.now(),
    }),
  );
  await runListeners(ctx, onDevicesChanged, userId, [issued.device_id]);
  return { user_id: userId, home_server: ctx.config.serverName, ...issued };
}
