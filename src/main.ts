// The composition root: config -> data directory and signing key -> database and migrations -> actor system ->
// HTTP listeners. Only this file (and tests) assemble the parts.
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.ts';
import type { Logger } from './log.ts';
import { buildApp } from './http/app.ts';
import { loadOrCreateSigningKey, type SigningKey } from './keys/signingKey.ts';
import type { Database } from './storage/database.ts';
import { openDatabase } from './storage/open.ts';
import { migrate } from './storage/migrations.ts';
import { createHttpContext } from './http/context.ts';
import { startActorSystem, type TroupeActors } from '../actors/system.ts';
import { createAdminPort, type AdminPort } from '../actors/adminPort.ts';
import { createActorInspection, startInspectorRelay, type InspectorRelay } from '../actors/inspection.ts';
import { createMetrics, type TroupeMetrics } from './metrics/metrics.ts';
import { createFederation, type FederationServices } from './federation/index.ts';
import { EventStore } from './storage/events.ts';
import { RoomWriter } from './rooms/writer.ts';
import { RoomService } from './rooms/service.ts';
import { StreamIdGenerator } from './streams/idGenerator.ts';
import { StreamToken } from './streams/token.ts';
import { onProfileChanged } from './auth/hooks.ts';
import { affectsMemberEvents, propagateProfile } from './rooms/profilePropagation.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

// Profile changes reach the user's member events. Hooks are per process and get the context of the server that
// made the change, so this is registered once, at module load, however many servers a process starts.
onProfileChanged.push(async (ctx, change) => {
  if (affectsMemberEvents(change.field)) await propagateProfile(ctx.rooms, ctx.logger, change.userId, change.profile);
});

/** How long shutdown waits for in-flight requests before cutting connections. */
const SHUTDOWN_GRACE_MS = 3000;

export interface RunningServer {
  config: Config;
  db: Database;
  signingKey: SigningKey;
  actors: TroupeActors;
  /** The admin port on the actor system (admin API, admin page, metrics). */
  admin: AdminPort;
  metrics: TroupeMetrics;
  /** The XState inspector relay, when the inspector is enabled (`ws://127.0.0.1:<port>`). */
  inspector?: { url: string; port: number };
  /** Each listening app with the address it is bound to, e.g. `http://127.0.0.1:8008`. */
  listeners: { app: FastifyInstance; url: string }[];
  close(): Promise<void>;
}

export async function openStorage(config: Config, logger: Logger): Promise<Database> {
  await mkdir(config.dataDirectory, { recursive: true });
  const db = await openDatabase(config.database, logger);
  try {
    const { applied } = await migrate(db, { migrationsDir: MIGRATIONS_DIR, logger });
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    return db;
  } catch (error) {
    await db.close();
    throw error;
  }
}

export interface StartOptions {
  /** An open, migrated database to use instead of the configured one (tests); the caller closes it. */
  db?: Database;
}

export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const signingKey = await loadOrCreateSigningKey(config.signingKeyPath, logger);
  const db = options.db ?? (await openStorage(config, logger));
  // The events stream starts where storage left it; a syncing user's rooms come from their local memberships.
  const eventStore = new EventStore(db);
  const eventsPosition = await eventStore.maxStreamOrdering();
  // Before any actor runs, so a bad federation_custom_ca_list file leaves nothing behind. An authenticated request
  // from a server wakes that server's destination actor, when one is running (`admin` exists by the first request).
  let federation: FederationServices;
  try {
    federation = await createFederation({
      config,
      db,
      signingKey,
      logger,
      remoteUp: (server) => void admin.retry('destination', `dest:${server}`),
    });
  } catch (error) {
    if (!options.db) await db.close();
    throw error;
  }
  // The inspector relay first, so the supervisor's own registration reaches it.
  let relay: InspectorRelay | undefined;
  let inspection: ReturnType<typeof createActorInspection> | undefined;
  if (config.inspector.enabled) {
    try {
      relay = await startInspectorRelay({ port: config.inspector.port });
    } catch (error) {
      if (!options.db) await db.close();
      throw error;
    }
    inspection = createActorInspection({ url: relay.url, users: config.inspector.users });
    logger.info({ url: `http://127.0.0.1:${relay.port}/`, users: config.inspector.users.length }, 'XState inspector relay listening');
  }
  const stopInspection = async () => {
    inspection?.stop();
    await relay?.close();
  };
  const actors = startActorSystem({
    loadRoomsForUser: (userId) => eventStore.joinedRooms(userId),
    initialToken: StreamToken.of({ events: eventsPosition }),
    ...(inspection ? { inspect: inspection.inspect } : {}),
  });
  const eventsStream = new StreamIdGenerator({ stream: 'events', initialPosition: eventsPosition });
  const roomWriter = new RoomWriter({
    db,
    serverName: config.serverName,
    signingKey,
    notifier: actors.notifier,
    stream: eventsStream,
    now: Date.now,
  });
  const rooms = new RoomService({ db, writer: roomWriter, serverName: config.serverName, now: Date.now });
  const admin = createAdminPort(actors);
  const metrics = createMetrics({ actors: admin, ...(db.poolUsage ? { poolUsage: () => db.poolUsage?.() } : {}) });
  const context = createHttpContext({ config, logger, db, signingKey, notifier: actors.notifier, rooms, actors: admin, metrics, federation });
  const listeners: RunningServer['listeners'] = [];
  try {
    const https = config.tls
      ? { cert: await readFile(config.tls.certificatePath), key: await readFile(config.tls.privateKeyPath) }
      : undefined;
    for (const listener of config.listeners) {
      for (const host of listener.bindAddresses) {
        const app = buildApp({
          context,
          serverOptions: { forceCloseConnections: 'idle', ...(listener.tls && https ? { https } : {}) },
          resources: listener.resources,
        });
        await app.listen({ host, port: listener.port });
        const { address, port } = app.server.address() as AddressInfo;
        const scheme = listener.tls ? 'https' : 'http';
        const url = `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
        listeners.push({ app, url });
        logger.info({ url }, 'listening');
      }
    }
  } catch (error) {
    await Promise.all(listeners.map(({ app }) => app.close()));
    actors.stop();
    federation.close();
    await stopInspection();
    if (!options.db) await db.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Stop accepting, let in-flight requests finish, then cut whatever still hangs (long polls).
      const cut = setTimeout(() => {
        for (const { app } of listeners) app.server.closeAllConnections();
      }, SHUTDOWN_GRACE_MS);
      try {
        await Promise.all(listeners.map(({ app }) => app.close()));
      } finally {
        clearTimeout(cut);
        actors.stop();
        federation.close();
        await stopInspection();
        if (!options.db) await db.close();
      }
    })();
    return closing;
  };
  return {
    config,
    db,
    signingKey,
    actors,
    admin,
    metrics,
    ...(relay ? { inspector: { url: relay.url, port: relay.port } } : {}),
    listeners,
    close,
  };
}
