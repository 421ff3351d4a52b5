import type { FastifyInstance } from 'fastify';
import { route } from '../routes.ts';

export function registerHealth(app: FastifyInstance): void {
  route(app, '/health', {
    GET: async (_request, reply) => reply.type('text/plain').send('OK'),
  });
}
