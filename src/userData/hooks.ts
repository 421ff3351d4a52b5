// Account changes the per-user data streams follow: devices created, renamed or deleted change the user's device
// list; deleted devices' to-device queues go.
import { onDevicesChanged, onDevicesDeleted } from '../auth/hooks.ts';

let registered = false;

/** Hooks are per process; registering twice would announce every change twice. */
export function registerUserDataHooks(): void {
  if (registered) return;
  registered = true;
  onDevicesChanged.push(async (ctx, userId) => {
    await ctx.userData.deviceLists.changed(userId);
  });
  onDevicesDeleted.push(async (ctx, userId, deviceIds) => {
    await ctx.userData.toDevice.devicesDeleted(userId, deviceIds);
    await ctx.userData.deviceLists.changed(userId);
  });
}
