// Admin APIs (Synapse-compatible where tooling expects them).
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { registerSharedSecretRegistration } from './register.ts';
import { registerSynapseAdmin } from './synapse.ts';
import { registerRegistrationTokensAdmin } from './registrationTokens.ts';
import { registerTroupeAdmin } from './troupe.ts';
import { registerAdminPage } from './page.ts';

export function registerAdminRoutes(app: FastifyInstance, ctx: HttpContext): void {
  registerSharedSecretRegistration(app, ctx);
  registerSynapseAdmin(app, ctx);
  registerRegistrationTokensAdmin(app, ctx);
  registerTroupeAdmin(app, ctx);
  registerAdminPage(app, ctx);
}
