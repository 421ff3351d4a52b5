// Everything a route handler may use, assembled once by src/main.ts. Handlers reach the actor system only
// through the notifier port.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { Notifier } from '../notifier.ts';
import type { SigningKey } from '../protocol/signing.ts';
import type { Database } from '../storage/database.ts';
import type { RoomService } from '../rooms/service.ts';
import type { ActorsPort } from '../admin/actorsPort.ts';
import type { TroupeMetrics } from '../metrics/metrics.ts';
import type { FederationServices } from '../federation/index.ts';
import type { RemoteEventHandler } from '../federation/inbound/accept.ts';
import type { InviteReceiver } from '../federation/serving/invite.ts';
import type { UserData } from '../sync/userDataSource.ts';
import { PostgresDeviceStore, type DeviceStore } from '../storage/devices.ts';
import { PostgresUserStore, type UserStore } from '../storage/users.ts';
import { authenticate, type Requester } from './auth.ts';
import type { Appservices } from '../appservice/service.ts';

export interface HttpContext {
  config: Config;
  logger: Logger;
  db: Database;
  signingKey: SigningKey;
  notifier: Notifier;
  users: UserStore;
  devices: DeviceStore;
  /** Rooms, events and membership (src/rooms). */
  rooms: RoomService;
  /** Per-user data streams: account data, receipts, typing, presence, to-device, device lists (src/sync/userDataSource.ts). */
  userData: UserData;
  /** The actor system as the admin API and page see it (absent when assembled without one). */
  actors?: ActorsPort;
  /** Prometheus metrics (absent when assembled without them). */
  metrics?: TroupeMetrics;
  /** Keyring, outbound client and remote-up port (src/federation); without it no federation or key routes. */
  federation?: FederationServices;
  /** Checks and stores PDUs received from other servers (src/federation/inbound); present with `federation`. */
  remoteEvents?: RemoteEventHandler;
  /** Invites of our users from other servers (src/federation/serving/invite.ts); present with `federation`. */
  invites?: InviteReceiver;
  /** Application services: as_token owners and homeserver -> service requests (absent: none registered). */
  appservices?: Appservices;
  /** Milliseconds since the Unix epoch; tests may pin it. */
  now(): number;
  /** The requester of an authenticated endpoint, or a 401 Matrix error. */
  authenticate(request: FastifyRequest): Promise<Requester>;
}

/** What src/main.ts hands over; the stores and `authenticate` are derived from it. */
export type HttpContextParts = Omit<HttpContext, 'users' | 'devices' | 'authenticate' | 'now'> & { now?: () => number };

export function createHttpContext(parts: HttpContextParts): HttpContext {
  const now = parts.now ?? Date.now;
  const devices = new PostgresDeviceStore(parts.db);
  const users = new PostgresUserStore(parts.db);
  return {
    ...parts,
    now,
    users,
    devices,
    authenticate: (request) => authenticate(request, devices, now(), { appservices: parts.appservices, users }),
  };
}
