// Registering routes: each path declares its methods; every other method on a known path answers
// 405 M_UNRECOGNIZED, as the spec asks, instead of falling through to 404.
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import { MatrixError } from './errors.ts';

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
const METHODS: readonly Method[] = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'];

export function route(app: FastifyInstance, url: string, handlers: Partial<Record<Method, RouteHandlerMethod>>): void {
  for (const method of METHODS) {
    const handler = handlers[method];
    if (handler) {
      app.route({ method, url, handler });
    }
  }
  const others = METHODS.filter((m) => !handlers[m]);
  if (others.length > 0) {
    app.route({
      method: others,
      url,
      handler: async () => {
        throw new MatrixError(405, 'M_UNRECOGNIZED', 'Unrecognized request: method not allowed on this endpoint');
      },
    });
  }
}
