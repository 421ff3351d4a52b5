// A membership event of a room this server is not in (an invite received over federation, or its rejection): stored
// alone at a new position of the `events` stream with its local membership row, then announced so the user's /sync
// wakes. It gets no forward extremity: nothing of ours may build on an event of a room we are not in.
import type { Membership, Notifier } from '../../notifier.ts';
import type { RoomEvent } from '../../protocol/events.ts';
import type { JsonObject } from '../../protocol/json.ts';
import type { RemoteWriteStream } from '../../rooms/writer.ts';
import type { Database } from '../../storage/database.ts';
import { persistEventBatch, type EventBatch } from '../../storage/events.ts';

export interface OutOfRoomMembership {
  event: RoomEvent;
  /** The PDU as stored (it may differ from the event's, e.g. an invite with invite_room_state in `unsigned`). */
  pdu: JsonObject;
  membership: Membership;
  replacesState: string | null;
  newRoom?: EventBatch['newRoom'];
  now: number;
}

export async function storeOutOfRoomMembership(
  db: Database,
  notifier: Pick<Notifier, 'membershipChanged'>,
  stream: RemoteWriteStream,
  m: OutOfRoomMembership,
): Promise<void> {
  const { event } = m;
  const userId = event.state_key as string;
  const id = stream.reserve();
  await persistEventBatch(db, {
    roomId: event.room_id,
    events: [
      {
        streamOrdering: id,
        eventId: event.event_id,
        roomId: event.room_id,
        type: event.type,
        stateKey: userId,
        sender: event.sender,
        depth: event.depth,
        originServerTs: event.origin_server_ts,
        redacts: null,
        pdu: m.pdu,
        prevEvents: event.prev_events,
        authEvents: event.auth_events,
        replacesState: m.replacesState,
        membership: m.membership,
        localMember: true,
        txn: null,
      },
    ],
    extremities: [],
    ...(m.newRoom ? { newRoom: m.newRoom } : {}),
    now: m.now,
  });
  notifier.membershipChanged(event.room_id, userId, m.membership);
  stream.announce(id, { users: [userId] });
}
