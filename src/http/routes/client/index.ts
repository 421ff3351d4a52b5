// The Client-Server API, registered area by area.
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { registerVersions } from './versions.ts';
import { registerWhoami } from './whoami.ts';
import { registerAccount } from './account.ts';
import { registerAliases } from './aliases.ts';
import { registerCapabilities } from './capabilities.ts';
import { registerDevices } from './devices.ts';
import { registerDirectory } from './directory.ts';
import { registerLogin } from './login.ts';
import { registerProfile } from './profile.ts';
import { registerRegister } from './register.ts';
import { registerWellKnownClient } from './wellknown.ts';
import { registerCreateRoom } from './createRoom.ts';
import { registerMembership } from './membership.ts';
import { registerMessages } from './messages.ts';
import { registerRoomReads } from './rooms.ts';
import { registerSend } from './send.ts';
import { registerState } from './state.ts';
import { registerUserDirectory } from './userDirectory.ts';
import { registerRoomUpgrade } from './upgrade.ts';

export function registerClientRoutes(app: FastifyInstance, ctx: HttpContext): void {
  registerVersions(app);
  registerWhoami(app, ctx);
  registerRegister(app, ctx);
  registerLogin(app, ctx);
  registerAccount(app, ctx);
  registerDevices(app, ctx);
  registerProfile(app, ctx);
  registerCapabilities(app, ctx);
  registerWellKnownClient(app, ctx);
  registerCreateRoom(app, ctx);
  registerSend(app, ctx);
  registerState(app, ctx);
  registerMembership(app, ctx);
  registerRoomReads(app, ctx);
  registerMessages(app, ctx);
  registerAliases(app, ctx);
  registerDirectory(app, ctx);
  registerUserDirectory(app, ctx);
  registerRoomUpgrade(app, ctx);
}
