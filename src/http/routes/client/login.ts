// GET/POST /_matrix/client/v3/login (m.login.password), POST /refresh, POST /logout and /logout/all.
import type { FastifyInstance } from 'fastify';
import { onDevicesChanged, onDevicesDeleted, runListeners } from '../../../auth/hooks.ts';
import { hashAccessToken } from '../../../auth/accessTokens.ts';
import { checkPasswordLogin, issueLogin, issueTokens, requestedUserId } from '../../../auth/login.ts';
import type { Queryable } from '../../../storage/database.ts';
import { PostgresDeviceStore } from '../../../storage/devices.ts';
import { PostgresRefreshTokenStore } from '../../../storage/refreshTokens.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError, missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { checkDeviceFields } from './register.ts';
import { APPSERVICE_LOGIN_TYPE, loginAppserviceUser } from './appservice.ts';
import { parseBody } from '../../validate.ts';

interface LoginBody {
  type?: string;
  identifier?: unknown;
  user?: string;
  password?: string;
  device_id?: string;
  initial_device_display_name?: string;
  refresh_token?: boolean;
}

const loginSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    identifier: { type: 'object' },
    user: { type: 'string' },
    password: { type: 'string' },
    device_id: { type: 'string' },
    initial_device_display_name: { type: 'string' },
    refresh_token: { type: 'boolean' },
  },
};

const refreshSchema = { type: 'object', properties: { refresh_token: { type: 'string' } } };

export function registerLogin(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/login', {
    GET: async () => ({
      flows: [{ type: 'm.login.password' }, ...(ctx.appservices?.registrations.length ? [{ type: APPSERVICE_LOGIN_TYPE }] : [])],
    }),
    POST: async (request) => {
      const body = parseBody<LoginBody>(loginSchema, request.body);
      if (body.type === undefined) throw missingParam('type is required');
      if (body.type === APPSERVICE_LOGIN_TYPE && ctx.appservices?.registrations.length) {
        checkDeviceFields(body);
        return loginAppserviceUser(ctx, request, body as LoginBody & Record<string, unknown>);
      }
      if (body.type !== 'm.login.password') throw new MatrixError(400, 'M_UNKNOWN', `Unknown login type ${body.type}`);
      checkDeviceFields(body);
      const requested = requestedUserId(body as Record<string, unknown>, ctx.config.serverName);
      if (body.password === undefined) throw missingParam('password is required');
      const account = await checkPasswordLogin(ctx.db, requested, body.password);
      const issued = await ctx.db.transaction((tx: Queryable) =>
        issueLogin(tx, {
          userId: account.userId,
          deviceId: body.device_id,
          displayName: body.initial_device_display_name,
          refresh: body.refresh_token === true,
          now: ctx.now(),
        }),
      );
      await runListeners(ctx, onDevicesChanged, account.userId, [issued.device_id]);
      return { user_id: account.userId, home_server: ctx.config.serverName, ...issued };
    },
  });

  route(app, '/_matrix/client/v3/refresh', {
    POST: async (request) => {
      const body = parseBody<{ refresh_token?: string }>(refreshSchema, request.body);
      if (body.refresh_token === undefined) throw missingParam('refresh_token is required');
      const tokenHash = hashAccessToken(body.refresh_token);
      const issued = await ctx.db.transaction(async (tx: Queryable) => {
        const old = await new PostgresRefreshTokenStore(tx).takeRefreshToken(tokenHash);
        if (!old) return null;
        const { rows } = await tx.query<{ deactivated: boolean }>('SELECT deactivated FROM users WHERE user_id = $1', [old.userId]);
        if (rows[0]?.deactivated !== false) return null;
        await new PostgresDeviceStore(tx).deleteAccessToken(old.accessTokenHash);
        return issueTokens(tx, old.userId, old.deviceId, true, ctx.now());
      });
      if (!issued) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unknown refresh token', { soft_logout: false });
      return { access_token: issued.access_token, refresh_token: issued.refresh_token, expires_in_ms: issued.expires_in_ms };
    },
  });

  route(app, '/_matrix/client/v3/logout', {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      // Logging out deletes the device, and with it every token it holds.
      await new PostgresDeviceStore(ctx.db).deleteDevices(requester.userId, [requester.deviceId]);
      await runListeners(ctx, onDevicesDeleted, requester.userId, [requester.deviceId]);
      return {};
    },
  });

  route(app, '/_matrix/client/v3/logout/all', {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const devices = new PostgresDeviceStore(ctx.db);
      const ids = (await devices.listDevices(requester.userId)).map((d) => d.deviceId);
      await devices.deleteDevices(requester.userId);
      await runListeners(ctx, onDevicesDeleted, requester.userId, ids);
      return {};
    },
  });
}
