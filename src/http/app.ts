// buildApp(deps): one Fastify app with every route registered explicitly by area, and Matrix errors for
// everything that goes wrong. It does not listen; main.ts and tests decide how to serve it.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { redactUrl } from '../log.ts';
import type { HttpContext } from './context.ts';
import { MatrixError, badJson, notJson, tooLarge, unrecognized } from './errors.ts';
import { unstorableText } from '../storage/text.ts';
import { registerHealth } from './routes/health.ts';
import { registerClientRoutes } from './routes/client/index.ts';
import { registerAdminRoutes } from './routes/admin/index.ts';
import { registerMetrics } from './routes/admin/metrics.ts';
import type { ListenerResource } from '../config/config.ts';
import { registerKeyRoutes } from './routes/keys/index.ts';
import { registerFederationRoutes } from './routes/federation/index.ts';

export interface AppDeps {
  context: HttpContext;
  /** Largest accepted request body. Events are limited to 65,536 bytes elsewhere; this bounds everything. */
  bodyLimit?: number;
  /** Extra options for the underlying server (e.g. `https` for a TLS listener). */
  serverOptions?: Pick<FastifyServerOptions, 'forceCloseConnections'> & { https?: { cert: Buffer; key: Buffer } };
  /** What this listener serves; `/metrics` only where `metrics` is listed. Default: everything but metrics. */
  resources?: readonly ListenerResource[];
}

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
};

const DEFAULT_BODY_LIMIT = 1024 * 1024;

function parseJson(body: string): unknown {
  if (body.length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw notJson();
  }
  // Strings PostgreSQL cannot store are refused here, once for every endpoint, rather than failing in a query.
  const where = unstorableText(value);
  if (where !== null) throw badJson(`${where}: strings may not contain NUL or unpaired surrogates`);
  return value;
}

function toMatrixError(error: FastifyError | MatrixError | Error): MatrixError | undefined {
  if (error instanceof MatrixError) return error;
  const code = (error as FastifyError).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return tooLarge();
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY') return notJson();
  if ((error as FastifyError).validation) return new MatrixError(400, 'M_BAD_JSON', error.message);
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) return new MatrixError(status, 'M_UNKNOWN', error.message);
  return undefined;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const log = deps.context.logger.child({ component: 'http' });
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Matrix clients send ids with ':' and '!' in paths; keep the router lenient about them.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 1024 },
    // The router refuses some URLs before any route runs (bad percent-encoding, over-long ids): still Matrix errors.
    frameworkErrors: (error: FastifyError, _request: unknown, reply: FastifyReply) => {
      const matrixError =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new MatrixError(414, 'M_TOO_LARGE', 'A path parameter is too long')
          : new MatrixError(400, 'M_UNRECOGNIZED', 'The request path is not valid URL encoding');
      reply.headers(CORS_HEADERS).code(matrixError.status).send(matrixError.toJSON());
    },
    ...(deps.serverOptions ?? {}),
  } as FastifyServerOptions);

  // Bodies are JSON whatever content type a client declares (some send none); media upload registers its own.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Callback hooks rather than async ones: they run for every request, and a thousand long polls answer at once.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(CORS_HEADERS);
    (request as { startedAt?: bigint }).startedAt = process.hrtime.bigint();
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const startedAt = (request as { startedAt?: bigint }).startedAt ?? process.hrtime.bigint();
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    // By route pattern (never the raw URL, which holds ids and would make unbounded label values).
    deps.context.metrics?.observeHttp(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, seconds);
    if (log.isLevelEnabled('info')) {
      log.info({ method: request.method, url: redactUrl(request.url), status: reply.statusCode, ms: seconds * 1000 }, 'request');
    }
    done();
  });

  // Pre-flight requests: the CORS headers for any path.
  app.options('*', async (_request, reply) => reply.code(204).send());

  app.setNotFoundHandler(async (_request, reply) => {
    const error = unrecognized();
    return reply.code(error.status).send(error.toJSON());
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const matrixError = toMatrixError(error);
    if (matrixError) return reply.code(matrixError.status).send(matrixError.toJSON());
    log.error({ err: error, method: request.method, url: redactUrl(request.url) }, 'request failed');
    return reply.code(500).send({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
  });

  // What a listener serves, by its resources (Synapse's convention: `client` includes the admin APIs, `federation`
  // includes the key server). Without resources, everything but metrics.
  const serves = (resource: ListenerResource) => !deps.resources || deps.resources.includes(resource);
  registerHealth(app);
  if (serves('client')) registerClientRoutes(app, deps.context);
  if (serves('client') || serves('admin')) registerAdminRoutes(app, deps.context);
  if (deps.resources?.includes('metrics')) registerMetrics(app, deps.context);
  const federation = deps.context.federation;
  if (federation && (serves('federation') || serves('keys'))) registerKeyRoutes(app, deps.context, federation);
  if (federation && serves('federation')) registerFederationRoutes(app, deps.context, federation);
  return app;
}
