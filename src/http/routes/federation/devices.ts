// Device and end-to-end key queries from remote servers: /user/devices/{userId}, /user/keys/query and
// /user/keys/claim. Troupe stores no device keys yet (no /keys/upload), and the spec requires `keys` on every listed
// device, so the device list holds only devices with keys (none for now) and the key answers are empty; the
// device list's stream_id is the user's position on the device lists stream.
import type { FastifyInstance } from 'fastify';
import { isValidUserId } from '../../../protocol/identifiers.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { params } from '../client/rooms.ts';
import { FEDERATION_V1 } from './events.ts';

const KEYS_QUERY_SCHEMA = {
  type: 'object',
  required: ['device_keys'],
  properties: { device_keys: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } } },
} as const;

const KEYS_CLAIM_SCHEMA = {
  type: 'object',
  required: ['one_time_keys'],
  properties: {
    one_time_keys: { type: 'object', additionalProperties: { type: 'object', additionalProperties: { type: 'string' } } },
  },
} as const;

export function registerFederationDeviceRoutes(scope: FastifyInstance, ctx: HttpContext): void {
  const local = (userId: string) => isValidUserId(userId) && userId.endsWith(`:${ctx.config.serverName}`);

  route(scope, `${FEDERATION_V1}/user/devices/:userId`, {
    GET: async (request) => {
      const userId = params(request)['userId'] ?? '';
      if (!isValidUserId(userId)) throw invalidParam(`${userId} is not a valid user id`);
      if (!local(userId)) throw invalidParam(`${userId} is not a user of this server`);
      if (!(await ctx.users.getUser(userId))) throw notFound(`Unknown user ${userId}`);
      const { rows } = await ctx.db.query<{ stream_id: number }>('SELECT stream_id FROM device_list_changes WHERE user_id = $1', [userId]);
      return { user_id: userId, stream_id: Number(rows[0]?.stream_id ?? 0), devices: [] };
    },
  });

  route(scope, `${FEDERATION_V1}/user/keys/query`, {
    POST: async (request) => {
      const body = parseBody<{ device_keys: Record<string, string[]> }>(KEYS_QUERY_SCHEMA, request.body);
      const deviceKeys: Record<string, Record<string, never>> = {};
      for (const userId of Object.keys(body.device_keys)) if (local(userId)) deviceKeys[userId] = {};
      return { device_keys: deviceKeys };
    },
  });

  route(scope, `${FEDERATION_V1}/user/keys/claim`, {
    POST: async (request) => {
      parseBody(KEYS_CLAIM_SCHEMA, request.body);
      return { one_time_keys: {} };
    },
  });
}
