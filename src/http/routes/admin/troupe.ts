// Troupe's own admin endpoints (admins only):
//   GET  /_troupe/admin/v1/actors                       every live actor: id, kind, state, figures
//   GET  /_troupe/admin/v1/appservices                  appservice actors: state, backoff, next retry, position, backlog
//   GET  /_troupe/admin/v1/appservices/{id}
//   POST /_troupe/admin/v1/appservices/{id}/retry       retry now (RETRY_NOW to the actor)
//   POST /_troupe/admin/v1/destinations/{server}/retry  retry now (the destination wakes as if the server spoke)
//   GET  /_troupe/admin/v1/machines                     the machines' states and transitions
//   GET  /_troupe/admin/v1/machines/{kind}.svg          one machine drawn as SVG
import type { FastifyInstance } from 'fastify';
import type { ActorListing } from '../../../admin/actorsPort.ts';
import { diagramSvg } from '../../../admin/diagram.ts';
import type { HttpContext } from '../../context.ts';
import { notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { actorsOf, requireAdmin } from './requireAdmin.ts';

function appserviceOf(row: ActorListing): Record<string, unknown> {
  const f = row.figures;
  const position = typeof f['position'] === 'number' ? f['position'] : 0;
  const notified = typeof f['notifiedPosition'] === 'number' ? f['notifiedPosition'] : position;
  return {
    id: row.id.slice('as:'.length),
    state: row.state,
    status: f['status'] ?? null,
    backoff_step: f['backoffStep'] ?? 0,
    next_retry_at: f['nextRetryAt'] ?? null,
    position,
    notified_position: notified,
    // Stream positions known to be past the stored one (events waiting for this service).
    backlog: Math.max(0, notified - position),
    in_flight_txn_id: f['inFlightTxnId'] ?? null,
    transactions_sent: f['transactionsSent'] ?? 0,
    transactions_failed: f['transactionsFailed'] ?? 0,
    last_failure: f['lastFailure'] ?? null,
  };
}

export function registerTroupeAdmin(app: FastifyInstance, ctx: HttpContext): void {
  const appservices = () => actorsOf(ctx).list().filter((r) => r.kind === 'appservice');

  route(app, '/_troupe/admin/v1/actors', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      return { actors: actorsOf(ctx).list() };
    },
  });

  route(app, '/_troupe/admin/v1/appservices', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      return { appservices: appservices().map(appserviceOf) };
    },
  });

  route(app, '/_troupe/admin/v1/appservices/:id', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      const { id } = request.params as { id: string };
      const row = appservices().find((r) => r.id === `as:${id}`);
      if (!row) throw notFound('Unknown appservice');
      return appserviceOf(row);
    },
  });

  route(app, '/_troupe/admin/v1/appservices/:id/retry', {
    POST: async (request) => {
      await requireAdmin(ctx, request);
      const { id } = request.params as { id: string };
      if (!actorsOf(ctx).retry('appservice', `as:${id}`)) throw notFound('Unknown appservice');
      return {};
    },
  });

  route(app, '/_troupe/admin/v1/destinations/:server/retry', {
    POST: async (request) => {
      await requireAdmin(ctx, request);
      const { server } = request.params as { server: string };
      if (!actorsOf(ctx).retry('destination', `dest:${server}`)) throw notFound('Unknown destination');
      return {};
    },
  });

  route(app, '/_troupe/admin/v1/machines', {
    GET: async (request) => {
      await requireAdmin(ctx, request);
      return { machines: actorsOf(ctx).machines() };
    },
  });

  route(app, '/_troupe/admin/v1/machines/:file', {
    GET: async (request, reply) => {
      await requireAdmin(ctx, request);
      const { file } = request.params as { file: string };
      const kind = file.replace(/\.svg$/, '');
      const diagram = actorsOf(ctx).machines().find((m) => m.kind === kind);
      if (!diagram || !file.endsWith('.svg')) throw notFound('Unknown machine');
      return reply.type('image/svg+xml').send(diagramSvg(diagram));
    },
  });
}
