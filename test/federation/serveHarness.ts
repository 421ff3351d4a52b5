// Test harness for the federation serving tests: Troupe on a real TLS port, a remote server played by the test (its
// own ed25519 key, over TLS too), signed federation requests from that remote, Client-Server requests for local
// users, and checks a remote server would make on what it is served (signatures, content hashes, auth chains).
import assert from 'node:assert/strict';
import type { JsonObject, JsonValue } from '../../src/protocol/json.ts';
import { computeEventId } from '../../src/protocol/eventIds.ts';
import { checkEventSignedBy, signEvent } from '../../src/protocol/pdu.ts';
import { checkContentHash } from '../../src/protocol/hashes.ts';
import { toRoomEvent } from '../../src/protocol/pdu.ts';
import type { RoomVersion } from '../../src/protocol/roomVersions.ts';
import { type SigningKey } from '../../src/protocol/signing.ts';
import type { TestBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer, type TestUser } from '../helpers/server.ts';
import type { TestCertificate } from '../helpers/certificate.ts';
import { federationTlsConfig, httpsJson, startRemoteServer, type RemoteServer } from './remoteServer.ts';

export interface Response {
  status: number;
  body: unknown;
}

export interface ServeHarness {
  troupe: TestServer;
  remote: RemoteServer;
  /** A federation request signed by the remote server (a string body is sent as is, unsigned content). */
  fed(method: string, path: string, body?: unknown, options?: { destination?: string; key?: SigningKey; headers?: Record<string, string> }): Promise<Response>;
  /** A Client-Server request as a local user. */
  client(user: TestUser, method: string, path: string, body?: unknown): Promise<Response>;
  createRoom(user: TestUser, body: JsonObject): Promise<string>;
  send(user: TestUser, roomId: string, text: string): Promise<string>;
  setState(user: TestUser, roomId: string, type: string, content: JsonObject, stateKey?: string): Promise<string>;
  /** Rows in `events`: to show a refused request stored nothing. */
  eventCount(): Promise<number>;
}

export async function startServeHarness(
  t: Parameters<typeof startTestServer>[0],
  backend: TestBackend,
  certificate: TestCertificate,
  config: Record<string, unknown> = {},
): Promise<ServeHarness> {
  const troupe = await startTestServer(t, {
    backend: backend.name,
    config: {
      listeners: [{ port: 0, bind_addresses: ['127.0.0.1'], tls: true }],
      ...federationTlsConfig(certificate),
      ...config,
    },
  });
  const remote = await startRemoteServer(t, certificate);
  const client = async (user: TestUser, method: string, path: string, body?: unknown) =>
    httpsJson(`${troupe.url}${path}`, { ca: certificate.cert, method, headers: { authorization: `Bearer ${user.accessToken}` }, body });
  const ok = (res: Response, what: string) => {
    assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
    return res.body as JsonObject;
  };
  let txn = 0;
  return {
    troupe,
    remote,
    fed: async (method, path, body, options = {}) => {
      const authorization = remote.sign(
        method,
        path,
        options.destination ?? troupe.serverName,
        typeof body === 'string' || body === undefined ? undefined : (body as JsonValue),
        options.key,
      );
      return httpsJson(`${troupe.url}${path}`, { ca: certificate.cert, method, headers: { authorization, ...options.headers }, body });
    },
    client,
    createRoom: async (user, body) => ok(await client(user, 'POST', '/_matrix/client/v3/createRoom', body), 'createRoom')['room_id'] as string,
    send: async (user, roomId, text) =>
      ok(
        await client(user, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t${++txn}`, { msgtype: 'm.text', body: text }),
        'send',
      )['event_id'] as string,
    setState: async (user, roomId, type, content, stateKey = '') =>
      ok(
        await client(user, 'PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/${encodeURIComponent(stateKey)}`, content),
        'state',
      )['event_id'] as string,
    eventCount: async () => {
      const { rows } = await troupe.running.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
      return Number(rows[0]?.n);
    },
  };
}

/** What a remote server checks on PDUs it is served: our signature and, unless redacted, the content hash. */
export function assertVerifiable(pdus: readonly JsonObject[], version: RoomVersion, troupe: TestServer, options: { redactedOk?: boolean } = {}): void {
  const key = troupe.running.signingKey;
  const keys = new Map([[key.keyId, { key: key.publicKey }]]);
  for (const pdu of pdus) {
    const sender = pdu['sender'] as string;
    if (sender.endsWith(`:${troupe.serverName}`)) {
      assert.ok(checkEventSignedBy(pdu, version, troupe.serverName, keys).ok, `signature of ${JSON.stringify(pdu).slice(0, 200)}`);
    }
    if (!options.redactedOk) assert.ok(checkContentHash(pdu, version), `content hash of ${JSON.stringify(pdu).slice(0, 200)}`);
  }
}

/** Every auth event of every event given is itself in `chain` (or among the events). */
export function assertAuthChainComplete(events: readonly JsonObject[], chain: readonly JsonObject[], version: RoomVersion): void {
  const ids = new Set([...events, ...chain].map((pdu) => toRoomEvent(pdu, version).event_id));
  for (const pdu of [...events, ...chain]) {
    for (const authId of toRoomEvent(pdu, version).auth_events) assert.ok(ids.has(authId), `auth event ${authId} is missing from the auth chain`);
  }
}

export const eventIdOf = (pdu: JsonObject, version: RoomVersion) => toRoomEvent(pdu, version).event_id;

/** The remote server signs a template it was given (as a real server does before send_join/leave/knock). */
export function signTemplate(h: ServeHarness, template: JsonObject, version: RoomVersion, key?: SigningKey): { eventId: string; pdu: JsonObject } {
  // Room versions 1 and 2: the server that makes the event names it.
  const named = version.eventFormat === 1 && template['event_id'] === undefined ? { ...template, event_id: `$${Math.random().toString(36).slice(2)}:${h.remote.serverName}` } : template;
  const pdu = signEvent(named, version, h.remote.serverName, key ?? h.remote.key);
  return { eventId: computeEventId(pdu, version), pdu };
}

/** make_<kind> then send_<kind> for a user of the remote server; returns the send response and the event. */
export async function remoteMembership(
  h: ServeHarness,
  kind: 'join' | 'leave' | 'knock',
  roomId: string,
  userId: string,
  version: RoomVersion,
): Promise<{ eventId: string; pdu: JsonObject; response: Response }> {
  const ver = kind === 'leave' ? '' : `?ver=${version.id}`;
  const made = await h.fed('GET', `/_matrix/federation/v1/make_${kind}/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}${ver}`);
  assert.equal(made.status, 200, `make_${kind}: ${JSON.stringify(made.body)}`);
  const { eventId, pdu } = signTemplate(h, (made.body as { event: JsonObject }).event, version);
  const prefix = kind === 'knock' ? '/_matrix/federation/v1' : '/_matrix/federation/v2';
  const response = await h.fed('PUT', `${prefix}/send_${kind}/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}`, pdu);
  return { eventId, pdu, response };
}
