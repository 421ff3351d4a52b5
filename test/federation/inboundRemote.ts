// A remote server taking part in one of Troupe's rooms, for the inbound federation tests: Troupe on a real TLS port,
// the remote played by the test (test/federation/remoteServer.ts) with its own key, one of our rooms created by a
// local user, and helpers that build the remote's events the way a real server would (prev_events = our forward
// extremities, auth events chosen from our current state, signed with the remote's key) and send them in signed
// transactions.
import { randomBytes } from 'node:crypto';
import { authTypesForEvent } from '../../src/protocol/authRules.ts';
import { encodeBase64 } from '../../src/protocol/base64.ts';
import { computeReferenceHash } from '../../src/protocol/hashes.ts';
import { computeEventId } from '../../src/protocol/eventIds.ts';
import type { JsonObject, JsonValue } from '../../src/protocol/json.ts';
import { signEvent } from '../../src/protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import type { SigningKey } from '../../src/protocol/signing.ts';
import { EventStore } from '../../src/storage/events.ts';
import type { AfterHook, TestBackend } from '../helpers/database.ts';
import type { TestCertificate } from '../helpers/certificate.ts';
import { startTestServer, type TestServer, type TestUser } from '../helpers/server.ts';
import { federationTlsConfig, httpsJson, startRemoteServer, type RemoteServer } from './remoteServer.ts';

export interface BuiltEvent {
  eventId: string;
  pdu: JsonObject;
}

export interface EventFields {
  type: string;
  sender: string;
  stateKey?: string;
  content: JsonObject;
  /** Default: Troupe's forward extremities. */
  prevEvents?: string[];
  /** Default: chosen from Troupe's current state (or from `authFrom`). */
  authEvents?: string[];
  /** The state (type\0key -> event id) to choose auth events from, instead of Troupe's current state. */
  authFrom?: Map<string, string>;
  depth?: number;
  /** m.room.redaction: the event redacted (in content from room version 11). */
  redacts?: string;
  /** Another signing key (a forged event, or one of the remote's retired keys). */
  key?: SigningKey;
  /** Default: now. */
  originServerTs?: number;
}

export interface FederatedRoom {
  troupe: TestServer;
  remote: RemoteServer;
  alice: TestUser;
  roomId: string;
  version: RoomVersion;
  store: EventStore;
  /** A user id on the remote server. */
  user(localpart: string): string;
  build(fields: EventFields): Promise<BuiltEvent>;
  /** PUT /send signed by the remote; `body` replaces the whole transaction body. */
  send(txnId: string, pdus: JsonObject[], options?: { edus?: JsonValue[]; body?: unknown; authorization?: string }): Promise<{ status: number; body: unknown }>;
  /** A GET to Troupe's federation API signed by the remote; the answer whatever its status. */
  get(uri: string): Promise<{ status: number; body: unknown }>;
  /** The room's current state as type\0key -> event id. */
  state(): Promise<Map<string, string>>;
  /** Joins a remote user the way servers do: make_join, then v2 send_join with the signed template. */
  joinThroughSendJoin(userId: string): Promise<{ eventId: string; response: JsonObject }>;
}

export async function startFederatedRoom(
  t: AfterHook,
  backend: TestBackend,
  certificate: TestCertificate,
  options: { roomVersion?: string } = {},
): Promise<FederatedRoom> {
  const troupe = await startTestServer(t, {
    backend: backend.name,
    config: {
      // Plain HTTP first (troupe.request, for clients), then the federation listener over TLS.
      listeners: [
        { port: 0, bind_addresses: ['127.0.0.1'] },
        { port: 0, bind_addresses: ['127.0.0.1'], tls: true },
      ],
      ...federationTlsConfig(certificate),
    },
  });
  const federationUrl = troupe.running.listeners[1]?.url ?? '';
  const remote = await startRemoteServer(t, certificate);
  const alice = await troupe.createUser('alice');
  const created = await troupe.request('POST', '/_matrix/client/v3/createRoom', {
    token: alice.accessToken,
    body: { preset: 'public_chat', ...(options.roomVersion ? { room_version: options.roomVersion } : {}) },
  });
  if (created.status !== 200) throw new Error(`createRoom: ${JSON.stringify(created.body)}`);
  const roomId = (created.body as { room_id: string }).room_id;
  const store = new EventStore(troupe.running.db);
  const room = await store.getRoom(roomId);
  const version = getRoomVersion(room?.version ?? '') as RoomVersion;

  const state = async () => new Map((await store.currentState(roomId)).map((e) => [`${e.type}\u0000${e.stateKey ?? ''}`, e.eventId]));

  const build = async (fields: EventFields): Promise<BuiltEvent> => {
    const extremities = await store.forwardExtremities(roomId);
    const prevEvents = fields.prevEvents ?? extremities.map((e) => e.eventId);
    const prevs = await store.getEvents(prevEvents);
    const depth = fields.depth ?? Math.max(0, ...[...prevs.values()].map((e) => e.depth)) + 1;
    let authEvents = fields.authEvents;
    if (!authEvents) {
      const from = fields.authFrom ?? (await state());
      const selectable = { type: fields.type, sender: fields.sender, content: fields.content, ...(fields.stateKey !== undefined ? { state_key: fields.stateKey } : {}) };
      authEvents = authTypesForEvent(selectable, version)
        .map((k) => from.get(`${k.type}\u0000${k.stateKey}`))
        .filter((id): id is string => id !== undefined);
    }
    // Room versions 1–2 name events by [id, hashes] pairs and carry their own event ids.
    const references = async (ids: string[]): Promise<JsonValue[]> => {
      if (version.eventFormat !== 1) return ids;
      const stored = await store.getEvents(ids);
      return ids.map((id) => [id, { sha256: encodeBase64(computeReferenceHash(stored.get(id)?.pdu ?? {}, version)) }]);
    };
    const pdu: JsonObject = {
      type: fields.type,
      sender: fields.sender,
      room_id: roomId,
      content: fields.content,
      prev_events: await references(prevEvents),
      auth_events: await references(authEvents),
      depth,
      origin_server_ts: fields.originServerTs ?? Date.now(),
      origin: remote.serverName,
    };
    if (fields.stateKey !== undefined) pdu['state_key'] = fields.stateKey;
    if (fields.redacts !== undefined) {
      if (version.redaction === 'v11') pdu['content'] = { ...fields.content, redacts: fields.redacts };
      else pdu['redacts'] = fields.redacts;
    }
    if (version.eventFormat === 1) pdu['event_id'] = `$${randomBytes(9).toString('base64url')}:${remote.serverName}`;
    const signed = signEvent(pdu, version, remote.serverName, fields.key ?? remote.key);
    return { pdu: signed, eventId: computeEventId(signed, version) };
  };

  const send: FederatedRoom['send'] = (txnId, pdus, options = {}) => {
    const uri = `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`;
    const body = options.body ?? { origin: remote.serverName, origin_server_ts: Date.now(), pdus, ...(options.edus ? { edus: options.edus } : {}) };
    return httpsJson(`${federationUrl}${uri}`, {
      ca: certificate.cert,
      method: 'PUT',
      headers: { authorization: options.authorization ?? remote.sign('PUT', uri, troupe.serverName, body as JsonValue) },
      body,
    });
  };

  const get: FederatedRoom['get'] = (uri) =>
    httpsJson(`${federationUrl}${uri}`, { ca: certificate.cert, headers: { authorization: remote.sign('GET', uri, troupe.serverName) } });

  const signedRequest = async (method: string, uri: string, content?: JsonValue) => {
    const res = await httpsJson(`${federationUrl}${uri}`, {
      ca: certificate.cert,
      method,
      headers: { authorization: remote.sign(method, uri, troupe.serverName, content) },
      ...(content !== undefined ? { body: content } : {}),
    });
    if (res.status !== 200) throw new Error(`${method} ${uri}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as JsonObject;
  };
  const joinThroughSendJoin = async (userId: string) => {
    const versions = Array.from({ length: 12 }, (_, i) => `ver=${i + 1}`).join('&');
    const made = await signedRequest('GET', `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}?${versions}`);
    const template: JsonObject = { ...(made['event'] as JsonObject), origin_server_ts: Date.now() };
    if (version.eventFormat === 1) template['event_id'] = `$${randomBytes(9).toString('base64url')}:${remote.serverName}`;
    const signed = signEvent(template, version, remote.serverName, remote.key);
    const eventId = computeEventId(signed, version);
    const response = await signedRequest('PUT', `/_matrix/federation/v2/send_join/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}`, signed);
    return { eventId, response };
  };

  return {
    troupe,
    remote,
    get,
    alice,
    roomId,
    version,
    store,
    user: (localpart) => `@${localpart}:${remote.serverName}`,
    build,
    send,
    state,
    joinThroughSendJoin,
  };
}
