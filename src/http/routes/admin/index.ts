// Admin APIs (Synapse-compatible where tooling expects them).
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { registerSharedSecretRegistration } from './register.ts';

export function registerAdminRoutes(app: FastifyInstance, ctx: HttpContext): void {
  registerSharedSecretRegistration(app, ctx);
}
