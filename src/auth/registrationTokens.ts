// The m.login.registration_token stage of /register (spec v1.2+): a valid token lets the registration continue and
// holds one pending use of it for the session, which becomes a completed use when the account is created.
import { MatrixError } from '../http/errors.ts';
import type { Database } from '../storage/database.ts';
import { reserveRegistrationToken } from '../storage/registrationTokens.ts';
import { SESSION_TTL_MS, StageFailure, type StageHandler } from './uia.ts';

export const REGISTRATION_TOKEN_STAGE = 'm.login.registration_token';

/** What a token may be made of (Synapse's admin API); anything else can be no token of ours. */
export const REGISTRATION_TOKEN_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;

export function registrationTokenStage(db: Database, now: number): StageHandler {
  return async (auth, _userId, sessionId) => {
    const token = auth['token'];
    if (token === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', 'auth.token is required');
    if (typeof token !== 'string') throw new MatrixError(400, 'M_INVALID_PARAM', 'auth.token: must be a string');
    const held = REGISTRATION_TOKEN_PATTERN.test(token) && (await reserveRegistrationToken(db, token, sessionId, now, now + SESSION_TTL_MS));
    if (!held) throw new StageFailure('M_UNAUTHORIZED', 'Invalid registration token');
  };
}
