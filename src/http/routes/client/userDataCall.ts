// Shared by the per-user data routes: UserDataErrors become Matrix errors, and the {userId} path parameter is
// checked the same way everywhere.
import type { FastifyRequest } from 'fastify';
import { isValidUserId } from '../../../protocol/identifiers.ts';
import { UserDataError } from '../../../userData/errors.ts';
import { MatrixError, invalidParam } from '../../errors.ts';
import { params } from './rooms.ts';

export async function userDataCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof UserDataError) throw new MatrixError(error.status, error.errcode, error.message);
    throw error;
  }
}

/** The {userId} path parameter, or 400 M_INVALID_PARAM. */
export function userIdParam(request: FastifyRequest): string {
  const userId = params(request)['userId'] ?? '';
  if (!isValidUserId(userId)) throw invalidParam(`${userId} is not a valid user id`);
  return userId;
}
