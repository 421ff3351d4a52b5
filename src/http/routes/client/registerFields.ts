// A module of its own because register.ts and appservice.ts import each other: a constant either defines cannot be
// read by the other while the modules load.
import type { NewAccount } from './register.ts';

/** What every kind of registration (with a password, or by an application service) reads from the body. */
export interface RegisterLoginFields {
  username?: string;
  device_id?: string;
  initial_device_display_name?: string;
  inhibit_login?: boolean;
  refresh_token?: boolean;
}

export const REGISTER_LOGIN_PROPERTIES = {
  username: { type: 'string' },
  device_id: { type: 'string' },
  initial_device_display_name: { type: 'string' },
  inhibit_login: { type: 'boolean' },
  refresh_token: { type: 'boolean' },
} as const;

/** The device a registration logs in, or null for inhibit_login. */
export function requestedLogin(body: RegisterLoginFields): NewAccount['login'] {
  if (body.inhibit_login === true) return null;
  return { deviceId: body.device_id, displayName: body.initial_device_display_name, refresh: body.refresh_token === true };
}
