// Synapse-compatible admin endpoints, so that existing tools (synapse-admin, scripts) work:
//   GET  /_synapse/admin/v1/server_version
//   GET  /_synapse/admin/v2/users                      list, with from/limit/user_id/name/guests/admins/deactivated/order_by/dir
//   GET  /_synapse/admin/v2/users/{userId}             query
//   PUT  /_synapse/admin/v2/users/{userId}             create (201) or modify (200): password, logout_devices,
//                                                      admin, deactivated, displayname, avatar_url, user_type
//   POST /_synapse/admin/v1/deactivate/{userId}         deactivate (devices and tokens deleted); erase is not supported
//   GET  /_synapse/admin/v1/federation/destinations    list (from the live destination actors; no rows yet)
//   GET  /_synapse/admin/v1/federation/destinations/{destination}
//   POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { onAccountDeactivated, onDevicesDeleted, onProfileChanged, runListeners } from '../../../auth/hooks.ts';
import { hashPassword } from '../../../auth/passwords.ts';
import { getUserSummary, listUsers, reactivate, setAdmin, setUserType, USER_ORDERS, userDetails } from '../../../admin/users.ts';
import type { ListUsersQuery } from '../../../admin/users.ts';
import type { ActorListing } from '../../../admin/actorsPort.ts';
import { PostgresAccountStore } from '../../../storage/accounts.ts';
import type { Queryable } from '../../../storage/database.ts';
import { PostgresDeviceStore } from '../../../storage/devices.ts';
import { PostgresProfileStore } from '../../../storage/profiles.ts';
import { validateUserLocalpart } from '../../../protocol/identifiers.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, invalidParam, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { actorsOf, boolParam, intParam, requireAdmin } from './requireAdmin.ts';

export const TROUPE_VERSION = '0.1.0';

const nullableString = { type: ['string', 'null'] };
const putUserSchema = {
  type: 'object',
  properties: {
    password: { type: 'string', maxLength: 512 },
    logout_devices: { type: 'boolean' },
    displayname: nullableString,
    avatar_url: nullableString,
    admin: { type: 'boolean' },
    deactivated: { type: 'boolean' },
    user_type: { enum: [null, 'bot', 'support'] },
    threepids: { type: 'array' },
    external_ids: { type: 'array' },
    locked: { type: 'boolean' },
  },
};

interface PutUserBody {
  password?: string;
  logout_devices?: boolean;
  displayname?: string | null;
  avatar_url?: string | null;
  admin?: boolean;
  deactivated?: boolean;
  user_type?: 'bot' | 'support' | null;
}

function localUser(ctx: HttpContext, userId: string, message: string): void {
  const at = userId.indexOf(':');
  if (!userId.startsWith('@') || at < 0 || userId.slice(at + 1) !== ctx.config.serverName) throw new MatrixError(400, 'M_UNKNOWN', message);
}

const query = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>;

function stringParam(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidParam(`Query parameter ${name} must be a string`);
  return v;
}

/** Synapse's destination object, from a destination actor's figures. */
function destinationOf(row: ActorListing): Record<string, unknown> {
  const f = row.figures;
  return {
    destination: row.id.slice('dest:'.length),
    retry_last_ts: typeof f['lastRetryTs'] === 'number' ? f['lastRetryTs'] : 0,
    retry_interval: typeof f['retryIntervalMs'] === 'number' ? f['retryIntervalMs'] : 0,
    failure_ts: typeof f['failureTs'] === 'number' ? f['failureTs'] : null,
    // Catch-up positions are stored by the federation sender (issue 8); none yet.
    last_successful_stream_ordering: null,
  };
}

export function registerSynapseAdmin(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_synapse/admin/v1/server_version', {
    GET: async () => ({ server_version: `Troupe ${TROUPE_VERSION}` }),
  });

  route(app, '/_synapse/admin/v2/users', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      const q = query(request);
      const orderBy = stringParam(q, 'order_by') ?? 'name';
      if (!USER_ORDERS.includes(orderBy as ListUsersQuery['orderBy'])) throw invalidParam(`Unknown order_by: ${orderBy}`);
      const dir = stringParam(q, 'dir') ?? 'f';
      if (dir !== 'f' && dir !== 'b') throw invalidParam('dir must be f or b');
      const from = intParam(q, 'from', 0);
      const limit = intParam(q, 'limit', 100);
      const name = stringParam(q, 'name');
      const userId = stringParam(q, 'user_id');
      const admins = boolParam(q, 'admins');
      const { users, total } = await listUsers(ctx.db, {
        from,
        limit,
        guests: boolParam(q, 'guests') ?? true,
        deactivated: boolParam(q, 'deactivated') ?? false,
        orderBy: orderBy as ListUsersQuery['orderBy'],
        dir,
        ...(name !== undefined ? { name } : {}),
        ...(userId !== undefined ? { userId } : {}),
        ...(admins !== undefined ? { admins } : {}),
      });
      return { users, total, ...(from + users.length < total ? { next_token: String(from + users.length) } : {}) };
    },
  });

  route(app, '/_synapse/admin/v2/users/:userId', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      const { userId } = request.params as { userId: string };
      localUser(ctx, userId, 'Can only look up local users');
      const user = await getUserSummary(ctx.db, userId);
      if (!user) throw notFound('User not found');
      return userDetails(user);
    },
    PUT: async (request, reply) => {
      const requester = await requireAdmin(ctx, request);
      const { userId } = request.params as { userId: string };
      localUser(ctx, userId, 'This endpoint can only be used with local users');
      const body = parseBody<PutUserBody>(putUserSchema, request.body);
      if (requester.userId === userId && body.admin === false) throw new MatrixError(400, 'M_UNKNOWN', 'You may not demote yourself.');
      if (requester.userId === userId && body.deactivated === true) throw new MatrixError(400, 'M_UNKNOWN', 'You may not deactivate yourself.');
      const existing = await getUserSummary(ctx.db, userId);
      if (!existing) {
        // New ids follow today's grammar (existing historical ids may still be modified).
        const valid = validateUserLocalpart(userId.slice(1, userId.indexOf(':')), ctx.config.serverName);
        if (!valid.ok) throw new MatrixError(400, 'M_INVALID_USERNAME', valid.reason);
      }
      const passwordHash = body.password !== undefined ? await hashPassword(body.password) : undefined;
      const now = ctx.now();
      let deletedDevices: string[] = [];
      let deactivated = false;
      const profile = new PostgresProfileStore(ctx.db);
      if (!existing) {
        if (body.deactivated === true) throw new MatrixError(400, 'M_UNKNOWN', 'Cannot create a deactivated user');
        await new PostgresAccountStore(ctx.db).createAccount({
          userId,
          passwordHash: passwordHash ?? null,
          admin: body.admin ?? false,
          userType: body.user_type ?? null,
          now,
        });
        // A new user's display name defaults to their localpart, as on registration.
        const localpart = userId.slice(1, userId.indexOf(':'));
        await profile.setField(userId, 'displayname', body.displayname ?? localpart);
        if (typeof body.avatar_url === 'string') await profile.setField(userId, 'avatar_url', body.avatar_url);
      } else {
        if (existing.deactivated && body.deactivated === false && passwordHash === undefined) {
          throw new MatrixError(400, 'M_UNKNOWN', 'Must provide a password to re-activate an account.');
        }
        deletedDevices = await ctx.db.transaction(async (tx: Queryable) => {
          const accounts = new PostgresAccountStore(tx);
          const devices = new PostgresDeviceStore(tx);
          let deleted: string[] = [];
          if (body.admin !== undefined) await setAdmin(tx, userId, body.admin);
          if (body.user_type !== undefined) await setUserType(tx, userId, body.user_type);
          if (body.deactivated === true && !existing.deactivated) {
            deleted = (await devices.listDevices(userId)).map((d) => d.deviceId);
            await devices.deleteDevices(userId);
            await accounts.deactivate(userId);
            deactivated = true;
          } else {
            if (body.deactivated === false && existing.deactivated) await reactivate(tx, userId);
            if (passwordHash !== undefined) {
              await accounts.setPasswordHash(userId, passwordHash);
              if (body.logout_devices !== false) {
                deleted = (await devices.listDevices(userId)).map((d) => d.deviceId);
                await devices.deleteDevices(userId);
              }
            }
          }
          return deleted;
        });
      }
      for (const field of ['displayname', 'avatar_url'] as const) {
        const value = body[field];
        if (value === undefined || !existing) continue;
        if (value === null) await profile.deleteField(userId, field);
        else await profile.setField(userId, field, value);
        await runListeners(ctx, onProfileChanged, { userId, field, value: value ?? undefined, profile: await profile.getProfile(userId) });
      }
      if (deletedDevices.length > 0) await runListeners(ctx, onDevicesDeleted, userId, deletedDevices);
      if (deactivated) await runListeners(ctx, onAccountDeactivated, userId);
      const user = await getUserSummary(ctx.db, userId);
      if (!user) throw notFound('User not found');
      return reply.code(existing ? 200 : 201).send(userDetails(user));
    },
  });

  route(app, '/_synapse/admin/v1/deactivate/:userId', {
    POST: async (request) => {
      const requester = await requireAdmin(ctx, request);
      const { userId } = request.params as { userId: string };
      localUser(ctx, userId, 'Can only deactivate local users');
      const body = request.body === undefined ? {} : parseBody<{ erase?: boolean }>({ type: 'object', properties: { erase: { type: 'boolean' } } }, request.body);
      if (body.erase === true) throw new MatrixError(400, 'M_UNKNOWN', 'Erasing users is not supported by this server');
      if (requester.userId === userId) throw new MatrixError(400, 'M_UNKNOWN', 'You may not deactivate yourself.');
      const user = await getUserSummary(ctx.db, userId);
      if (!user) throw notFound('User not found');
      if (!user.deactivated) {
        const deleted = await ctx.db.transaction(async (tx: Queryable) => {
          const devices = new PostgresDeviceStore(tx);
          const ids = (await devices.listDevices(userId)).map((d) => d.deviceId);
          await devices.deleteDevices(userId);
          await new PostgresAccountStore(tx).deactivate(userId);
          return ids;
        });
        await runListeners(ctx, onDevicesDeleted, userId, deleted);
        await runListeners(ctx, onAccountDeactivated, userId);
      }
      return { id_server_unbind_result: 'success' };
    },
  });

  const destinations = (): ActorListing[] =>
    actorsOf(ctx)
      .list()
      .filter((r) => r.kind === 'destination')
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  route(app, '/_synapse/admin/v1/federation/destinations', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      const q = query(request);
      const from = intParam(q, 'from', 0);
      const limit = intParam(q, 'limit', 100);
      const filter = stringParam(q, 'destination');
      const orderBy = stringParam(q, 'order_by') ?? 'destination';
      const orders = ['destination', 'retry_last_ts', 'retry_interval', 'failure_ts', 'last_successful_stream_ordering'];
      if (!orders.includes(orderBy)) throw invalidParam(`Unknown order_by: ${orderBy}`);
      const dir = stringParam(q, 'dir') ?? 'f';
      if (dir !== 'f' && dir !== 'b') throw invalidParam('dir must be f or b');
      let all = destinations().map(destinationOf);
      if (filter !== undefined) all = all.filter((d) => String(d['destination']).includes(filter));
      const key = (d: Record<string, unknown>) => d[orderBy] as string | number | null;
      all.sort((a, b) => {
        const x = key(a) ?? -Infinity;
        const y = key(b) ?? -Infinity;
        const c = x < y ? -1 : x > y ? 1 : 0;
        return dir === 'b' ? -c : c;
      });
      const page = all.slice(from, from + limit);
      return { destinations: page, total: all.length, ...(from + page.length < all.length ? { next_token: String(from + page.length) } : {}) };
    },
  });

  route(app, '/_synapse/admin/v1/federation/destinations/:destination', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      const { destination } = request.params as { destination: string };
      const row = destinations().find((r) => r.id === `dest:${destination}`);
      if (!row) throw notFound('Unknown destination');
      return destinationOf(row);
    },
  });

  route(app, '/_synapse/admin/v1/federation/destinations/:destination/reset_connection', {
    POST: async (request) => {
      await requireAdmin(ctx, request);
      const { destination } = request.params as { destination: string };
      const row = destinations().find((r) => r.id === `dest:${destination}`);
      if (!row) throw notFound('Unknown destination');
      if (row.state !== 'backingOff') {
        throw new MatrixError(400, 'M_UNKNOWN', 'The retry timing does not need to be reset for this destination.');
      }
      actorsOf(ctx).retry('destination', row.id);
      return {};
    },
  });
}
