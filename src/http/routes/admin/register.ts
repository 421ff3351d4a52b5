// Synapse-compatible shared-secret registration, so that register_new_matrix_user and similar tooling work:
//   GET  /_synapse/admin/v1/register  -> { nonce }
//   POST /_synapse/admin/v1/register  { nonce, username, password, admin?, user_type?, displayname?, mac }
// mac = hex HMAC-SHA1 keyed with registration_shared_secret over
//   nonce NUL username NUL password NUL ("admin" | "notadmin") [NUL user_type]
// A nonce is usable once and for NONCE_TTL_MS. Without registration_shared_secret both answer 400, as Synapse.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { hashPassword } from '../../../auth/passwords.ts';
import { localpartForUsername } from '../../../auth/usernames.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, badJson, forbidden, invalidParam, missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { checkPassword, createAccount } from '../client/register.ts';
import { parseBody } from '../../validate.ts';

export const NONCE_TTL_MS = 60 * 1000;
const USER_TYPES = new Set(['bot', 'support']);

interface SharedSecretBody {
  nonce?: string;
  username?: string;
  password?: string;
  admin?: boolean;
  user_type?: string | null;
  displayname?: string;
  mac?: string;
}

const schema = {
  type: 'object',
  properties: {
    nonce: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    admin: { type: 'boolean' },
    user_type: { type: ['string', 'null'] },
    displayname: { type: 'string' },
    mac: { type: 'string' },
  },
};

export function sharedSecretMac(secret: string, nonce: string, username: string, password: string, admin: boolean, userType?: string | null): string {
  const hmac = createHmac('sha1', Buffer.from(secret, 'utf8'));
  hmac.update(`${nonce}\0${username}\0${password}\0${admin ? 'admin' : 'notadmin'}`, 'utf8');
  if (userType) hmac.update(`\0${userType}`, 'utf8');
  return hmac.digest('hex');
}

// Nonces live in memory, shared by every listener of one server (each listener has its own app): they last a
// minute, and a restart only means asking for a new one.
const noncesByServer = new WeakMap<HttpContext, Map<string, number>>();

export function registerSharedSecretRegistration(app: FastifyInstance, ctx: HttpContext): void {
  let nonces = noncesByServer.get(ctx);
  if (!nonces) noncesByServer.set(ctx, (nonces = new Map()));
  const sweep = (now: number) => {
    for (const [nonce, expires] of nonces) if (expires <= now) nonces.delete(nonce);
  };
  const requireSecret = (): string => {
    const secret = ctx.config.registrationSharedSecret;
    if (!secret) throw new MatrixError(400, 'M_UNKNOWN', 'Shared secret registration is not enabled');
    return secret;
  };

  route(app, '/_synapse/admin/v1/register', {
    GET: async () => {
      requireSecret();
      const now = ctx.now();
      sweep(now);
      const nonce = randomBytes(16).toString('hex');
      nonces.set(nonce, now + NONCE_TTL_MS);
      return { nonce };
    },
    POST: async (request) => {
      const secret = requireSecret();
      const body = parseBody<SharedSecretBody>(schema, request.body);
      for (const key of ['nonce', 'username', 'password', 'mac'] as const) {
        if (body[key] === undefined) throw missingParam(`${key} is required`);
      }
      const { nonce, username, password, mac } = body as Required<Pick<SharedSecretBody, 'nonce' | 'username' | 'password' | 'mac'>>;
      if (username.includes('\0') || password.includes('\0')) throw badJson('username and password may not contain NUL');
      if (body.user_type != null && !USER_TYPES.has(body.user_type)) throw invalidParam('Invalid user type');
      checkPassword(password);
      const now = ctx.now();
      sweep(now);
      // The nonce is spent by any attempt, right or wrong.
      if (!nonces.delete(nonce)) throw new MatrixError(400, 'M_UNKNOWN', 'Unrecognised nonce');
      const admin = body.admin === true;
      const expected = Buffer.from(sharedSecretMac(secret, nonce, username, password, admin, body.user_type), 'utf8');
      const given = Buffer.from(mac.toLowerCase(), 'utf8');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw forbidden('HMAC incorrect');
      const localpart = localpartForUsername(username, ctx.config.serverName);
      const { userId, login } = await createAccount(ctx, {
        localpart,
        passwordHash: await hashPassword(password),
        admin,
        userType: body.user_type ?? null,
        displayName: body.displayname ?? localpart,
        login: { refresh: false },
      });
      return { user_id: userId, home_server: ctx.config.serverName, access_token: login?.access_token, device_id: login?.device_id };
    },
  });
}
