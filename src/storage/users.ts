// Local user accounts (migrations/0001_users.sql).
import type { Queryable } from './database.ts';

export interface UserRecord {
  /** Full Matrix user id, `@localpart:server_name`. */
  userId: string;
  /** null: the account cannot log in with a password. Never log it. */
  passwordHash: string | null;
  admin: boolean;
  deactivated: boolean;
  /** Milliseconds since the Unix epoch. */
  creationTs: number;
}

export interface NewUser {
  userId: string;
  passwordHash: string | null;
  admin?: boolean;
  /** Milliseconds since the Unix epoch; defaults to now. */
  creationTs?: number;
}

export interface UserStore {
  /**
   * Inserts the account. A user id that is taken rejects with the database's unique-violation error
   * (`isUniqueViolation(err)` from src/storage/errors.ts, SQLSTATE 23505): the existing account is untouched.
   */
  createUser(user: NewUser): Promise<UserRecord>;
  /** The account, or null if there is none (ids are compared exactly). */
  getUser(userId: string): Promise<UserRecord | null>;
}

interface UserRow {
  user_id: string;
  password_hash: string | null;
  admin: boolean;
  deactivated: boolean;
  creation_ts: number;
}

function toRecord(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    passwordHash: row.password_hash,
    admin: row.admin,
    deactivated: row.deactivated,
    creationTs: row.creation_ts,
  };
}

const COLUMNS = 'user_id, password_hash, admin, deactivated, creation_ts';

/** The UserStore on the Database port; give it a transaction's handle to take part in that transaction. */
export class PostgresUserStore implements UserStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    const { rows } = await this.#db.query<UserRow>(
      `INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [user.userId, user.passwordHash, user.admin ?? false, user.creationTs ?? Date.now()],
    );
    const row = rows[0];
    if (!row) throw new Error('INSERT ... RETURNING returned no row');
    return toRecord(row);
  }

  async getUser(userId: string): Promise<UserRecord | null> {
    const { rows } = await this.#db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE user_id = $1`, [userId]);
    const row = rows[0];
    return row ? toRecord(row) : null;
  }
}
