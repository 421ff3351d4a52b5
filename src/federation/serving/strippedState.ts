// The state a server hands along with an invite or a knock so the user's client can show the room (spec "Stripped
// state"): the create event (required since v1.16), join rules, name, avatar, canonical alias, topic and
// encryption. Over federation these are full PDUs in the room version's format; clients get them stripped.
import type { JsonObject } from '../../protocol/json.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import type { EventStore } from '../../storage/events.ts';
import { STRIPPED_STATE_TYPES } from '../../rooms/strippedState.ts';
import { servedPdu } from './history.ts';

export async function strippedStatePdus(events: EventStore, roomId: string, version: RoomVersion): Promise<JsonObject[]> {
  const found = await Promise.all(STRIPPED_STATE_TYPES.map((type) => events.currentStateEvent(roomId, type, '')));
  return found.filter((e) => e !== null).map((e) => servedPdu(e, version));
}
