// Events as the auth rules and state resolution see them, whatever the room version's wire format.
import type { JsonObject } from './json.ts';

/**
 * A room event normalised across formats: `event_id` always present (computed for v3+), `auth_events` and
 * `prev_events` as plain id lists (v1–v2 [id, hashes] pairs flattened), `redacts` at top level (v11+ carry it in
 * content; both are kept). Field names are the spec's.
 */
export interface RoomEvent {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  state_key?: string;
  content: JsonObject;
  auth_events: string[];
  prev_events: string[];
  depth: number;
  origin_server_ts: number;
  redacts?: string;
  /** The whole PDU as received or built, for hashing, signing and serving. */
  pdu?: JsonObject;
}

export type StateKey = `${string}\u0000${string}`;

/** The key of a state map: type and state_key joined by NUL (which neither may contain). */
export function stateKey(type: string, key: string): StateKey {
  return `${type}\u0000${key}`;
}

/** A state event is one with a `state_key`, even an empty one. */
export function isStateEvent(event: Pick<RoomEvent, 'state_key'>): event is RoomEvent & { state_key: string } {
  return typeof event.state_key === 'string';
}

// Building a RoomEvent from a PDU of any room version lives with the rest of the PDU handling.
export { toRoomEvent, InvalidPduError } from './pdu.ts';
export type { ToRoomEventOptions } from './pdu.ts';
