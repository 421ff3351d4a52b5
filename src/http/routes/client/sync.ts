// GET /_matrix/client/v3/sync: the parameters checked here, the response built by src/sync/service.ts. A long poll
// ends early when the client goes away.
import type { FastifyInstance } from 'fastify';
import { PostgresFilterStore } from '../../../storage/filters.ts';
import { StreamToken } from '../../../streams/token.ts';
import { SyncService } from '../../../sync/service.ts';
import type { PresenceState } from '../../../sync/userData.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { FilterResolver } from './filter.ts';
import { CLIENT_V3, query } from './rooms.ts';

/** Longer waits are cut to this: proxies in front of servers commonly drop idle requests after a few minutes. */
export const MAX_SYNC_TIMEOUT_MS = 5 * 60 * 1000;

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidParam(`${name} must be given once`);
  return value;
}

function parseTimeout(value: unknown): number {
  const text = single(value, 'timeout');
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,15}$/.test(text)) throw invalidParam('timeout must be a non-negative integer (milliseconds)');
  return Math.min(Number(text), MAX_SYNC_TIMEOUT_MS);
}

function parseBoolean(value: unknown, name: string): boolean {
  const text = single(value, name);
  if (text === undefined) return false;
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw invalidParam(`${name} must be true or false`);
}

function parsePresence(value: unknown): PresenceState {
  const text = single(value, 'set_presence');
  if (text === undefined) return 'online';
  if (text === 'online' || text === 'offline' || text === 'unavailable') return text;
  throw invalidParam('set_presence must be one of online, offline, unavailable');
}

function parseSince(value: unknown): StreamToken | undefined {
  const text = single(value, 'since');
  if (text === undefined || text === '') return undefined;
  const token = StreamToken.tryParse(text);
  if (!token) throw invalidParam('since is not a token this server gave out');
  return token;
}

export function registerSync(app: FastifyInstance, ctx: HttpContext): void {
  const filters = new FilterResolver(new PostgresFilterStore(ctx.db));
  const service = new SyncService({ db: ctx.db, notifier: ctx.notifier, userData: ctx.userData, now: () => ctx.now() });

  route(app, `${CLIENT_V3}/sync`, {
    GET: async (request, reply) => {
      const requester = await ctx.authenticate(request);
      const q = query(request);
      const since = parseSince(q['since']);
      const timeoutMs = parseTimeout(q['timeout']);
      const fullState = parseBoolean(q['full_state'], 'full_state');
      const setPresence = parsePresence(q['set_presence']);
      const stateAfter = parseBoolean(q['use_state_after'], 'use_state_after')
        ? 'stable'
        : parseBoolean(q['org.matrix.msc4222.use_state_after'], 'org.matrix.msc4222.use_state_after')
          ? 'unstable'
          : undefined;
      const filter = await filters.resolve(requester.userId, q['filter']);
      const abort = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) abort.abort();
      };
      reply.raw.once('close', onClose);
      try {
        const result = await service.sync(
          {
            userId: requester.userId,
            deviceId: requester.deviceId,
            ...(since ? { since } : {}),
            filter,
            fullState,
            timeoutMs,
            setPresence,
            ...(stateAfter ? { stateAfter } : {}),
          },
          abort.signal,
        );
        return result.body;
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  });
}
