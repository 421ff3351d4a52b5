// GET /metrics: the Prometheus text format, on listeners whose resources include `metrics` (like Synapse,
// which serves metrics on a listener of their own; the default listener does not serve them).
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../../context.ts';
import { route } from '../../routes.ts';

export function registerMetrics(app: FastifyInstance, ctx: HttpContext): void {
  const metrics = ctx.metrics;
  if (!metrics) return;
  route(app, '/metrics', {
    GET: async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()),
  });
}
