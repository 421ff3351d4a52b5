// What a remote server may see of a room's history: an event is visible to a server when it is visible to any of
// that server's users who ever had a membership in the room (the Client-Server rules of src/rooms/visibility.ts,
// applied per user), and a server always sees its own users' membership events. A server with no user in the room
// sees only world_readable history.
import { domainOf } from '../../protocol/identifiers.ts';
import type { EventStore, StoredEvent } from '../../storage/events.ts';
import type { Queryable } from '../../storage/database.ts';
import { RoomVisibility } from '../../rooms/visibility.ts';

/** A user id no server can have (not even valid): only the room's history visibility counts for it. */
const OUTSIDER = '@:';

type Visible = Pick<StoredEvent, 'streamOrdering' | 'type' | 'stateKey'>;

export class ServerVisibility {
  private readonly server: string;
  private readonly users: ReadonlyMap<string, RoomVisibility>;
  /** For a server without any member: the room's history visibility alone decides. */
  private readonly outsider: RoomVisibility;
  /** Whether the server has a joined user at the room's newest event. */
  readonly joinedNow: boolean;

  private constructor(server: string, users: ReadonlyMap<string, RoomVisibility>, outsider: RoomVisibility, joinedNow: boolean) {
    this.server = server;
    this.users = users;
    this.outsider = outsider;
    this.joinedNow = joinedNow;
  }

  static async load(db: Queryable, events: EventStore, roomId: string, server: string): Promise<ServerVisibility> {
    const suffix = `:${server}`;
    // The server's users among the room's member keys; domainOf re-checks what the suffix match found.
    const { rows } = await db.query<{ state_key: string }>(
      `SELECT DISTINCT state_key FROM state_history
        WHERE room_id = $1 AND type = 'm.room.member' AND right(state_key, $3) = $2`,
      [roomId, suffix, suffix.length],
    );
    const members = rows.map((r) => r.state_key).filter((u) => domainOf(u) === server);
    const users = new Map<string, RoomVisibility>();
    await Promise.all(members.map(async (u) => users.set(u, await RoomVisibility.load(events, roomId, u))));
    const outsider = await RoomVisibility.load(events, roomId, OUTSIDER);
    const joined = await db.query<{ state_key: string }>(
      `SELECT state_key FROM current_state
        WHERE room_id = $1 AND type = 'm.room.member' AND membership = 'join' AND right(state_key, $3) = $2`,
      [roomId, suffix, suffix.length],
    );
    const joinedNow = joined.rows.some((r) => domainOf(r.state_key) === server);
    return new ServerVisibility(server, users, outsider, joinedNow);
  }

  canSee(event: Visible): boolean {
    if (event.type === 'm.room.member' && event.stateKey !== null && domainOf(event.stateKey) === this.server) return true;
    for (const [userId, visibility] of this.users) if (visibility.canSee(event, userId)) return true;
    return this.outsider.canSee(event, OUTSIDER);
  }

  /** Whether the room's history is world_readable now (anyone may read it, member or not). */
  worldReadableAt(at: number): boolean {
    return this.outsider.visibilityAt(at) === 'world_readable';
  }
}
