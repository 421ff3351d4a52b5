// The published room directory: which rooms are listed (rooms.is_public, migrations/0004) and what a listing needs
// to describe them (their joined member counts and a few current state events).
import type { Queryable } from './database.ts';
import { EVENT_COLUMNS, toStoredEvent, type StoredEvent } from './events.ts';

/** A published room with at least one joined member. */
export interface PublishedRoomRow {
  roomId: string;
  version: string;
  joinedMembers: number;
}

export interface RoomDirectoryStore {
  /** Publishes or unpublishes a room; false when the room is unknown. */
  setPublished(roomId: string, published: boolean): Promise<boolean>;
  /** Whether the room is published, or null when the room is unknown. */
  isPublished(roomId: string): Promise<boolean | null>;
  /** Every published room that someone is joined to, most joined members first, then by room id. */
  publishedRooms(): Promise<PublishedRoomRow[]>;
  /**
   * The rooms' current state events of these types with the empty state key, by room and type; `'published'` for
   * every published room (one join instead of a long list of ids). With `pduContains`,
   * only events whose PDU text contains it, ignoring ASCII case (a cheap prefilter for searches: it never drops an
   * event whose content contains the text unescaped, but may keep others).
   */
  stateOf(roomIds: readonly string[] | 'published', types: readonly string[], pduContains?: string): Promise<Map<string, Map<string, StoredEvent>>>;
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

  async publishedRooms(): Promise<PublishedRoomRow[]> {
    const { rows } = await this.#db.query<{ room_id: string; room_version: string; joined: number }>(
      `SELECT r.room_id, r.room_version, j.joined
         FROM rooms r
        CROSS JOIN LATERAL (
          SELECT count(*) AS joined FROM current_state m WHERE m.room_id = r.room_id AND m.type = 'm.room.member' AND m.membership = 'join'
        ) j
        WHERE r.is_public AND j.joined > 0
       ORDER BY joined DESC, room_id`,
    );
    return rows.map((r) => ({ roomId: r.room_id, version: r.room_version, joinedMembers: Number(r.joined) }));
  }

  async stateOf(roomIds: readonly string[] | 'published', types: readonly string[], pduContains?: string): Promise<Map<string, Map<string, StoredEvent>>> {
    const out = new Map<string, Map<string, StoredEvent>>();
    if (roomIds.length === 0 || types.length === 0) return out;
    const params: unknown[] = [[...types]];
    const where = ["cs.type = ANY($1::text[])", "cs.state_key = ''"];
    if (roomIds !== 'published') where.push(`cs.room_id = ANY($${params.push([...roomIds])}::text[])`);
    if (pduContains !== undefined) where.push(`e.pdu ILIKE $${params.push(`%${pduContains.replace(/[\\%_]/g, '\\$&')}%`)}::text`);
    const { rows } = await this.#db.query<Parameters<typeof toStoredEvent>[0]>(
      `SELECT ${EVENT_COLUMNS}
         FROM current_state cs
         JOIN events e ON e.event_id = cs.event_id
         ${roomIds === 'published' ? 'JOIN rooms r ON r.room_id = cs.room_id AND r.is_public' : ''}
        WHERE ${where.join(' AND ')}`,
      params,
    );
    for (const row of rows) {
      const event = toStoredEvent(row);
      let byType = out.get(event.roomId);
      if (!byType) out.set(event.roomId, (byType = new Map()));
      byType.set(event.type, event);
    }
    return out;
  }
}
