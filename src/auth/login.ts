// Logging in: who an identifier names, checking a password, and issuing a device's access (and refresh) tokens.
// Shared by /register, /login, /refresh, shared-secret registration and the m.login.password UIA stage.
import { randomBytes } from 'node:crypto';
import { MatrixError } from '../http/errors.ts';
import { PostgresAccountStore, type AccountRecord } from '../storage/accounts.ts';
import type { Queryable } from '../storage/database.ts';
import { PostgresDeviceStore } from '../storage/devices.ts';
import { PostgresRefreshTokenStore } from '../storage/refreshTokens.ts';
import { generateAccessToken, generateDeviceId, hashAccessToken } from './accessTokens.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { StageFailure, type StageHandler } from './uia.ts';

/** Lifetime of an access token issued with a refresh token (Synapse's default is the same five minutes). */
export const REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS = 5 * 60 * 1000;

export function generateRefreshToken(): string {
  return `trr_${randomBytes(32).toString('base64url')}`;
}

/**
 * The user id a login names: `identifier` of type m.id.user (a user id or a localpart), else the legacy top-level
 * `user`. Returns the id qualified with our server name but not yet looked up. Throws 400 for a malformed or
 * unsupported identifier.
 */
export function requestedUserId(body: Record<string, unknown>, serverName: string): string {
  const identifier = body['identifier'];
  let user: unknown;
  if (identifier !== undefined) {
    if (typeof identifier !== 'object' || identifier === null || Array.isArray(identifier)) {
      throw new MatrixError(400, 'M_BAD_JSON', 'identifier: must be an object');
    }
    const id = identifier as Record<string, unknown>;
    if (typeof id['type'] !== 'string') throw new MatrixError(400, 'M_BAD_JSON', 'identifier.type: must be a string');
    if (id['type'] !== 'm.id.user') {
      throw new MatrixError(400, 'M_UNKNOWN', `Identifier type ${id['type']} is not supported; use m.id.user`);
    }
    user = id['user'];
    if (user === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', 'identifier.user is required');
  } else {
    user = body['user'];
    if (user === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', 'identifier is required');
  }
  if (typeof user !== 'string') throw new MatrixError(400, 'M_BAD_JSON', 'identifier.user: must be a string');
  return user.startsWith('@') ? user : `@${user}:${serverName}`;
}

/**
 * The account a login names, matched as Synapse does: the exact id when it exists, else the only account whose id
 * is the same ignoring case. Null when there is none (or several equally close).
 */
export async function findLoginAccount(db: Queryable, userId: string): Promise<AccountRecord | null> {
  const candidates = await new PostgresAccountStore(db).findAccountsCaseInsensitive(userId);
  const exact = candidates.find((a) => a.userId === userId);
  if (exact) return exact;
  return candidates.length === 1 ? (candidates[0] ?? null) : null;
}

const INVALID_CREDENTIALS = 'Invalid username or password';

// A login for an unknown user (or one without a password) still spends one password check, so that the answer's
// timing does not tell which user ids exist.
let dummyHash: Promise<string> | undefined;
async function spendPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('not a password of anyone');
  await verifyPassword(password, await dummyHash);
}

/**
 * Checks a user's password login. Returns the account; throws 403 M_FORBIDDEN for an unknown user or a wrong
 * password (the same message for both) and 403 M_USER_DEACTIVATED for a deactivated account.
 */
export async function checkPasswordLogin(db: Queryable, userId: string, password: string): Promise<AccountRecord> {
  const account = await findLoginAccount(db, userId);
  if (!account || account.passwordHash === null) {
    await spendPasswordCheck(password);
    if (account?.deactivated) throw new MatrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated');
    throw new MatrixError(403, 'M_FORBIDDEN', INVALID_CREDENTIALS);
  }
  if (!(await verifyPassword(password, account.passwordHash))) throw new MatrixError(403, 'M_FORBIDDEN', INVALID_CREDENTIALS);
  if (account.deactivated) throw new MatrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated');
  return account;
}

/**
 * The m.login.password UIA stage for an authenticated request: the identifier must name the requester and the
 * password must be theirs.
 */
export function passwordStage(db: Queryable, serverName: string): StageHandler {
  return async (auth, requester) => {
    const password = auth['password'];
    if (typeof password !== 'string') throw new MatrixError(400, 'M_BAD_JSON', 'auth.password: must be a string');
    const userId = requestedUserId(auth, serverName);
    const account = await findLoginAccount(db, userId);
    if (!account || account.userId !== requester) throw new StageFailure('M_FORBIDDEN', INVALID_CREDENTIALS);
    if (account.passwordHash === null || !(await verifyPassword(password, account.passwordHash))) {
      throw new StageFailure('M_FORBIDDEN', INVALID_CREDENTIALS);
    }
  };
}

export interface IssuedLogin {
  access_token: string;
  device_id: string;
  refresh_token?: string;
  expires_in_ms?: number;
}

/**
 * Creates (or reuses) the device and issues its access token, plus a refresh token when asked. Logging in again
 * with an existing device id invalidates that device's earlier tokens, as the spec asks. Run it in the
 * transaction that creates the account, if any.
 */
export async function issueLogin(
  db: Queryable,
  login: { userId: string; deviceId?: string | undefined; displayName?: string | undefined; refresh: boolean; now: number },
): Promise<IssuedLogin> {
  const devices = new PostgresDeviceStore(db);
  const deviceId = login.deviceId ?? generateDeviceId();
  if (login.deviceId !== undefined && (await devices.getDevice(login.userId, deviceId))) {
    await devices.deleteDeviceTokens(login.userId, deviceId);
  } else {
    await devices.upsertDevice(login.userId, deviceId, login.displayName ?? null, login.now);
  }
  return issueTokens(db, login.userId, deviceId, login.refresh, login.now);
}

/** A new access token (and refresh token) for an existing device. */
export async function issueTokens(db: Queryable, userId: string, deviceId: string, refresh: boolean, now: number): Promise<IssuedLogin> {
  const accessToken = generateAccessToken();
  const accessTokenHash = hashAccessToken(accessToken);
  const validUntil = refresh ? now + REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS : null;
  await new PostgresDeviceStore(db).addAccessToken(accessTokenHash, userId, deviceId, now, validUntil);
  const issued: IssuedLogin = { access_token: accessToken, device_id: deviceId };
  if (refresh) {
    const refreshToken = generateRefreshToken();
    await new PostgresRefreshTokenStore(db).addRefreshToken(hashAccessToken(refreshToken), userId, deviceId, accessTokenHash, now);
    issued.refresh_token = refreshToken;
    issued.expires_in_ms = REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS;
  }
  return issued;
}
