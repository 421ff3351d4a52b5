// Hook points for other parts of the server to follow account changes. A listener is awaited before the request
// that made the change is answered; an error it throws is logged and does not fail that request.
//
//   onProfileChanged.push(async (ctx, change) => { ...send new m.room.member events into change.userId's rooms });
import type { HttpContext } from '../http/context.ts';

export interface ProfileChange {
  userId: string;
  field: string;
  /** The new value, or undefined when the field was deleted. */
  value: unknown;
  /** The whole profile after the change. */
  profile: Record<string, unknown>;
}

export type ProfileChangedListener = (ctx: HttpContext, change: ProfileChange) => Promise<void>;
export type DevicesDeletedListener = (ctx: HttpContext, userId: string, deviceIds: readonly string[]) => Promise<void>;
export type AccountDeactivatedListener = (ctx: HttpContext, userId: string) => Promise<void>;
export type DevicesChangedListener = (ctx: HttpContext, userId: string, deviceIds: readonly string[]) => Promise<void>;

/** After a profile field of a local user was set or deleted (displayname, avatar_url, m.tz, custom keys). */
export const onProfileChanged: ProfileChangedListener[] = [];
/** After devices were deleted (logout, /devices DELETE, /delete_devices, password change, deactivation). */
export const onDevicesDeleted: DevicesDeletedListener[] = [];
/** After devices were created or logged into again (login, registration) or renamed. */
export const onDevicesChanged: DevicesChangedListener[] = [];
/** After an account was deactivated (its devices are already deleted). */
export const onAccountDeactivated: AccountDeactivatedListener[] = [];

export async function runListeners<A extends unknown[]>(
  ctx: HttpContext,
  listeners: readonly ((ctx: HttpContext, ...args: A) => Promise<void>)[],
  ...args: A
): Promise<void> {
  for (const listener of listeners) {
    try {
      await listener(ctx, ...args);
    } catch (error) {
      ctx.logger.error({ err: error }, 'account hook failed');
    }
  }
}
