// POST /_matrix/client/v3/register (user-interactive auth: m.login.dummy) and GET /register/available.
// Guests are refused. With `registration_requires_token`, every flow starts with m.login.registration_token, and the
// token's use is counted as completed in the transaction that creates the account.
import type { FastifyInstance } from 'fastify';
import { issueLogin, type IssuedLogin } from '../../../auth/login.ts';
import { onDevicesChanged, runListeners } from '../../../auth/hooks.ts';
import { hashPassword } from '../../../auth/passwords.ts';
import { REGISTRATION_TOKEN_STAGE, registrationTokenStage } from '../../../auth/registrationTokens.ts';
import { dummyStage, requireUserInteractiveAuth } from '../../../auth/uia.ts';
import { localpartForUsername } from '../../../auth/usernames.ts';
import { PostgresAccountStore } from '../../../storage/accounts.ts';
import type { Queryable } from '../../../storage/database.ts';
import { isUniqueViolation } from '../../../storage/errors.ts';
import { PostgresProfileStore } from '../../../storage/profiles.ts';
import { PostgresRegistrationTokenStore } from '../../../storage/registrationTokens.ts';
import { unstorableText } from '../../../storage/text.ts';
import { PostgresUiaSessionStore } from '../../../storage/uia.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, forbidden, invalidParam, missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { isAppserviceRegistration, refuseExclusiveUser, registerAppserviceUser } from './appservice.ts';
import { REGISTER_LOGIN_PROPERTIES, requestedLogin, type RegisterLoginFields } from './registerFields.ts';

interface RegisterBody extends RegisterLoginFields {
  auth?: unknown;
  password?: string;
}

const registerSchema = {
  type: 'object',
  properties: {
    auth: { type: ['object', 'null'] },
    password: { type: 'string' },
    ...REGISTER_LOGIN_PROPERTIES,
  },
};

/** Longest password accepted, as Synapse (hashing is deliberately slow). */
export const MAX_PASSWORD_LENGTH = 512;
/** Longest device id or device display name accepted. */
export const MAX_DEVICE_FIELD_LENGTH = 512;

/** The same check for a path or query parameter. */
export function checkParam(name: string, value: string): void {
  if (unstorableText(value) !== null) throw invalidParam(`${name}: may not contain NUL or unpaired surrogates`);
}

export const REGISTER_FLOWS = [{ stages: ['m.login.dummy'] }];
/** With registration_requires_token (as Synapse: the token stage first in every flow). */
export const TOKEN_REGISTER_FLOWS = [{ stages: [REGISTRATION_TOKEN_STAGE, 'm.login.dummy'] }];

export function checkPassword(password: string): void {
  if (password.length > MAX_PASSWORD_LENGTH) throw invalidParam(`Passwords may be at most ${MAX_PASSWORD_LENGTH} characters`);
}

export function checkDeviceFields(body: { device_id?: string; initial_device_display_name?: string }): void {
  if (body.device_id !== undefined && (body.device_id === '' || body.device_id.length > MAX_DEVICE_FIELD_LENGTH)) {
    throw invalidParam('device_id: must be 1 to 512 characters');
  }
  if (body.initial_device_display_name !== undefined && body.initial_device_display_name.length > MAX_DEVICE_FIELD_LENGTH) {
    throw invalidParam('initial_device_display_name: must be at most 512 characters');
  }
}

export interface NewAccount {
  localpart: string;
  passwordHash: string | null;
  admin?: boolean;
  userType?: string | null;
  displayName: string;
  login: { deviceId?: string | undefined; displayName?: string | undefined; refresh: boolean } | null;
  /** The UIA session that holds a registration token's pending use, completed with the account. */
  registrationTokenSession?: string;
}

/**
 * Creates an account with its display name and, unless `login` is null, a logged-in device, in one transaction.
 * A taken user id is 400 M_USER_IN_USE and leaves nothing behind.
 */
export async function createAccount(ctx: HttpContext, account: NewAccount): Promise<{ userId: string; login: IssuedLogin | null }> {
  const userId = `@${account.localpart}:${ctx.config.serverName}`;
  const now = ctx.now();
  try {
    const created = await ctx.db.transaction(async (tx: Queryable) => {
      const accounts = new PostgresAccountStore(tx);
      // Ids differing only in case would be one user to Synapse-style case-insensitive login.
      if (await accounts.isUserIdTaken(userId)) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken');
      await accounts.createAccount({ userId, passwordHash: account.passwordHash, admin: account.admin ?? false, userType: account.userType ?? null, now });
      await new PostgresProfileStore(tx).setField(userId, 'displayname', account.displayName);
      if (account.registrationTokenSession !== undefined) await new PostgresRegistrationTokenStore(tx).completeUse(account.registrationTokenSession);
      const login = account.login ? await issueLogin(tx, { userId, ...account.login, now }) : null;
      return { userId, login };
    });
    if (created.login) await runListeners(ctx, onDevicesChanged, userId, [created.login.device_id]);
    return created;
  } catch (error) {
    if (isUniqueViolation(error)) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken');
    throw error;
  }
}

/** A localpart for a registration without a username: the next unused number. */
async function generateLocalpart(ctx: HttpContext): Promise<string> {
  const accounts = new PostgresAccountStore(ctx.db);
  for (;;) {
    const localpart = await accounts.nextGeneratedLocalpart();
    if (!(await accounts.isUserIdTaken(`@${localpart}:${ctx.config.serverName}`))) return localpart;
  }
}

export function registerRegister(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/register', {
    POST: async (request) => {
      const kind = (request.query as Record<string, unknown>)['kind'];
      if (kind !== undefined && kind !== 'user' && kind !== 'guest') throw invalidParam('kind: must be "user" or "guest"');
      if (kind === 'guest') throw new MatrixError(403, 'M_GUEST_ACCESS_FORBIDDEN', 'Guest access is not enabled on this server');
      // Application services register their users whether or not open registration is enabled.
      if (isAppserviceRegistration(request.body)) return registerAppserviceUser(ctx, request);
      if (!ctx.config.enableRegistration) throw forbidden('Registration is disabled');
      const body = parseBody<RegisterBody>(registerSchema, request.body);
      checkDeviceFields(body);
      if (body.password !== undefined) checkPassword(body.password);

      // Username problems are reported before authentication, as the spec asks.
      let localpart: string | undefined;
      if (body.username !== undefined) {
        localpart = localpartForUsername(body.username, ctx.config.serverName);
        refuseExclusiveUser(ctx, `@${localpart}:${ctx.config.serverName}`);
        if (await new PostgresAccountStore(ctx.db).isUserIdTaken(`@${localpart}:${ctx.config.serverName}`)) {
          throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken');
        }
      }

      const requiresToken = ctx.config.registrationRequiresToken;
      const uia = await requireUserInteractiveAuth(body.auth, {
        store: new PostgresUiaSessionStore(ctx.db),
        now: ctx.now(),
        operation: 'POST /_matrix/client/v3/register',
        userId: null,
        flows: requiresToken ? TOKEN_REGISTER_FLOWS : REGISTER_FLOWS,
        stages: { 'm.login.dummy': dummyStage, ...(requiresToken ? { [REGISTRATION_TOKEN_STAGE]: registrationTokenStage(ctx.db, ctx.now()) } : {}) },
      });

      localpart ??= await generateLocalpart(ctx);
      const passwordHash = body.password !== undefined ? await hashPassword(body.password) : null;
      const { userId, login } = await createAccount(ctx, {
        localpart,
        passwordHash,
        displayName: localpart,
        login: requestedLogin(body),
        ...(requiresToken ? { registrationTokenSession: uia.sessionId } : {}),
      }).catch(async (error: unknown) => {
        // No account: the token's pending use is given back rather than held until the session lapses.
        if (requiresToken) await new PostgresRegistrationTokenStore(ctx.db).releaseUse(uia.sessionId);
        throw error;
      });
      return { user_id: userId, home_server: ctx.config.serverName, ...(login ?? {}) };
    },
  });

  route(app, '/_matrix/client/v3/register/available', {
    GET: async (request) => {
      const username = (request.query as Record<string, unknown>)['username'];
      if (username === undefined || username === '') throw missingParam('username is required');
      if (typeof username !== 'string') throw invalidParam('username: must be given once');
      checkParam('username', username);
      const localpart = localpartForUsername(username, ctx.config.serverName);
      refuseExclusiveUser(ctx, `@${localpart}:${ctx.config.serverName}`);
      if (await new PostgresAccountStore(ctx.db).isUserIdTaken(`@${localpart}:${ctx.config.serverName}`)) {
        throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken');
      }
      return { available: true };
    },
  });
}
