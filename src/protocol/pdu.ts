// PDUs as a server handles them: signing its own events (content hash, then a signature over the redacted event),
// checking a received event's signatures and content hash, and normalising a PDU of any format into a `RoomEvent`.
import type { Buffer } from 'node:buffer';
import { canonicalJsonBytes } from './canonicalJson.ts';
import { contentHashBase64, checkContentHash, sha256 } from './hashes.ts';
import { computeEventId, eventIdToRoomId } from './eventIds.ts';
import { validatePdu } from './eventFormat.ts';
import type { RoomEvent } from './events.ts';
import { domainOf } from './identifiers.ts';
import type { JsonObject, JsonValue } from './json.ts';
import { isJsonObject } from './json.ts';
import { redactEvent } from './redaction.ts';
import type { RoomVersion } from './roomVersions.ts';
import { getRoomVersion } from './roomVersions.ts';
import type { ServerVerifyKeys, SignatureCheck, SigningKey } from './signing.ts';
import { checkJsonSignature, signBytes, signJson } from './signing.ts';

/** A PDU that does not match its room version's event format. */
export class InvalidPduError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidPduError';
  }
}

/** Looks a room version up by id, or passes a RoomVersion through. Throws for an unknown id. */
export function resolveRoomVersion(version: RoomVersion | string): RoomVersion {
  if (typeof version !== 'string') return version;
  const found = getRoomVersion(version);
  if (!found) throw new Error(`unknown room version "${version}"`);
  return found;
}

/**
 * Hashes and signs an event as `serverName` (server-server API "Adding hashes and signatures to outgoing events"):
 * puts the content hash in `hashes.sha256`, signs the redacted event, and copies the signature back. Existing
 * signatures and `unsigned` are kept. Returns a new object; the input is not modified.
 */
export function signEvent(pdu: JsonObject, version: RoomVersion | string, serverName: string, key: SigningKey): JsonObject {
  const v = resolveRoomVersion(version);
  const strict = v.strictCanonicalJson;
  const existing = pdu['hashes'];
  const hashes: JsonObject = { ...(isJsonObject(existing) ? existing : {}), sha256: contentHashBase64(pdu, strict) };
  const hashed: JsonObject = { ...pdu, hashes };
  const signed = signJson(redactEvent(hashed, v), serverName, key, { strict });
  return { ...hashed, signatures: signed['signatures'] as JsonValue };
}

/**
 * signEvent for an event this server is creating (no `signatures`, `unsigned` or `age_ts` yet; from v3 no `event_id`),
 * with its reference hash: the redacted event the signature covers is then exactly what the reference hash covers
 * (the event id from v3, the prev/auth reference in v1–v2), so it is redacted and encoded once instead of twice.
 */
export function signNewEvent(pdu: JsonObject, version: RoomVersion, serverName: string, key: SigningKey): { signed: JsonObject; referenceHash: Buffer } {
  if ('signatures' in pdu || 'unsigned' in pdu || 'age_ts' in pdu || (version.eventFormat !== 1 && 'event_id' in pdu)) {
    throw new Error('signNewEvent takes an event that is not signed yet');
  }
  const strict = version.strictCanonicalJson;
  const hashed: JsonObject = { ...pdu, hashes: { sha256: contentHashBase64(pdu, strict) } };
  const bytes = canonicalJsonBytes(redactEvent(hashed, version), { strict });
  const signed: JsonObject = { ...hashed, signatures: { [serverName]: { [key.keyId]: signBytes(key, bytes) } } };
  return { signed, referenceHash: sha256(bytes) };
}

/**
 * The servers whose signatures a received event must carry (server-server API "Validating hashes and signatures on
 * received events"): the sender's server, except for an invite made from a third-party invite, and for room
 * versions 1–2 the server that made the event id. Like Synapse, it also asks for the join authorising server of a
 * restricted join (v8+), which the auth rules require anyway, so that a missing signature drops the event early.
 */
export function requiredSignatureServers(pdu: JsonObject, version: RoomVersion | string): Set<string> {
  const v = resolveRoomVersion(version);
  const servers = new Set<string>();
  const content = isJsonObject(pdu['content']) ? pdu['content'] : {};
  const thirdPartyInvite = pdu['type'] === 'm.room.member' && content['membership'] === 'invite' && 'third_party_invite' in content;
  const sender = typeof pdu['sender'] === 'string' ? domainOf(pdu['sender']) : undefined;
  if (!thirdPartyInvite && sender !== undefined) servers.add(sender);
  if (v.eventFormat === 1 && typeof pdu['event_id'] === 'string') {
    const origin = domainOf(pdu['event_id']);
    if (origin !== undefined) servers.add(origin);
  }
  const authoriser = joinAuthorisingServer(pdu, v);
  if (authoriser !== undefined) servers.add(authoriser);
  return servers;
}

/**
 * The server of `content.join_authorised_via_users_server` on a join in a room version with restricted rooms (v8+),
 * whose signature the auth rules require (v8 rule 4.2); undefined otherwise. `requiredSignatureServers` includes it.
 */
export function joinAuthorisingServer(pdu: JsonObject, version: RoomVersion | string): string | undefined {
  const v = resolveRoomVersion(version);
  const content = pdu['content'];
  if (!v.restrictedJoinRule || pdu['type'] !== 'm.room.member' || !isJsonObject(content)) return undefined;
  const via = content['join_authorised_via_users_server'];
  if (content['membership'] !== 'join' || typeof via !== 'string') return undefined;
  return domainOf(via);
}

/**
 * Checks that `server` signed the event: the signature is over the redacted event, so this succeeds for a full copy
 * and a redacted one alike. From room version 5 a key only counts if it was valid at the event's origin_server_ts.
 */
export function checkEventSignedBy(pdu: JsonObject, version: RoomVersion | string, server: string, keys: ServerVerifyKeys): SignatureCheck {
  const v = resolveRoomVersion(version);
  const ts = pdu['origin_server_ts'];
  const validAt = v.enforceKeyValidity && typeof ts === 'number' ? ts : undefined;
  return checkJsonSignature(redactEvent(pdu, v), server, keys, { validAt, strict: v.strictCanonicalJson });
}

export type EventSignaturesCheck = { ok: true } | { ok: false; server: string; reason: string };

/**
 * Checks every signature `requiredSignatureServers` asks for. `keysFor` returns the keys known for a server (fetch
 * them first: this is synchronous). Fails on the first server without a valid signature.
 */
export function checkEventSignatures(
  pdu: JsonObject,
  version: RoomVersion | string,
  keysFor: (server: string) => ServerVerifyKeys | undefined,
): EventSignaturesCheck {
  const v = resolveRoomVersion(version);
  for (const server of requiredSignatureServers(pdu, v)) {
    const keys = keysFor(server);
    if (!keys) return { ok: false, server, reason: `no keys known for ${server}` };
    const result = checkEventSignedBy(pdu, v, server, keys);
    if (!result.ok) return { ok: false, server, reason: result.reason };
  }
  return { ok: true };
}

/**
 * Step 3 of the checks on receipt: if the content hash does not match, the event is processed in its redacted form.
 * Returns the event to use and whether it was redacted.
 */
export function applyContentHashCheck(pdu: JsonObject, version: RoomVersion | string): { pdu: JsonObject; redacted: boolean } {
  const v = resolveRoomVersion(version);
  return checkContentHash(pdu, v) ? { pdu, redacted: false } : { pdu: redactEvent(pdu, v), redacted: true };
}

export interface ToRoomEventOptions {
  /** Check the PDU against the version's event format first (default true). Throws `InvalidPduError` on failure. */
  readonly validate?: boolean;
  /** The event id when already known (as stored), to skip hashing. Ignored for v1–v2, whose PDUs carry theirs. */
  readonly eventId?: string;
}

/**
 * A `RoomEvent` from a PDU of `version`: the event id computed for v3+, v1–v2 `[id, hashes]` pairs flattened to ids,
 * `redacts` taken from content in v11+ (falling back to the top level), and the v12 create event's room id derived
 * from its own id. `pdu` holds the input as given.
 */
export function toRoomEvent(pdu: JsonObject, version: RoomVersion | string, options?: ToRoomEventOptions): RoomEvent {
  const v = resolveRoomVersion(version);
  if (options?.validate !== false) {
    const check = validatePdu(pdu, v);
    if (!check.ok) throw new InvalidPduError(check.reason);
  }
  const eventId = v.eventFormat !== 1 && options?.eventId !== undefined ? options.eventId : computeEventId(pdu, v);
  const content = isJsonObject(pdu['content']) ? pdu['content'] : {};
  let roomId = pdu['room_id'];
  if (typeof roomId !== 'string') {
    if (v.roomIdFromCreateEvent && pdu['type'] === 'm.room.create') roomId = eventIdToRoomId(eventId);
    else throw new InvalidPduError('room_id must be a string');
  }
  const event: RoomEvent = {
    event_id: eventId,
    room_id: roomId,
    sender: pdu['sender'] as string,
    type: pdu['type'] as string,
    content,
    auth_events: flattenReferences(pdu['auth_events']),
    prev_events: flattenReferences(pdu['prev_events']),
    depth: pdu['depth'] as number,
    origin_server_ts: pdu['origin_server_ts'] as number,
    pdu,
  };
  if (typeof pdu['state_key'] === 'string') event.state_key = pdu['state_key'];
  const redacts = v.redaction === 'v11' && typeof content['redacts'] === 'string' ? content['redacts'] : pdu['redacts'];
  if (typeof redacts === 'string') event.redacts = redacts;
  return event;
}

// v1–v2 list [id, hashes] pairs, v3+ plain ids; both become plain ids.
function flattenReferences(value: JsonValue | undefined): string[] {
  if (!Array.isArray(value)) return [];
  const ids: string[] = [];
  for (const entry of value) {
    const id = Array.isArray(entry) ? entry[0] : entry;
    if (typeof id === 'string') ids.push(id);
  }
  return ids;
}
