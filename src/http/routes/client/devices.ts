// GET /_matrix/client/v3/devices, GET/PUT/DELETE /devices/{deviceId}, POST /delete_devices (the deletions behind
// user-interactive auth).
import type { FastifyInstance } from 'fastify';
import { onDevicesChanged, onDevicesDeleted, runListeners } from '../../../auth/hooks.ts';
import { PostgresDeviceStore, type Device } from '../../../storage/devices.ts';
import { isStorableText } from '../../../storage/text.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam, missingParam, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { requireAccountAuth } from './account.ts';
import { MAX_DEVICE_FIELD_LENGTH, checkParam } from './register.ts';
import { parseBody } from '../../validate.ts';

function deviceJson(device: Device): Record<string, unknown> {
  const json: Record<string, unknown> = { device_id: device.deviceId };
  if (device.displayName !== null) json['display_name'] = device.displayName;
  if (device.lastSeenIp !== null) json['last_seen_ip'] = device.lastSeenIp;
  if (device.lastSeenTs !== null) json['last_seen_ts'] = device.lastSeenTs;
  return json;
}

const renameSchema = { type: 'object', properties: { display_name: { type: 'string' } } };
const deleteSchema = { type: 'object', properties: { auth: { type: ['object', 'null'] } } };
const deleteManySchema = {
  type: 'object',
  properties: { auth: { type: ['object', 'null'] }, devices: { type: 'array', items: { type: 'string' } } },
};

export function registerDevices(app: FastifyInstance, ctx: HttpContext): void {
  route(app, '/_matrix/client/v3/devices', {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const devices = await ctx.devices.listDevices(requester.userId);
      return { devices: devices.map(deviceJson) };
    },
  });

  route(app, '/_matrix/client/v3/devices/:deviceId', {
    GET: async (request) => {
      const requester = await ctx.authenticate(request);
      const { deviceId } = request.params as { deviceId: string };
      // An id the database cannot hold names no device.
      const device = isStorableText(deviceId) ? await ctx.devices.getDevice(requester.userId, deviceId) : null;
      if (!device) throw notFound('No device with this id');
      return deviceJson(device);
    },
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const { deviceId } = request.params as { deviceId: string };
      const body = parseBody<{ display_name?: string }>(renameSchema, request.body);
      if (body.display_name !== undefined && body.display_name.length > MAX_DEVICE_FIELD_LENGTH) {
        throw invalidParam('display_name: must be at most 512 characters');
      }
      // Creating devices here is for application services only; a client may only update its own.
      const device = isStorableText(deviceId) ? await ctx.devices.getDevice(requester.userId, deviceId) : null;
      if (!device) throw notFound('No device with this id');
      if (body.display_name !== undefined) {
        await ctx.devices.setDisplayName(requester.userId, deviceId, body.display_name);
        await runListeners(ctx, onDevicesChanged, requester.userId, [deviceId]);
      }
      return {};
    },
    DELETE: async (request) => {
      const requester = await ctx.authenticate(request);
      const { deviceId } = request.params as { deviceId: string };
      checkParam('deviceId', deviceId);
      const body = parseBody<{ auth?: unknown }>(deleteSchema, request.body ?? {});
      await requireAccountAuth(ctx, request, requester, body.auth);
      // Deleting a device that does not exist (any more) succeeds: the outcome is the same.
      const deleted = await new PostgresDeviceStore(ctx.db).deleteDevices(requester.userId, [deviceId]);
      if (deleted > 0) await runListeners(ctx, onDevicesDeleted, requester.userId, [deviceId]);
      return {};
    },
  });

  route(app, '/_matrix/client/v3/delete_devices', {
    POST: async (request) => {
      const requester = await ctx.authenticate(request);
      const body = parseBody<{ auth?: unknown; devices?: string[] }>(deleteManySchema, request.body);
      if (body.devices === undefined) throw missingParam('devices is required');
      await requireAccountAuth(ctx, request, requester, body.auth);
      const existing = new Set((await ctx.devices.listDevices(requester.userId)).map((d) => d.deviceId));
      const ids = [...new Set(body.devices)].filter((id) => existing.has(id));
      if (ids.length > 0) {
        await ctx.devices.deleteDevices(requester.userId, ids);
        await runListeners(ctx, onDevicesDeleted, requester.userId, ids);
      }
      return {};
    },
  });
}
