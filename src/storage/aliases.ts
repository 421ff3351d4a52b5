// Local room aliases (migrations/0005): alias -> room, who created the mapping.
import type { Queryable } from './database.ts';
import { isUniqueViolation } from './errors.ts';

export interface RoomAliasRecord {
  alias: string;
  roomId: string;
  creator: string;
  createdTs: number;
}

export interface RoomAliasStore {
  /** Maps the alias to the room; false (and nothing written) when the alias is taken. */
  createAlias(record: RoomAliasRecord): Promise<boolean>;
  getAlias(alias: string): Promise<RoomAliasRecord | null>;
  /** Removes the mapping; false when there was none. */
  deleteAlias(alias: string): Promise<boolean>;
  /** The room's local aliases, oldest first. */
  aliasesOfRoom(roomId: string): Promise<string[]>;
  /** Points every alias of one room at another (room upgrades); returns the aliases moved. */
  moveAliases(fromRoomId: string, toRoomId: string): Promise<string[]>;
}

interface AliasRow {
  room_alias: string;
  room_id: string;
  creator: string;
  created_ts: number;
}

const toRecord = (r: AliasRow): RoomAliasRecord => ({ alias: r.room_alias, roomId: r.room_id, creator: r.creator, createdTs: r.created_ts });

export class PostgresRoomAliasStore implements RoomAliasStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async createAlias(record: RoomAliasRecord): Promise<boolean> {
    try {
      const { rowCount } = await this.#db.query(
        'INSERT INTO room_aliases (room_alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT (room_alias) DO NOTHING',
        [record.alias, record.roomId, record.creator, record.createdTs],
      );
      return rowCount === 1;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async getAlias(alias: string): Promise<RoomAliasRecord | null> {
    const { rows } = await this.#db.query<AliasRow>('SELECT room_alias, room_id, creator, created_ts FROM room_aliases WHERE room_alias = $1', [alias]);
    const r = rows[0];
    return r ? toRecord(r) : null;
  }

  async deleteAlias(alias: string): Promise<boolean> {
    const { rowCount } = await this.#db.query('DELETE FROM room_aliases WHERE room_alias = $1', [alias]);
    return rowCount === 1;
  }

  async aliasesOfRoom(roomId: string): Promise<string[]> {
    const { rows } = await this.#db.query<{ room_alias: string }>(
      'SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY created_ts, room_alias',
      [roomId],
    );
    return rows.map((r) => r.room_alias);
  }

  async moveAliases(fromRoomId: string, toRoomId: string): Promise<string[]> {
    const { rows } = await this.#db.query<{ room_alias: string }>(
      'UPDATE room_aliases SET room_id = $2 WHERE room_id = $1 RETURNING room_alias',
      [fromRoomId, toRoomId],
    );
    return rows.map((r) => r.room_alias).sort();
  }
}
