// PDU format per room version (server-server API "Checks performed on receipt of a PDU", step 1, and the pdu_v*
// schemas) and the event size limits (client-server API "Size limits"). An event that fails here is dropped.
import { Buffer } from 'node:buffer';
import { CanonicalJsonError, canonicalJsonBytes } from './canonicalJson.ts';
import { eventIdFormat } from './eventIds.ts';
import { parseEventId, parseRoomId, parseUserId } from './identifiers.ts';
import type { JsonObject } from './json.ts';
import { isJsonObject } from './json.ts';
import type { RoomVersion } from './roomVersions.ts';

/** The whole event, as canonical JSON in federation format with its signatures, is at most this many bytes. */
export const MAX_PDU_BYTES = 65_536;
/** sender, room_id, state_key, type and event_id are each at most this many bytes. */
export const MAX_FIELD_BYTES = 255;
export const MAX_AUTH_EVENTS = 10;
export const MAX_PREV_EVENTS = 20;

export type FormatCheck = { ok: true } | { ok: false; reason: string };

const valid: FormatCheck = { ok: true };
const invalid = (reason: string): FormatCheck => ({ ok: false, reason });

/**
 * The size limits alone: 65,536 bytes of canonical JSON for the whole event and 255 bytes for each of `sender`,
 * `room_id`, `state_key`, `type` and `event_id`. Returns the reason the event is too large, or undefined.
 * `strict` picks the canonical JSON rules used to measure (false for room versions 1–5).
 */
export function sizeLimitProblem(event: JsonObject, strict = true): string | undefined {
  for (const field of ['sender', 'room_id', 'state_key', 'type', 'event_id'] as const) {
    const value = event[field];
    if (typeof value === 'string' && byteLength(value) > MAX_FIELD_BYTES) return `${field} is longer than ${MAX_FIELD_BYTES} bytes`;
  }
  let size: number;
  try {
    size = canonicalJsonBytes(event, { strict }).length;
  } catch (err) {
    if (err instanceof CanonicalJsonError) return `the event is not canonical JSON: ${err.message}`;
    throw err;
  }
  if (size > MAX_PDU_BYTES) return `the event is ${size} bytes, more than ${MAX_PDU_BYTES}`;
  return undefined;
}

/**
 * Checks a received PDU against the event format of its room version: required keys and their types, identifier
 * grammar, v1–v2 `event_id` and `[id, hashes]` pairs vs v3+ plain ids and no `event_id`, v12 room ids without a
 * domain (and none on the create event), reference counts, size limits, and from v6 the strict canonical JSON number
 * rules. It does not check hashes, signatures or auth rules.
 */
export function validatePdu(pdu: unknown, version: RoomVersion): FormatCheck {
  if (!isJsonObject(pdu)) return invalid('a PDU must be a JSON object');

  const type = pdu['type'];
  if (typeof type !== 'string') return invalid('type must be a string');
  const sender = pdu['sender'];
  if (typeof sender !== 'string') return invalid('sender must be a string');
  const senderId = parseUserId(sender);
  if (!senderId.ok) return invalid(`sender: ${senderId.reason}`);

  const roomProblem = checkRoomId(pdu, type, version);
  if (roomProblem) return invalid(roomProblem);

  const eventId = pdu['event_id'];
  if (version.eventFormat === 1) {
    if (typeof eventId !== 'string') return invalid('event_id must be a string in room versions 1 and 2');
    const parsed = parseEventId(eventId, 'v1');
    if (!parsed.ok) return invalid(`event_id: ${parsed.reason}`);
  } else if (eventId !== undefined) {
    return invalid(`room version ${version.id} events do not carry an event_id`);
  }

  const stateKey = pdu['state_key'];
  if (stateKey !== undefined && typeof stateKey !== 'string') return invalid('state_key must be a string');
  if (!isJsonObject(pdu['content'])) return invalid('content must be an object');
  if (!isInteger(pdu['origin_server_ts'])) return invalid('origin_server_ts must be an integer');
  const depth = pdu['depth'];
  if (!isInteger(depth) || depth < 0) return invalid('depth must be a non-negative integer');
  const origin = pdu['origin'];
  if (origin !== undefined && typeof origin !== 'string') return invalid('origin must be a string');
  const unsigned = pdu['unsigned'];
  if (unsigned !== undefined && !isJsonObject(unsigned)) return invalid('unsigned must be an object');

  const hashes = pdu['hashes'];
  if (!isJsonObject(hashes) || typeof hashes['sha256'] !== 'string') return invalid('hashes must be an object with a sha256 string');
  const signatures = pdu['signatures'];
  if (!isJsonObject(signatures)) return invalid('signatures must be an object');
  for (const [server, byKey] of Object.entries(signatures)) {
    if (!isJsonObject(byKey) || !Object.values(byKey).every((s) => typeof s === 'string')) {
      return invalid(`signatures.${server} must map key ids to strings`);
    }
  }

  for (const [field, max] of [['auth_events', MAX_AUTH_EVENTS], ['prev_events', MAX_PREV_EVENTS]] as const) {
    const problem = checkReferences(pdu[field], field, max, version);
    if (problem) return invalid(problem);
  }

  const redactsProblem = checkRedacts(pdu, type, version);
  if (redactsProblem) return invalid(redactsProblem);

  const sizeProblem = sizeLimitProblem(pdu, version.strictCanonicalJson);
  if (sizeProblem) return invalid(sizeProblem);
  return valid;
}

function checkRoomId(pdu: JsonObject, type: string, version: RoomVersion): string | undefined {
  const roomId = pdu['room_id'];
  if (version.roomIdFromCreateEvent && type === 'm.room.create') {
    // The create event's room_id is implied by its own id. One that has a room_id anyway is rejected by the auth
    // rules (v12 rule 1.2) rather than dropped here, so only its type is checked.
    return roomId === undefined || typeof roomId === 'string' ? undefined : 'room_id must be a string';
  }
  if (typeof roomId !== 'string') return 'room_id must be a string';
  const parsed = parseRoomId(roomId, version.roomIdFromCreateEvent);
  return parsed.ok ? undefined : `room_id: ${parsed.reason}`;
}

function checkReferences(value: unknown, field: string, max: number, version: RoomVersion): string | undefined {
  if (!Array.isArray(value)) return `${field} must be an array`;
  if (value.length > max) return `${field} has ${value.length} entries, more than ${max}`;
  const format = eventIdFormat(version);
  for (let i = 0; i < value.length; i++) {
    let id: unknown = value[i];
    if (version.eventFormat === 1) {
      // [event id, { sha256: hash }]
      if (!Array.isArray(id) || id.length !== 2) return `${field}[${i}] must be an [event id, hashes] pair`;
      const hashes: unknown = id[1];
      if (!isJsonObject(hashes)) return `${field}[${i}] hashes must be an object`;
      id = id[0];
    }
    if (typeof id !== 'string') return `${field}[${i}] must be an event id string`;
    const parsed = parseEventId(id, format);
    if (!parsed.ok) return `${field}[${i}]: ${parsed.reason}`;
  }
  return undefined;
}

function checkRedacts(pdu: JsonObject, type: string, version: RoomVersion): string | undefined {
  const top = pdu['redacts'];
  if (top !== undefined && typeof top !== 'string') return 'redacts must be a string';
  if (type !== 'm.room.redaction') return undefined;
  if (version.redaction === 'v11') {
    const inContent = (pdu['content'] as JsonObject)['redacts'];
    return typeof inContent === 'string' ? undefined : 'an m.room.redaction event must have content.redacts in room versions 11+';
  }
  return typeof top === 'string' ? undefined : 'an m.room.redaction event must have redacts';
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
