// `npm run bench -- federation [seconds]`: X-Matrix request authentication per second (keys cached by the
// keyring, PGlite behind it), for a bodiless GET and a PUT /send-sized body of 50 PDUs, and our signed key
// document (GET /_matrix/key/v2/server) served through Fastify's inject.
import type { BenchRow } from './run.ts';
import { normaliseConfig } from '../src/config/config.ts';
import { createFederation } from '../src/federation/index.ts';
import { authenticateRequest, signRequest } from '../src/federation/requestAuth.ts';
import { ownServerKeys } from '../src/federation/serverKeys.ts';
import { buildApp } from '../src/http/app.ts';
import { createHttpContext } from '../src/http/context.ts';
import type { UserData } from '../src/sync/userDataSource.ts';
import { createLogger } from '../src/log.ts';
import type { Notifier } from '../src/notifier.ts';
import type { JsonValue } from '../src/protocol/json.ts';
import { generateSigningKey } from '../src/protocol/signing.ts';
import type { RoomService } from '../src/rooms/service.ts';
import { migrate } from '../src/storage/migrations.ts';
import { openPglite } from '../src/storage/pglite.ts';
import { MIGRATIONS_DIR } from '../src/main.ts';

async function perSecond(seconds: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(); // warm up
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

function sendBody(): JsonValue {
  const pdus = Array.from({ length: 50 }, (_, i) => ({
    type: 'm.room.message',
    room_id: '!room:remote.example',
    sender: '@someone:remote.example',
    origin_server_ts: 1_700_000_000_000 + i,
    content: { msgtype: 'm.text', body: `message ${i} `.repeat(8) },
    depth: 100 + i,
    prev_events: [`$prev${i}abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG`],
    auth_events: ['$create', '$power', '$member'].map((e) => `${e}abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG`),
    hashes: { sha256: 'K3VpB0N5nMzBlpLVIb4h2pU7DcNwcQm07J1dG+Gg1Hc' },
    signatures: { 'remote.example': { 'ed25519:r1': 'x'.repeat(86) } },
  }));
  return { origin: 'remote.example', origin_server_ts: 1_700_000_000_000, pdus, edus: [] };
}

export async function run(args: string[]): Promise<BenchRow[]> {
  const seconds = Number(args[0] ?? 3);
  const db = await openPglite();
  await migrate(db, { migrationsDir: MIGRATIONS_DIR });
  const remoteKey = generateSigningKey('r1');
  const config = normaliseConfig({ server_name: 'us.example' }, {});
  const logger = createLogger({ level: 'silent' });
  const signingKey = generateSigningKey('us');
  const federation = await createFederation({
    config,
    db,
    signingKey,
    logger,
    fetcher: { request: async () => ({ status: 200, body: ownServerKeys('remote.example', remoteKey, Date.now()), headers: {} }) },
  });
  const options = { serverName: 'us.example', keys: federation.keyring, remoteUp: () => {}, now: Date.now };
  const rows: BenchRow[] = [];
  try {
    const getUri = '/_matrix/federation/v1/query/profile?user_id=%40a%3Aus.example';
    const getHeader = signRequest({ method: 'GET', uri: getUri, origin: 'remote.example', destination: 'us.example', key: remoteKey });
    rows.push({
      name: 'X-Matrix auth, GET without body',
      value: await perSecond(seconds, () =>
        authenticateRequest({ method: 'GET', uri: getUri, authorization: [getHeader], content: undefined }, options),
      ),
      unit: 'requests/s',
    });
    const body = sendBody();
    const putUri = '/_matrix/federation/v1/send/txn1';
    const putHeader = signRequest({ method: 'PUT', uri: putUri, origin: 'remote.example', destination: 'us.example', key: remoteKey, content: body });
    rows.push({
      name: 'X-Matrix auth, PUT /send with 50 PDUs',
      value: await perSecond(seconds, () => authenticateRequest({ method: 'PUT', uri: putUri, authorization: [putHeader], content: body }, options)),
      unit: 'requests/s',
      note: `${Buffer.byteLength(JSON.stringify(body))} byte body`,
    });
    const context = createHttpContext({ config, logger, db, signingKey, notifier: {} as Notifier, rooms: {} as RoomService, userData: {} as UserData, federation });
    const app = buildApp({ context });
    await app.ready();
    rows.push({
      name: 'GET /_matrix/key/v2/server (inject)',
      value: await perSecond(seconds, () => app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })),
      unit: 'requests/s',
    });
    await app.close();
  } finally {
    federation.close();
    await db.close();
  }
  return rows;
}
