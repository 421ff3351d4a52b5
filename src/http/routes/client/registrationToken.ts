// GET /_matrix/client/v1/register/m.login.registration_token/validity (spec v1.2): whether a registration token
// could be used now. Rate limited per client address (rc_registration_token_validity), as the spec asks, since it
// answers guesses.
import type { FastifyInstance } from 'fastify';
import { REGISTRATION_TOKEN_PATTERN } from '../../../auth/registrationTokens.ts';
import { isTokenValid, PostgresRegistrationTokenStore } from '../../../storage/registrationTokens.ts';
import type { HttpContext } from '../../context.ts';
import { forbidden, invalidParam, missingParam } from '../../errors.ts';
import { RateLimiter } from '../../rateLimiter.ts';
import { route } from '../../routes.ts';

export function registerRegistrationTokenValidity(app: FastifyInstance, ctx: HttpContext): void {
  const limiter = new RateLimiter(ctx.config.rateLimits['rc_registration_token_validity'] ?? { perSecond: 0.1, burstCount: 5 });
  route(app, '/_matrix/client/v1/register/m.login.registration_token/validity', {
    GET: async (request) => {
      if (!ctx.config.enableRegistration) throw forbidden('Registration is not enabled on this homeserver.');
      const token = (request.query as Record<string, unknown>)['token'];
      if (token === undefined) throw missingParam('token is required');
      if (typeof token !== 'string') throw invalidParam('token: must be given once');
      limiter.take(request.ip, ctx.now());
      if (!REGISTRATION_TOKEN_PATTERN.test(token)) return { valid: false };
      const found = await new PostgresRegistrationTokenStore(ctx.db).get(token, ctx.now());
      return { valid: found !== null && isTokenValid(found, ctx.now()) };
    },
  });
}
