// Who is asking: the access token from `Authorization: Bearer` (or the `access_token` query parameter, which
// spec v1.19 still allows) resolved to a user and device. Missing and unknown tokens get their own errors.
// An application service's as_token acts as its sender, or through `user_id` as any local user in its users
// namespaces who exists (Application Service API, "Identity assertion").
import type { FastifyRequest } from 'fastify';
import { hashAccessToken } from '../auth/accessTokens.ts';
import type { DeviceStore } from '../storage/devices.ts';
import type { UserStore } from '../storage/users.ts';
import { mayActAsUser } from '../appservice/namespaces.ts';
import type { Registration } from '../appservice/registration.ts';
import type { Appservices } from '../appservice/service.ts';
import { MatrixError } from './errors.ts';

export interface Requester {
  userId: string;
  deviceId: string;
  /** The token's hash, for /logout. */
  tokenHash: Buffer;
  /** Set when an application service's as_token made the request (its device id is then ''). */
  appservice?: Registration;
}

export interface AuthenticateOptions {
  appservices?: Appservices | undefined;
  users?: UserStore;
}

export function accessTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Authorization header is not a Bearer token');
    return match[1];
  }
  const query = (request.query as Record<string, unknown> | undefined)?.['access_token'];
  return typeof query === 'string' && query !== '' ? query : undefined;
}

/**
 * The user an application service acts as: `user_id` when given (M_FORBIDDEN outside its namespaces or for a
 * user who does not exist), its sender otherwise. `mustExist: false` for registering that user.
 */
export async function appserviceUserId(
  request: FastifyRequest,
  reg: Registration,
  users: UserStore | undefined,
  mustExist = true,
): Promise<string> {
  const asserted = (request.query as Record<string, unknown> | undefined)?.['user_id'];
  if (asserted === undefined) return reg.senderUserId;
  if (typeof asserted !== 'string') throw new MatrixError(400, 'M_INVALID_PARAM', 'user_id: must be given once');
  if (!mayActAsUser(reg, asserted)) throw new MatrixError(403, 'M_FORBIDDEN', 'Application service cannot masquerade as this user');
  if (mustExist && asserted !== reg.senderUserId && users && !(await users.getUser(asserted))) {
    throw new MatrixError(403, 'M_FORBIDDEN', 'Application service has not registered this user');
  }
  return asserted;
}

export async function authenticate(
  request: FastifyRequest,
  devices: DeviceStore,
  now: number,
  options: AuthenticateOptions = {},
): Promise<Requester> {
  const token = accessTokenOf(request);
  if (token === undefined) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
  const tokenHash = hashAccessToken(token);
  const appservice = options.appservices?.byAsToken(token);
  if (appservice) {
    return { userId: await appserviceUserId(request, appservice, options.users), deviceId: '', tokenHash, appservice };
  }
  const owner = await devices.findTokenOwner(tokenHash);
  if (!owner || owner.deactivated) {
    throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token', { soft_logout: false });
  }
  if (owner.validUntilTs !== null && owner.validUntilTs <= now) {
    // An expired token from a refreshable login: the client refreshes rather than logging in again.
    throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Access token has expired', { soft_logout: true });
  }
  return { userId: owner.userId, deviceId: owner.deviceId, tokenHash };
}
