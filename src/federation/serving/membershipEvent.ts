// The checks every membership event a remote server hands us directly (send_join, send_leave, send_knock, invite)
// must pass before we sign, store or forward it: the room version's format, the event id the path names, the room,
// the type and membership, who sent it and about whom, the content hash, and the signatures of the servers that
// must have signed it (spec: "servers SHOULD return M_INVALID_PARAM" for each of these).
import type { RoomEvent } from '../../protocol/events.ts';
import { validatePdu } from '../../protocol/eventFormat.ts';
import { computeEventId } from '../../protocol/eventIds.ts';
import { checkContentHash } from '../../protocol/hashes.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import type { JsonObject } from '../../protocol/json.ts';
import { isJsonObject } from '../../protocol/json.ts';
import { checkEventSignedBy, requiredSignatureServers, toRoomEvent } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import type { ServerVerifyKeys } from '../../protocol/signing.ts';
import { badJson, invalidParam, notJson } from '../../http/errors.ts';

export interface MembershipEventExpectation {
  roomId: string;
  eventId: string;
  membership: 'join' | 'leave' | 'knock' | 'invite';
  /** The server that sent the request: the sender must be one of its users. */
  origin: string;
  /** invite: the state_key must be a user of this server; otherwise state_key must equal sender. */
  localServer?: string;
  /** Servers whose signature is not required yet (ours, when we are about to sign). */
  exempt?: readonly string[];
  keys(server: string, validAt: number): Promise<ServerVerifyKeys>;
}

export async function checkMembershipEvent(body: unknown, v: RoomVersion, expect: MembershipEventExpectation): Promise<RoomEvent> {
  if (body === undefined) throw notJson('The request body must be a PDU');
  if (!isJsonObject(body)) throw badJson('The request body must be a JSON object');
  const format = validatePdu(body, v);
  if (!format.ok) throw badJson(`The event is not a valid room version ${v.id} PDU: ${format.reason}`);
  const pdu: JsonObject = body;
  const eventId = computeEventId(pdu, v);
  if (eventId !== expect.eventId) throw invalidParam(`The event's id is ${eventId}, not ${expect.eventId}`);
  const event = toRoomEvent(pdu, v, { validate: false, eventId });
  if (event.room_id !== expect.roomId) throw invalidParam(`The event is for room ${event.room_id}, not ${expect.roomId}`);
  if (event.type !== 'm.room.member') throw invalidParam('The event is not an m.room.member event');
  if (event.content['membership'] !== expect.membership) throw invalidParam(`The event's membership is not ${expect.membership}`);
  if (domainOf(event.sender) !== expect.origin) throw invalidParam(`The sender ${event.sender} is not a user of ${expect.origin}`);
  if (event.state_key === undefined) throw invalidParam('The event has no state_key');
  if (expect.localServer !== undefined) {
    if (domainOf(event.state_key) !== expect.localServer) throw invalidParam(`${event.state_key} is not a user of this server`);
  } else if (event.state_key !== event.sender) {
    throw invalidParam('The state_key must be the sender');
  }
  if (!checkContentHash(pdu, v)) throw invalidParam('The event does not match its content hash');
  for (const server of requiredSignatureServers(pdu, v)) {
    if (expect.exempt?.includes(server)) continue;
    const keys = await expect.keys(server, event.origin_server_ts);
    const signed = checkEventSignedBy(pdu, v, server, keys);
    if (!signed.ok) throw invalidParam(`The event is not signed by ${server}: ${signed.reason}`);
  }
  return event;
}
