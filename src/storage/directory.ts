// The published room directory: which rooms are listed (rooms.is_public, migrations/0004) and what a listing needs
// to describe them (their joined member counts and a few current state events).
import type { Queryable } from './database.ts';
import { EVENT_COLUMNS, toStoredEvent, type StoredEvent } from './events.ts';

/** One published room as stored: its version, joined member count and the requested current state events. */
export interface PublishedRoomRow {
  roomId: string;
  version: string;
  joinedMembers: number;
  /** Current state events with an empty state key, by type (only the types asked for). */
  state: Map<string, StoredEvent>;
}

export interface RoomDirectoryStore {
  /** Publishes or unpublishes a room; false when the room is unknown. */
  setPublished(roomId: string, published: boolean): Promise<boolean>;
  /** Whether the room is published, or null when the room is unknown. */
  isPublished(roomId: string): Promise<boolean | null>;
  /** Every published room with the state events of these types (state key ""). */
  publishedRooms(stateTypes: readonly string[]): Promise<PublishedRoomRow[]>;
}

export class PostgresRoomDirectoryStore implements RoomDirectoryStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async setPublished(roomId: string, published: boolean): Promise<boolean> {
    const { rowCount } = await this.#db.query('UPDATE rooms SET is_public = $2 WHERE room_id = $1', [roomId, published]);
    return rowCount === 1;
  }

  async isPublished(roomId: string): Promise<boolean | null> {
    const { rows } = await this.#db.query<{ is_public: boolean }>('SELECT is_public FROM rooms WHERE room_id = $1', [roomId]);
    return rows[0]?.is_public ?? null;
  }

  async publishedRooms(stateTypes: readonly string[]): Promise<PublishedRoomRow[]> {
    const { rows: rooms } = await this.#db.query<{ room_id: string; room_version: string; joined: number }>(
      `SELECT r.room_id, r.room_version, count(cs.room_id) AS joined
         FROM rooms r
         LEFT JOIN current_state cs ON cs.room_id = r.room_id AND cs.type = 'm.room.member' AND cs.membership = 'join'
        WHERE r.is_public
        GROUP BY r.room_id, r.room_version`,
    );
    const byRoom = new Map<string, PublishedRoomRow>();
    for (const r of rooms) byRoom.set(r.room_id, { roomId: r.room_id, version: r.room_version, joinedMembers: Number(r.joined), state: new Map() });
    if (byRoom.size === 0 || stateTypes.length === 0) return [...byRoom.values()];
    const { rows } = await this.#db.query<Parameters<typeof toStoredEvent>[0]>(
      `SELECT ${EVENT_COLUMNS}
         FROM rooms r
         JOIN current_state cs ON cs.room_id = r.room_id AND cs.state_key = '' AND cs.type = ANY($1::text[])
         JOIN events e ON e.event_id = cs.event_id
        WHERE r.is_public`,
      [[...stateTypes]],
    );
    for (const row of rows) {
      const event = toStoredEvent(row);
      byRoom.get(event.roomId)?.state.set(event.type, event);
    }
    return [...byRoom.values()];
  }
}
