// POST /_matrix/client/v3/account/password and /account/deactivate, both behind user-interactive auth; and
// `requireAccountAuth`, the UIA every authenticated account operation uses (devices too).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { onAccountDeactivated, onDevicesDeleted, runListeners } from '../../../auth/hooks.ts';
import { passwordStage } from '../../../auth/login.ts';
import { hashPassword } from '../../../auth/passwords.ts';
import { dummyStage, requireUserInteractiveAuth, type UiaFlow } from '../../../auth/uia.ts';
import { PostgresAccountStore } from '../../../storage/accounts.ts';
import type { Queryable } from '../../../storage/database.ts';
import { PostgresDeviceStore } from '../../../storage/devices.ts';
import { PostgresUiaSessionStore } from '../../../storage/uia.ts';
import type { Requester } from '../../auth.ts';
import type { HttpContext } from '../../context.ts';
import { missingParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { checkPassword } from './register.ts';
import { parseBody } from '../../validate.ts';

/**
 * User-interactive auth for an operation on the requester's own account: m.login.password with their password.
 * An account that has no password (registered without one) has nothing more to prove than its access token, so
 * it is offered m.login.dummy instead.
 */
export async function requireAccountAuth(ctx: HttpContext, request: FastifyRequest, requester: Requester, auth: unknown): Promise<void> {
  const account = await new PostgresAccountStore(ctx.db).getAccount(requester.userId);
  const hasPassword = account?.passwordHash != null;
  const flows: UiaFlow[] = hasPassword ? [{ stages: ['m.login.password'] }] : [{ stages: ['m.login.dummy'] }];
  const path = request.url.split('?')[0] ?? request.url;
  await requireUserInteractiveAuth(auth, {
    store: new PostgresUiaSessionStore(ctx.db),
    now: ctx.now(),
    operation: `${request.method} ${path}`,
    userId: requester.userId,
    flows,
    stages: hasPassword ? { 'm.login.password': passwordStage(ctx.db, ctx.config.serverName) } : { 'm.login.dummy': dummyStage },
  });
}

const passwordSchema = {
  type: 'object',
  properties: {
    auth: { type: ['object', 'null'] },
    new_password: { type: 'string' },
    logout_devices: { type: 'boolean' },
  },
};

const deactivateSchema = {
  type: 'object',
  properties: {
    auth: { type: ['object', 'null'] },
    erase: { type: 'boolean' },
    id_server: { type: 'string' },
  },
};

export function registerAccount(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/account/password', {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const body = parseBody<{ auth?: unknown; new_password?: string; logout_devices?: boolean }>(passwordSchema, request.body);
      if (body.new_password === undefined) throw missingParam('new_password is required');
      checkPassword(body.new_password);
      await requireAccountAuth(ctx, request, requester, body.auth);
      const passwordHash = await hashPassword(body.new_password);
      const deleted = await ctx.db.transaction(async (tx: Queryable) => {
        await new PostgresAccountStore(tx).setPasswordHash(requester.userId, passwordHash);
        if (body.logout_devices === false) return [];
        // Every other device is logged out, and every other token of this device; the request's own stays.
        const devices = new PostgresDeviceStore(tx);
        const others = await devices.deleteOtherDevices(requester.userId, requester.deviceId);
        await devices.deleteDeviceTokens(requester.userId, requester.deviceId, requester.tokenHash);
        return others;
      });
      if (deleted.length > 0) await runListeners(ctx, onDevicesDeleted, requester.userId, deleted);
      return {};
    },
  });

  route(app, '/_matrix/client/v3/account/deactivate', {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const body = parseBody<{ auth?: unknown; erase?: boolean; id_server?: string }>(deactivateSchema, request.body);
      await requireAccountAuth(ctx, request, requester, body.auth);
      const deleted = await ctx.db.transaction(async (tx: Queryable) => {
        const devices = new PostgresDeviceStore(tx);
        const ids = (await devices.listDevices(requester.userId)).map((d) => d.deviceId);
        await devices.deleteDevices(requester.userId);
        await new PostgresAccountStore(tx).deactivate(requester.userId);
        return ids;
      });
      await runListeners(ctx, onDevicesDeleted, requester.userId, deleted);
      await runListeners(ctx, onAccountDeactivated, requester.userId);
      // This server binds no third-party ids, so there is nothing left bound anywhere.
      return { id_server_unbind_result: 'success' };
    },
  });
}
