// Event ids per room version: v1–v2 carry `$opaque:server` in the PDU; v3 is `$` + the reference hash in standard
// Base64; v4+ the same in URL-safe Base64. From v12 the room id is the create event's id with `!` for `$`.
import { encodeBase64, encodeBase64Url } from './base64.ts';
import { computeReferenceHash } from './hashes.ts';
import type { EventIdFormat } from './identifiers.ts';
import type { JsonObject } from './json.ts';
import type { RoomVersion } from './roomVersions.ts';

export function eventIdFormat(version: RoomVersion): EventIdFormat {
  return version.eventFormat === 1 ? 'v1' : version.eventFormat === 2 ? 'v3' : 'v4';
}

/**
 * The id of an event. For v1–v2 it is the PDU's own `event_id` (throws if there is none). For v3+ it is computed
 * from the PDU; an `event_id` key, which such PDUs do not carry over federation, is left out of the hash.
 */
export function computeEventId(pdu: JsonObject, version: RoomVersion): string {
  if (version.eventFormat === 1) {
    const id = pdu['event_id'];
    if (typeof id !== 'string') throw new Error('a room version 1–2 event carries its event_id and this one has none');
    return id;
  }
  const { event_id: _id, ...rest } = pdu;
  return eventIdFromReferenceHash(computeReferenceHash(rest, version), version);
}

/** The event id of a v3+ event with this reference hash. */
export function eventIdFromReferenceHash(hash: Uint8Array, version: RoomVersion): string {
  if (version.eventFormat === 1) throw new Error('room versions 1–2 do not derive event ids from the reference hash');
  return '$' + (version.eventFormat === 2 ? encodeBase64(hash) : encodeBase64Url(hash));
}

/** The room id a v12+ create event makes: `!` + the URL-safe reference hash of the create event. */
export function computeRoomIdFromCreateEvent(createPdu: JsonObject, version: RoomVersion): string {
  if (!version.roomIdFromCreateEvent) throw new Error(`room version ${version.id} does not derive room ids from the create event`);
  return eventIdToRoomId(computeEventId(createPdu, version));
}

/** v12+: the create event id (`$hash`) for a room id (`!hash`). */
export function roomIdToCreateEventId(roomId: string): string {
  return '$' + roomId.slice(1);
}

/** v12+: the room id (`!hash`) for a create event id (`$hash`). */
export function eventIdToRoomId(eventId: string): string {
  return '!' + eventId.slice(1);
}
