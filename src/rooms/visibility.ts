// Who may see what (Client-Server API "History visibility"): an event is visible to a user according to the room's
// m.room.history_visibility and the user's membership, both taken from the state *before* the event; a user always
// sees their own membership events.
//   world_readable  everyone
//   shared          members at the event, and anyone who was joined at any point from the event on
//   invited         members at the event whose membership was invite or join
//   joined          members at the event whose membership was join
import type { EventStore, StoredEvent } from '../storage/events.ts';

export type HistoryVisibility = 'world_readable' | 'shared' | 'invited' | 'joined';

interface Change<T> {
  streamOrdering: number;
  value: T;
}

/** What one user may see in one room: the histories of the two state keys that decide it. */
export class RoomVisibility {
  private readonly visibility: Change<HistoryVisibility>[];
  private readonly membership: Change<string | null>[];

  constructor(visibility: Change<HistoryVisibility>[], membership: Change<string | null>[]) {
    this.visibility = visibility;
    this.membership = membership;
  }

  static async load(events: EventStore, roomId: string, userId: string): Promise<RoomVisibility> {
    const [hvRows, memberRows] = await Promise.all([
      events.stateKeyHistory(roomId, 'm.room.history_visibility', ''),
      events.stateKeyHistory(roomId, 'm.room.member', userId),
    ]);
    const hvEvents = await events.getEvents(hvRows.map((r) => r.eventId));
    const visibility = hvRows.map((r) => ({ streamOrdering: r.streamOrdering, value: parseVisibility(hvEvents.get(r.eventId)) }));
    const membership = memberRows.map((r) => ({ streamOrdering: r.streamOrdering, value: r.membership }));
    return new RoomVisibility(visibility, membership);
  }

  /** The user's membership once every event up to `at` is applied (null: never had one). */
  membershipAt(at: number): string | null {
    return valueBefore(this.membership, at + 1) ?? null;
  }

  /** history_visibility once every event up to `at` is applied. */
  visibilityAt(at: number): HistoryVisibility {
    return valueBefore(this.visibility, at + 1) ?? 'shared';
  }

  /** Whether the user ever had any membership in the room. */
  get everMember(): boolean {
    return this.membership.length > 0;
  }

  canSee(event: Pick<StoredEvent, 'streamOrdering' | 'type' | 'stateKey'>, userId: string): boolean {
    if (event.type === 'm.room.member' && event.stateKey === userId) return true;
    const o = event.streamOrdering;
    const visibility = valueBefore(this.visibility, o) ?? 'shared';
    if (visibility === 'world_readable') return true;
    const membership = valueBefore(this.membership, o) ?? null;
    if (membership === 'join') return true;
    if (visibility === 'invited') return membership === 'invite';
    if (visibility === 'shared') return this.membership.some((m) => m.streamOrdering >= o && m.value === 'join');
    return false;
  }
}

/** The value of the newest change strictly before `ordering`. */
function valueBefore<T>(changes: readonly Change<T>[], ordering: number): T | undefined {
  let value: T | undefined;
  for (const c of changes) {
    if (c.streamOrdering >= ordering) break;
    value = c.value;
  }
  return value;
}

function parseVisibility(event: StoredEvent | undefined): HistoryVisibility {
  const content = event?.pdu['content'];
  const value = content && typeof content === 'object' && !Array.isArray(content) ? content['history_visibility'] : undefined;
  return value === 'world_readable' || value === 'invited' || value === 'joined' || value === 'shared' ? value : 'shared';
}
