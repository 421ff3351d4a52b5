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
import { appserviceActor, prepareAppservices } from '../actors/appservice.ts';
import { realClock, type SystemClock } from '../actors/clock.ts';
import { loadRegistrations } from './appservice/registration.ts';
import { Appservices } from './appservice/service.ts';
import { createAdminPort, type AdminPort } from '../actors/adminPort.ts';
import { createActorInspection, startInspectorRelay, type InspectorRelay } from '../actors/inspection.ts';
import { createMetrics, type TroupeMetrics } from './metrics/metrics.ts';
import { createFederation, type FederationServices } from './federation/index.ts';
import { RemoteEventHandler } from './federation/inbound/accept.ts';
import { InviteReceiver } from './federation/serving/invite.ts';
import { RemoteInviteRejecter } from './federation/serving/inviteRejection.ts';
import { EventStore } from './storage/events.ts';
import { RoomWriter } from './rooms/writer.ts';
import { RoomService } from './rooms/service.ts';
import { StreamIdGenerator } from './streams/idGenerator.ts';
import { StreamToken } from './streams/token.ts';
import { createSyncUserData, loadUserDataPositions, type UserData } from './sync/userDataSource.ts';
import { registerUserDataHooks } from './userData/hooks.ts';
import { onProfileChanged } from './auth/hooks.ts';
import { affectsMemberEvents, propagateProfile } from './rooms/profilePropagation.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

// Profile changes reach the user's member events. Hooks are per process and get the context of the server that
// made the change, so this is registered once, at module load, however many servers a process starts.
onProfileChanged.push(async (ctx, change) => {
  if (affectsMemberEvents(change.field)) await propagateProfile(ctx.rooms, ctx.logger, change.userId, change.profile);
});
registerUserDataHooks();

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
  /** The per-user data streams (what /sync collects besides rooms). */
  userData: UserData;
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
  /** The actor system's clock (tests run appservice back-off on a faster one). */
  clock?: SystemClock;
}

export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  // Everything started is torn down in reverse order, on a failed start as on close.
  const teardown: (() => unknown)[] = [];
  const tearDown = async () => {
    for (const step of teardown.splice(0).reverse()) await step();
  };
  try {
    // An invalid registration file stops startup (naming the file and the field) before anything is opened.
    const registrations = await loadRegistrations(config.appServiceConfigFiles, config.serverName);
    const signingKey = await loadOrCreateSigningKey(config.signingKeyPath, logger);
    const db = options.db ?? (await openStorage(config, logger));
    if (!options.db) teardown.push(() => db.close());
    // The events stream starts where storage left it; a syncing user's rooms come from their local memberships.
    const eventStore = new EventStore(db);
    const eventsPosition = await eventStore.maxStreamOrdering();
    const userDataPositions = await loadUserDataPositions(db, Date.now);
    // An authenticated request from a server wakes that server's destination actor, when one is running.
    const federation: FederationServices = await createFederation({
      config,
      db,
      signingKey,
      logger,
      remoteUp: (server) => void admin.retry('destination', `dest:${server}`),
    });
    teardown.push(() => federation.close());
    // The inspector relay before the actor system, so the supervisor's own registration reaches it.
    let relay: InspectorRelay | undefined;
    let inspection: ReturnType<typeof createActorInspection> | undefined;
    if (config.inspector.enabled) {
      const started = await startInspectorRelay({ port: config.inspector.port });
      relay = started;
      teardown.push(() => started.close());
      inspection = createActorInspection({ url: started.url, users: config.inspector.users });
      teardown.push(() => inspection?.stop());
      logger.info({ url: `http://127.0.0.1:${started.port}/`, users: config.inspector.users.length }, 'XState inspector relay listening');
    }
    const clock = options.clock ?? realClock;
    const eventsStream = new StreamIdGenerator({ stream: 'events', initialPosition: eventsPosition });
    const appservices = await prepareAppservices({
      db,
      registrations,
      events: eventStore,
      eventsPosition: () => eventsStream.position,
      ephemeralPositions: { receipts: userDataPositions.receipts, presence: userDataPositions.presence, toDevice: userDataPositions.to_device },
      clock,
      logger,
      transactionTimeoutMs: config.appServiceTransactionTimeoutMs,
    });
    const actors = startActorSystem({
      clock,
      appservices: appservices.actors,
      loadRoomsForUser: (userId) => eventStore.joinedRooms(userId),
      initialToken: StreamToken.of({ events: eventsPosition, ...userDataPositions }),
      ...(inspection ? { inspect: inspection.inspect } : {}),
    });
    teardown.push(() => actors.stop());
    const roomWriter = new RoomWriter({
      db,
      serverName: config.serverName,
      signingKey,
      notifier: actors.notifier,
      stream: eventsStream,
      now: Date.now,
    });
    const userData = createSyncUserData({
      db,
      notifier: actors.notifier,
      logger,
      serverName: config.serverName,
      presenceEnabled: config.presence.enabled,
      positions: userDataPositions,
      now: Date.now,
    });
    teardown.push(() => userData.close());
    appservices.builder.useEphemeral({
      positions: () => {
        const p = userData.positions();
        return { receipts: p.receipts, typing: p.typing, toDevice: p.to_device, presence: p.presence };
      },
      typingIn: (roomId) => userData.typing.typingIn(roomId),
    });
    const rooms = new RoomService({
      db,
      writer: roomWriter,
      serverName: config.serverName,
      now: Date.now,
      ignoredUsers: (userId) => userData.ignoredUsers(userId),
      remoteInvites: new RemoteInviteRejecter({
        db,
        writes: roomWriter,
        fetcher: federation.fetcher,
        notifier: actors.notifier,
        serverName: config.serverName,
        signingKey,
        logger: logger.child({ component: 'federation-invites' }),
        now: Date.now,
      }),
    });
    const admin = createAdminPort(actors);
    const metrics = createMetrics({ actors: admin, ...(db.poolUsage ? { poolUsage: () => db.poolUsage?.() } : {}) });
    appservices.useMetrics(metrics.appservice);
    const appserviceApi = new Appservices({
      registrations,
      pingSucceeded: (id) => appserviceActor(actors.supervisor, id)?.send({ type: 'PING_OK' }),
      roomAliasesChanged: (roomId) => appservices.builder.invalidateRoom(roomId),
    });
    const remoteEvents = new RemoteEventHandler({
      db,
      writer: roomWriter,
      keys: federation.keyring,
      fetcher: federation.fetcher,
      notifier: actors.notifier,
      serverName: config.serverName,
      logger: logger.child({ component: 'federation-inbound' }),
      now: Date.now,
    });
    const invites = new InviteReceiver({
      db,
      writes: roomWriter,
      keys: federation.keyring,
      notifier: actors.notifier,
      serverName: config.serverName,
      signingKey,
      now: Date.now,
    });
    const context = createHttpContext({ config, logger, db, signingKey, notifier: actors.notifier, rooms, userData, actors: admin, metrics, federation, remoteEvents, invites, appservices: appserviceApi });

    const https = config.tls
      ? { cert: await readFile(config.tls.certificatePath), key: await readFile(config.tls.privateKeyPath) }
      : undefined;
    const listeners: RunningServer['listeners'] = [];
    // Stop accepting, let in-flight requests finish, then cut whatever still hangs (long polls).
    teardown.push(async () => {
      const cut = setTimeout(() => {
        for (const { app } of listeners) app.server.closeAllConnections();
      }, SHUTDOWN_GRACE_MS);
      try {
        await Promise.all(listeners.map(({ app }) => app.close()));
      } finally {
        clearTimeout(cut);
      }
    });
    for (const listener of config.listeners) {
      for (const host of listener.bindAddresses) {
        const app = buildApp({
          context,
          serverOptions: { forceCloseConnections: 'idle', ...(listener.tls && https ? { https } : {}) },
          resources: listener.resources,
        });
        await app.listen({ host, port: listener.port });
        const { address, port } = app.server.address() as AddressInfo;
        const url = `${listener.tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${port}`;
        listeners.push({ app, url });
        logger.info({ url }, 'listening');
      }
    }

    let closing: Promise<void> | undefined;
    return {
      config,
      db,
      signingKey,
      actors,
      admin,
      metrics,
      userData,
      ...(relay ? { inspector: { url: relay.url, port: relay.port } } : {}),
      listeners,
      close: () => (closing ??= tearDown()),
    };
  } catch (error) {
    await tearDown();
    throw error;
  }
}
