// Membership checks shared by the room-scoped per-user data (receipts, read markers, typing).
import type { SharedRoomStore } from '../storage/sharedRooms.ts';
import type { EventStore} from '../storage/events.ts';
import { type StoredEvent } from '../storage/events.ts';
import { userDataForbidden, userDataNotFound } from './errors.ts';

export class RoomAccess {
  readonly shared: SharedRoomStore;
  readonly events: EventStore;

  constructor(shared: SharedRoomStore, events: EventStore) {
    this.shared = shared;
    this.events = events;
  }

  /** 403 M_FORBIDDEN unless the user is joined to the room. */
  async requireJoined(userId: string, roomId: string): Promise<void> {
    if ((await this.shared.membership(roomId, userId)) !== 'join') throw userDataForbidden(`You are not joined to ${roomId}`);
  }

  /** The event, which must belong to the room (404 M_NOT_FOUND otherwise). */
  async requireEvent(roomId: string, eventId: string): Promise<StoredEvent> {
    const event = await this.events.getEvent(eventId);
    if (!event || event.roomId !== roomId) throw userDataNotFound(`Event ${eventId} not found in ${roomId}`);
    return event;
  }
}
