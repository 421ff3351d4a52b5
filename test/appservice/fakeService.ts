// A scriptable application service on a real loopback port, for tests: it records every transaction PUT to it
// (with the Authorization header it came with), answers according to `mode`, and answers pings, user and alias
// queries and third-party lookups from what the test sets.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** ok: 200 {}; a number: that status; hang: never answers; reset: drops the connection. */
export type ServiceMode = 'ok' | 'hang' | 'reset' | number;

export interface ReceivedTransaction {
  txnId: string;
  authorization: string | undefined;
  url: string;
  body: { events?: Record<string, unknown>[]; [key: string]: unknown };
}

export interface FakeService {
  url: string;
  port: number;
  /** Every transaction answered 2xx, in arrival order. */
  transactions: ReceivedTransaction[];
  /** Every PUT, answered or not. */
  attempts: number;
  mode: ServiceMode;
  /** Requests other than transactions: `${method} ${path}`. */
  requests: { method: string; url: string; authorization: string | undefined; body: string }[];
  /** Answers for GET /_matrix/app/v1/users/{id} and /rooms/{alias}: called with the decoded id; true: 200 {}. */
  onUserQuery?: (userId: string) => boolean | Promise<boolean>;
  onAliasQuery?: (alias: string) => boolean | Promise<boolean>;
  /** Third-party answers by path after /_matrix/app/v1/thirdparty/ (query string excluded). */
  thirdParty: Map<string, unknown>;
  /** Ping answer. */
  pingMode: ServiceMode;
  /** Resolves when `count` transactions have been received. */
  waitForTransactions(count: number, timeoutMs?: number): Promise<void>;
  waitForEvents(predicate: (events: Record<string, unknown>[]) => boolean, timeoutMs?: number): Promise<void>;
  allEvents(): Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startFakeService(port = 0): Promise<FakeService> {
  const sockets = new Set<Socket>();
  const waiters: (() => void)[] = [];
  const hanging: ServerResponse[] = [];
  const service: FakeService = {
    url: '',
    port: 0,
    transactions: [],
    attempts: 0,
    mode: 'ok',
    requests: [],
    thirdParty: new Map(),
    pingMode: 'ok',
    waitForTransactions: (count, timeoutMs) => waitFor(() => service.transactions.length >= count, timeoutMs),
    waitForEvents: (predicate, timeoutMs) => waitFor(() => predicate(service.allEvents()), timeoutMs),
    allEvents: () => service.transactions.flatMap((t) => t.body.events ?? []),
    close: async () => {
      for (const r of hanging) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function waitFor(done: () => boolean, timeoutMs = 20_000): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake service: timed out (${service.transactions.length} transactions)`)), timeoutMs);
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      waiters.push(check);
    });
  }

  function answer(res: ServerResponse, mode: ServiceMode, body = '{}'): boolean {
    if (mode === 'hang') {
      hanging.push(res);
      return false;
    }
    if (mode === 'reset') {
      res.socket?.destroy();
      return false;
    }
    const status = mode === 'ok' ? 200 : mode;
    res.writeHead(status, { 'content-type': 'application/json' }).end(status >= 200 && status < 300 ? body : '{"errcode":"M_UNKNOWN"}');
    return status >= 200 && status < 300;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const txn = /^\/_matrix\/app\/v1\/transactions\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'PUT' && txn) {
      service.attempts++;
      if (answer(res, service.mode)) {
        service.transactions.push({
          txnId: decodeURIComponent(txn[1] ?? ''),
          authorization: req.headers.authorization,
          url: req.url ?? '',
          body: JSON.parse(text) as ReceivedTransaction['body'],
        });
        for (const w of waiters.splice(0)) w();
      }
      return;
    }
    service.requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: text });
    if (url.pathname === '/_matrix/app/v1/ping') {
      answer(res, service.pingMode);
      return;
    }
    const user = /^\/_matrix\/app\/v1\/users\/([^/]+)$/.exec(url.pathname);
    if (user) {
      const ok = (await service.onUserQuery?.(decodeURIComponent(user[1] ?? ''))) ?? false;
      answer(res, ok ? 'ok' : 404);
      return;
    }
    const room = /^\/_matrix\/app\/v1\/rooms\/([^/]+)$/.exec(url.pathname);
    if (room) {
      const ok = (await service.onAliasQuery?.(decodeURIComponent(room[1] ?? ''))) ?? false;
      answer(res, ok ? 'ok' : 404);
      return;
    }
    const third = /^\/_matrix\/app\/v1\/thirdparty\/(.+)$/.exec(url.pathname);
    if (third && service.thirdParty.has(third[1] ?? '')) {
      answer(res, 'ok', JSON.stringify(service.thirdParty.get(third[1] ?? '')));
      return;
    }
    answer(res, 404);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  service.port = (server.address() as AddressInfo).port;
  service.url = `http://127.0.0.1:${service.port}`;
  return service;
}

export interface RegistrationFileOptions {
  id?: string;
  url: string | null;
  asToken?: string;
  hsToken?: string;
  senderLocalpart?: string;
  users?: { regex: string; exclusive: boolean }[];
  aliases?: { regex: string; exclusive: boolean }[];
  rooms?: { regex: string; exclusive: boolean }[];
  protocols?: string[];
  /** Written as MSC2409's unstable key when 'unstable'. */
  receiveEphemeral?: boolean | 'unstable';
  pushToDevice?: boolean;
}

/** Writes a registration file (JSON is YAML) to a fresh temporary directory and returns its path. */
export async function writeRegistration(options: RegistrationFileOptions): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-as-'));
  const file = path.join(dir, 'registration.yaml');
  await writeFile(
    file,
    JSON.stringify({
      id: options.id ?? 'bridge',
      url: options.url,
      as_token: options.asToken ?? 'as-secret-token',
      hs_token: options.hsToken ?? 'hs-secret-token',
      sender_localpart: options.senderLocalpart ?? 'bridgebot',
      namespaces: {
        users: options.users ?? [{ regex: '@bridge_.*', exclusive: true }],
        aliases: options.aliases ?? [{ regex: '#bridge_.*', exclusive: true }],
        rooms: options.rooms ?? [],
      },
      rate_limited: false,
      protocols: options.protocols ?? [],
      ...(options.receiveEphemeral === 'unstable'
        ? { 'de.sorunome.msc2409.push_ephemeral': true }
        : options.receiveEphemeral
          ? { receive_ephemeral: true }
          : {}),
      ...(options.pushToDevice !== undefined ? { push_to_device: options.pushToDevice } : {}),
    }),
  );
  return file;
}
