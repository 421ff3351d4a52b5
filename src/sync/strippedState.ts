// Stripped state (Client-Server API "Stripped state") for rooms.invite.*.invite_state and rooms.knock.*.knock_state:
// the room's create, join rules, name, avatar, canonical alias and encryption events as {type, state_key, sender,
// content}, and the user's own invite or knock event. A room this server is not in (an invite that came over
// federation) has no state here: its invite event carries the stripped state the inviting server sent
// (unsigned.invite_room_state), which is used instead.
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import type { StoredEvent } from '../storage/events.ts';

export { STRIPPED_STATE_TYPES } from '../rooms/strippedState.ts';

export function strip(e: { type: string; stateKey: string | null; sender: string; pdu: JsonObject }): JsonObject {
  return { type: e.type, state_key: e.stateKey ?? '', sender: e.sender, content: isJsonObject(e.pdu['content']) ? e.pdu['content'] : {} };
}

/** A well-formed stripped event from a remote server's list, or null. */
function strippedFrom(value: unknown): JsonObject | null {
  if (!isJsonObject(value)) return null;
  const { type, state_key: stateKey, sender, content } = value;
  if (typeof type !== 'string' || typeof stateKey !== 'string' || typeof sender !== 'string' || !isJsonObject(content)) return null;
  return { type, state_key: stateKey, sender, content };
}

/** The stripped state for a room: from its current state when there is one, else from the membership event. */
export function strippedState(roomState: readonly StoredEvent[], membershipEvent: StoredEvent | undefined): JsonObject[] {
  const out: JsonObject[] = [];
  if (roomState.length > 0) {
    for (const e of roomState) if (e.eventId !== membershipEvent?.eventId) out.push(strip(e));
  } else if (membershipEvent) {
    const unsigned = membershipEvent.pdu['unsigned'];
    const remote = isJsonObject(unsigned) ? unsigned['invite_room_state'] ?? unsigned['knock_room_state'] : undefined;
    if (Array.isArray(remote)) {
      for (const value of remote) {
        const e = strippedFrom(value);
        if (!e || (e['type'] === 'm.room.member' && e['state_key'] === membershipEvent.stateKey)) continue;
        out.push(e);
      }
    }
  }
  if (membershipEvent) out.push(strip(membershipEvent));
  return out;
}
