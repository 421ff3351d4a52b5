// The admin page at /_troupe/admin: static HTML/JS/CSS from src/admin/page (no CDN, no build step), and a
// WebSocket at /_troupe/admin/ws that pushes the live actors as they change.
//
// WebSocket protocol (JSON text frames):
//   client -> { type: 'auth', access_token }            first message, within AUTH_TIMEOUT_MS (the token is never logged
//                                                       and never in the URL, so it cannot end up in access logs)
//   server -> { type: 'ready', user_id, machines: [{ kind, id, svg, states }] }
//   server -> { type: 'actors', now, actors, user_streams }   at once, then on every change (at most every
//                                                       THROTTLE_MS) and every REFRESH_MS (timers move)
//   server -> { type: 'error', errcode, error }          then the socket closes (4001 no/bad token, 4003 not an admin)
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WebSocket, WebSocketServer } from 'ws';
import { diagramSvg } from '../../../admin/diagram.ts';
import type { HttpContext } from '../../context.ts';
import { MatrixError } from '../../errors.ts';
import { route } from '../../routes.ts';
import { requireAdmin } from './requireAdmin.ts';

export const ADMIN_PAGE_PATH = '/_troupe/admin';
export const ADMIN_WS_PATH = '/_troupe/admin/ws';
const PAGE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'admin', 'page');
const THROTTLE_MS = 200;
const REFRESH_MS = 2000;
const AUTH_TIMEOUT_MS = 10_000;
/** A socket whose token was revoked or whose user stopped being an admin is closed within this long. */
const RECHECK_MS = 30_000;

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

// Everything from this origin only: no CDN, no inline script, not framable.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function load(file: string): string {
  return readFileSync(path.join(PAGE_DIR, file), 'utf8');
}

export function registerAdminPage(app: FastifyInstance, ctx: HttpContext): void {
  const actors = ctx.actors;
  if (!actors) return;
  const files = new Map<string, string>([['index.html', load('index.html')], ...Object.keys(ASSETS).map((f) => [f, load(f)] as [string, string])]);

  const page = async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(files.get('index.html'));
  route(app, ADMIN_PAGE_PATH, { GET: page });
  route(app, `${ADMIN_PAGE_PATH}/`, { GET: page });
  route(app, `${ADMIN_PAGE_PATH}/static/:file`, {
    GET: async (request, reply) => {
      const { file } = request.params as { file: string };
      const type = ASSETS[file];
      if (!type) throw new MatrixError(404, 'M_NOT_FOUND', 'No such file');
      return reply.headers(SECURITY_HEADERS).type(type).send(files.get(file));
    },
  });

  const machines = () => actors.machines().map((m) => ({ kind: m.kind, id: m.id, svg: diagramSvg(m), states: m.states.map((s) => s.path) }));
  const snapshot = () =>
    JSON.stringify({ type: 'actors', now: ctx.now(), actors: actors.list({ userStreams: false }), user_streams: actors.userStreamCounts() });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const log = ctx.logger.child({ component: 'admin-ws' });

  wss.on('connection', (socket: WebSocket) => {
    let authed = false;
    let last = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    let refresh: ReturnType<typeof setInterval> | undefined;
    let recheck: ReturnType<typeof setInterval> | undefined;
    let unsubscribe: (() => void) | undefined;
    const push = () => {
      timer = undefined;
      if (socket.readyState !== WebSocket.OPEN) return;
      const message = snapshot();
      if (message === last) return;
      last = message;
      socket.send(message);
    };
    const changed = () => {
      timer ??= setTimeout(push, THROTTLE_MS);
    };
    const fail = (code: number, error: MatrixError) => {
      socket.send(JSON.stringify({ type: 'error', errcode: error.errcode, error: error.message }));
      socket.close(code, error.errcode);
    };
    const authTimeout = setTimeout(() => fail(4001, new MatrixError(401, 'M_MISSING_TOKEN', 'No auth message')), AUTH_TIMEOUT_MS);
    socket.on('close', () => {
      clearTimeout(authTimeout);
      if (timer) clearTimeout(timer);
      if (refresh) clearInterval(refresh);
      if (recheck) clearInterval(recheck);
      unsubscribe?.();
    });
    socket.on('message', async (data) => {
      if (authed) return; // nothing else is accepted; actions go through the HTTP admin API
      clearTimeout(authTimeout);
      let token: unknown;
      try {
        token = (JSON.parse(data.toString()) as { type?: unknown; access_token?: unknown }).access_token;
      } catch {
        token = undefined;
      }
      if (typeof token !== 'string' || token === '') return fail(4001, new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token'));
      try {
        // The same checks as the HTTP admin API, on a request-shaped object carrying only the token.
        const asRequest = { headers: { authorization: `Bearer ${token}` }, query: {} } as FastifyRequest;
        const requester = await requireAdmin(ctx, asRequest);
        if (socket.readyState !== WebSocket.OPEN) return;
        authed = true;
        socket.send(JSON.stringify({ type: 'ready', user_id: requester.userId, machines: machines() }));
        push();
        unsubscribe = actors.subscribe(changed);
        refresh = setInterval(push, REFRESH_MS);
        recheck = setInterval(() => {
          requireAdmin(ctx, asRequest).catch((error: unknown) => {
            if (error instanceof MatrixError) fail(error.status === 403 ? 4003 : 4001, error);
            else socket.close(1011);
          });
        }, RECHECK_MS);
      } catch (error) {
        if (error instanceof MatrixError) return fail(error.status === 403 ? 4003 : 4001, error);
        log.error({ err: error }, 'admin page authentication failed');
        socket.close(1011);
      }
    });
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = (request.url ?? '').split('?')[0];
    if (pathname !== ADMIN_WS_PATH) {
      // Not ours: when nobody else handles upgrades on this server, answer rather than leave it hanging.
      if (app.server.listenerCount('upgrade') === 1) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
  app.server.on('upgrade', onUpgrade);
  // Before the server closes: it would otherwise wait for these upgraded connections forever.
  app.addHook('preClose', async () => {
    app.server.off('upgrade', onUpgrade);
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
}
