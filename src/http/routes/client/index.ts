// The Client-Server API, registered area by area.
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { registerVersions } from './versions.ts';
import { registerWhoami } from './whoami.ts';
import { registerCreateRoom } from './createRoom.ts';
import { registerMembership } from './membership.ts';
import { registerMessages } from './messages.ts';
import { registerRoomReads } from './rooms.ts';
import { registerSend } from './send.ts';
import { registerState } from './state.ts';

export function registerClientRoutes(app: FastifyInstance, ctx: HttpContext): void {
  registerVersions(app);
  registerWhoami(app, ctx);
  registerCreateRoom(app, ctx);
  registerSend(app, ctx);
  registerState(app, ctx);
  registerMembership(app, ctx);
  registerRoomReads(app, ctx);
  registerMessages(app, ctx);
}
