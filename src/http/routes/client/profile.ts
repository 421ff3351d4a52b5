// GET /_matrix/client/v3/profile/{userId}; GET/PUT/DELETE /profile/{userId}/{keyName} (displayname, avatar_url,
// m.tz and custom namespaced fields). Only local users have profiles here (no federation query yet); a user may
// change only their own. Listeners in src/auth/hooks.ts (onProfileChanged) hear of every change.
import type { FastifyInstance } from 'fastify';
import { onProfileChanged, runListeners } from '../../../auth/hooks.ts';
import { isValidUserId } from '../../../protocol/identifiers.ts';
import { PostgresProfileStore } from '../../../storage/profiles.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, badJson, forbidden, invalidParam, missingParam, notFound, notJson } from '../../errors.ts';
import { route } from '../../routes.ts';
import { userExistsPerAppservice } from './appservice.ts';

const KEY_PATTERN = /^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/;
const MAX_KEY_BYTES = 255;
export const MAX_PROFILE_BYTES = 64 * 1024;
/** Longest display name accepted (Synapse's limit). */
export const MAX_DISPLAYNAME_LENGTH = 256;

function checkKey(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new MatrixError(400, 'M_KEY_TOO_LARGE', 'Profile keys may be at most 255 bytes');
  if (!KEY_PATTERN.test(key)) throw invalidParam('Invalid profile key');
}

/** The value to store for a field; undefined means delete it (an empty displayname or avatar_url clears it). */
function checkValue(key: string, value: unknown): unknown {
  if (key === 'displayname') {
    if (typeof value !== 'string') throw badJson('displayname: must be a string');
    if (value.length > MAX_DISPLAYNAME_LENGTH) throw invalidParam(`displayname: must be at most ${MAX_DISPLAYNAME_LENGTH} characters`);
    return value === '' ? undefined : value;
  }
  if (key === 'avatar_url') {
    if (typeof value !== 'string') throw badJson('avatar_url: must be a string');
    if (value === '') return undefined;
    if (!/^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/.test(value)) throw invalidParam('avatar_url: must be an mxc:// URI');
    return value;
  }
  if (key === 'm.tz' && typeof value !== 'string') throw badJson('m.tz: must be a string');
  return value;
}

export function registerProfile(app: FastifyInstance, ctx: HttpContext): void {
  const profiles = new PostgresProfileStore(ctx.db);

  async function localUser(userId: string): Promise<void> {
    if (!isValidUserId(userId)) throw invalidParam('Invalid user id');
    if (!userId.endsWith(`:${ctx.config.serverName}`)) throw notFound('Profile not found');
    // An unknown user in an application service's namespace: the service may create them when asked.
    if (!(await ctx.users.getUser(userId)) && !(await userExistsPerAppservice(ctx, userId))) throw notFound('Profile not found');
  }

  async function ownProfile(request: Parameters<typeof ctx.authenticate>[0], userId: string, key: string): Promise<void> {
    const requester = await ctx.authenticate(request);
    if (!isValidUserId(userId)) throw invalidParam('Invalid user id');
    if (requester.userId !== userId) throw forbidden("You cannot change another user's profile");
    checkKey(key);
  }

  async function changed(userId: string, field: string, value: unknown): Promise<void> {
    await runListeners(ctx, onProfileChanged, { userId, field, value, profile: await profiles.getProfile(userId) });
  }

  route(app, '/_matrix/client/v3/profile/:userId', {
    GET: async (request) => {
      const { userId } = request.params as { userId: string };
      await localUser(userId);
      return profiles.getProfile(userId);
    },
  });

  route(app, '/_matrix/client/v3/profile/:userId/:keyName', {
    GET: async (request) => {
      const { userId, keyName } = request.params as { userId: string; keyName: string };
      await localUser(userId);
      const value = KEY_PATTERN.test(keyName) ? await profiles.getField(userId, keyName) : undefined;
      if (value === undefined) throw notFound('Profile field not set');
      return { [keyName]: value };
    },
    PUT: async (request) => {
      const { userId, keyName } = request.params as { userId: string; keyName: string };
      await ownProfile(request, userId, keyName);
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw notJson('Request body is not a JSON object');
      if (!Object.hasOwn(body, keyName)) throw missingParam(`${keyName} is required`);
      const value = checkValue(keyName, (body as Record<string, unknown>)[keyName]);
      if (value === undefined) {
        await profiles.deleteField(userId, keyName);
      } else {
        const size = (await profiles.profileSize(userId, keyName)) + Buffer.byteLength(JSON.stringify({ [keyName]: value }), 'utf8');
        if (size > MAX_PROFILE_BYTES) throw new MatrixError(400, 'M_PROFILE_TOO_LARGE', 'Profiles may be at most 64 KiB');
        await profiles.setField(userId, keyName, value);
      }
      await changed(userId, keyName, value);
      return {};
    },
    DELETE: async (request) => {
      const { userId, keyName } = request.params as { userId: string; keyName: string };
      await ownProfile(request, userId, keyName);
      await profiles.deleteField(userId, keyName);
      await changed(userId, keyName, undefined);
      return {};
    },
  });
}
