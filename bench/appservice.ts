// `npm run bench -- appservice [postgres://...] [--backlog N] [--live N] [--rounds R]`: events delivered to a
// local application service that answers every transaction at once (200 {} from a plain node:http server).
//
//   drain:  the service was DOWN while N events (default 100,000) were committed to a room one of its users is
//           joined to; Troupe boots with the service stored DOWN, an operator retry (RETRY_NOW) starts the
//           recoverer, and the time until the service has every event is measured: seconds, and events/s.
//           The backlog is written straight to the events table before boot (a generate_series insert: sending
//           100,000 events over HTTP would take minutes and measure the send path instead); between rounds the
//           service's position is put back, so each round drains the same backlog.
//   live:   with the service UP, 10 clients send N messages (default 3,000) over HTTP (bench/send/clients.ts, in a
//           worker); the events/s delivered and how long after the last send was answered the last event
//           arrived. The send path (see `send`) bounds this one.
// Median of R rounds (default 3). PostgreSQL when a URL is given (or TEST_DATABASE_URL), else PGlite in memory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BenchRow } from './run.ts';
import { addUser, arg, databaseUrlArg, median, openBackend, request } from './lib/harness.ts';
import { normaliseConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { startServer, type RunningServer } from '../src/main.ts';

const SERVER = 'bench.local';

/** The service: counts events, remembers the largest transaction, answers at once. */
function startService(): Promise<{ server: Server; url: string; events: () => number; maxTxn: () => number; reset(): void; waitFor(n: number): Promise<number> }> {
  let events = 0;
  let maxTxn = 0;
  let waiter: { n: number; resolve: (at: number) => void } | null = null;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'PUT') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: unknown[] };
        const n = body.events?.length ?? 0;
        events += n;
        maxTxn = Math.max(maxTxn, n);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (waiter && events >= waiter.n) {
        waiter.resolve(performance.now());
        waiter = null;
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        events: () => events,
        maxTxn: () => maxTxn,
        reset: () => {
          events = 0;
          maxTxn = 0;
        },
        waitFor: (n) =>
          events >= n ? Promise.resolve(performance.now()) : new Promise<number>((r) => (waiter = { n, resolve: r })),
      }),
    ),
  );
}

export async function run(args: string[]): Promise<BenchRow[]> {
  const url = databaseUrlArg(args);
  const backlog = arg(args, '--backlog', 100_000);
  const live = arg(args, '--live', 3000);
  const rounds = arg(args, '--rounds', 3);
  const backend = await openBackend(url, 'appservice');
  const db = backend.db;
  const service = await startService();
  const dataDirectory = await mkdtemp(path.join(tmpdir(), 'troupe-bench-as-'));
  const registration = path.join(dataDirectory, 'bench-registration.yaml');
  await writeFile(
    registration,
    JSON.stringify({
      id: 'bench',
      url: service.url,
      as_token: 'bench-as-token',
      hs_token: 'bench-hs-token',
      sender_localpart: 'benchbot',
      namespaces: { users: [{ regex: '@bench_.*', exclusive: true }], aliases: [], rooms: [] },
      rate_limited: false,
    }),
  );
  const config = normaliseConfig(
    { server_name: SERVER, data_directory: dataDirectory, listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }], app_service_config_files: [registration] } as Parameters<
      typeof normaliseConfig
    >[0],
    {},
  );
  const logger = createLogger({ level: 'silent' });
  let server: RunningServer = await startServer(config, logger, { db });
  const rows: BenchRow[] = [];
  try {
    const base = () => `${server.listeners[0]?.url}/_matrix/client/v3`;
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => addUser(db, `@sender${i}:${SERVER}`)));
    const bridged = await addUser(db, `@bench_bob:${SERVER}`);
    const owner = tokens[0] as string;
    const roomId = (await request(`${base()}/createRoom`, 'POST', owner, { preset: 'public_chat' }))['room_id'] as string;
    for (const token of [...tokens.slice(1), bridged]) await request(`${base()}/rooms/${encodeURIComponent(roomId)}/join`, 'POST', token, {});

    // Live: the service is UP and keeps up with the writer.
    let round = 0;
    const sendPhase = (total: number) =>
      new Promise<{ rate: number }>((resolve, reject) => {
        const worker = new Worker(new URL('./send/clients.ts', import.meta.url), {
          workerData: { base: base(), roomId: encodeURIComponent(roomId), tokens, perClient: Math.ceil(total / tokens.length), txnPrefix: `as${++round}-` },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    const warm = service.events();
    await sendPhase(500); // warm-up: JIT, connection pools, the room's cached state
    await service.waitFor(warm + 500);
    const liveRates: number[] = [];
    const lags: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const before = service.events();
      const total = Math.ceil(live / tokens.length) * tokens.length;
      const t0 = performance.now();
      await sendPhase(total);
      const sentAt = performance.now();
      const doneAt = await service.waitFor(before + total);
      liveRates.push(total / ((doneAt - t0) / 1000));
      lags.push(Math.max(0, doneAt - sentAt));
    }
    rows.push({
      name: 'live delivery (10 senders over HTTP)',
      value: median(liveRates),
      unit: 'events/s',
      note: `${backend.name}, ${live} messages per round, median of ${rounds}: ${liveRates.map((x) => Math.round(x)).join(', ')}; bounded by the send path`,
    });
    rows.push({ name: 'live: last event after last send answered', value: median(lags), unit: 'ms (median)' });

    // Drain: a backlog committed while the service was DOWN.
    await server.close();
    const { rows: pos } = await db.query<{ p: number }>('SELECT max(stream_ordering) AS p FROM events');
    const from = pos[0]?.p ?? 0;
    const now = Date.now();
    await db.query(
      `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu)
       SELECT $1::bigint + g, '$backlog' || g || ':${SERVER}', $2, 'm.room.message', NULL, $3, 100000 + g, $4::bigint,
         json_build_object('type', 'm.room.message', 'room_id', $2::text, 'sender', $3::text, 'depth', 100000 + g,
           'origin_server_ts', $4::bigint, 'content', json_build_object('msgtype', 'm.text', 'body', 'backlog ' || g),
           'prev_events', '[]'::json, 'auth_events', '[]'::json)::text
       FROM generate_series(1, $5::int) AS g`,
      [from, roomId, `@sender1:${SERVER}`, now, backlog],
    );
    const drains: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await db.query("UPDATE appservice_state SET stream_position = $1, state = 'down', backoff_step = 1 WHERE service_id = 'bench'", [from]);
      await db.query("DELETE FROM appservice_transactions WHERE service_id = 'bench'");
      server = await startServer(config, logger, { db });
      service.reset();
      const t0 = performance.now();
      if (!server.admin.retry('appservice', 'as:bench')) throw new Error('no as:bench actor');
      const doneAt = await service.waitFor(backlog);
      drains.push((doneAt - t0) / 1000);
      if (service.maxTxn() > 100) throw new Error(`a transaction carried ${service.maxTxn()} events`);
      if (r < rounds - 1) await server.close();
    }
    const drain = median(drains);
    rows.push({
      name: `drain ${backlog.toLocaleString('en')} events after an outage`,
      value: drain,
      unit: 's',
      note: `${backend.name}, median of ${rounds}: ${drains.map((x) => x.toFixed(2)).join(', ')} s`,
    });
    rows.push({ name: 'drain rate', value: backlog / drain, unit: 'events/s', note: 'transactions of 100 events, one in flight' });
  } finally {
    await server.close();
    await new Promise((resolve) => service.server.close(resolve));
    await backend.close();
    await rm(dataDirectory, { recursive: true, force: true });
  }
  return rows;
}
