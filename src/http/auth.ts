// Who is asking: the access token from `Authorization: Bearer` (or the `access_token` query parameter, which
// spec v1.19 still allows) resolved to a user and device. Missing and unknown tokens get their own errors.
import type { FastifyRequest } from 'fastify';
import { hashAccessToken } from '../auth/accessTokens.ts';
import type { DeviceStore } from '../storage/devices.ts';
import { MatrixError } from './errors.ts';

export interface Requester {
  userId: string;
  deviceId: string;
  /** The token's hash, for /logout. */
  tokenHash: Buffer;
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

export async function authenticate(request: FastifyRequest, devices: DeviceStore, now: number): Promise<Requester> {
  const token = accessTokenOf(request);
  if (token === undefined) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
  const tokenHash = hashAccessToken(token);
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
