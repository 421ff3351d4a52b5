// Event hashes (server-server API, "Signing Events"): the content hash covers the whole unredacted event and goes in
// `hashes.sha256`; the reference hash covers the redacted event and is the event id from room version 3 on.
import { createHash } from 'node:crypto';
import type { Buffer } from 'node:buffer';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { canonicalJsonBytes } from './canonicalJson.ts';
import type { JsonObject } from './json.ts';
import { isJsonObject } from './json.ts';
import { redactEvent } from './redaction.ts';
import type { RoomVersion } from './roomVersions.ts';

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/**
 * SHA-256 of the canonical JSON of the event without `unsigned`, `signatures` and `hashes`. `strict` follows the room
 * version's canonical JSON rules (room versions 1–5 may carry numbers canonical JSON forbids).
 */
export function computeContentHash(event: JsonObject, strict = true): Buffer {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = event;
  return sha256(canonicalJsonBytes(rest, { strict }));
}

/** The content hash as it is written in `hashes.sha256`: unpadded standard Base64. */
export function contentHashBase64(event: JsonObject, strict = true): string {
  return encodeBase64(computeContentHash(event, strict));
}

/**
 * SHA-256 of the canonical JSON of the redacted event without `signatures`, `unsigned` and `age_ts`. For event ids
 * of room versions 3+ pass the PDU as sent over federation, without an `event_id` key.
 */
export function computeReferenceHash(event: JsonObject, version: RoomVersion): Buffer {
  const { signatures: _s, unsigned: _u, age_ts: _a, ...rest } = redactEvent(event, version);
  return sha256(canonicalJsonBytes(rest, { strict: version.strictCanonicalJson }));
}

/** Whether `hashes.sha256` matches the event's content hash. False when the hash is missing or not Base64. */
export function checkContentHash(event: JsonObject, version: RoomVersion): boolean {
  const hashes = event['hashes'];
  if (!isJsonObject(hashes) || typeof hashes['sha256'] !== 'string') return false;
  const expected = decodeBase64(hashes['sha256']);
  if (!expected || expected.length !== 32) return false;
  return computeContentHash(event, version.strictCanonicalJson).equals(expected);
}
