// Account lifecycle queries beyond the UserStore (migrations/0001, 0003): case-insensitive lookup for login,
// password changes, deactivation and generated localparts. Give it a transaction's handle to take part in one.
import type { Queryable } from './database.ts';

export interface AccountRecord {
  userId: string;
  /** Never log it. */
  passwordHash: string | null;
  admin: boolean;
  deactivated: boolean;
  userType: string | null;
}

interface AccountRow {
  user_id: string;
  password_hash: string | null;
  admin: boolean;
  deactivated: boolean;
  user_type: string | null;
}

const toAccount = (r: AccountRow): AccountRecord => ({
  userId: r.user_id,
  passwordHash: r.password_hash,
  admin: r.admin,
  deactivated: r.deactivated,
  userType: r.user_type,
});

const COLUMNS = 'user_id, password_hash, admin, deactivated, user_type';

export interface AccountStore {
  getAccount(userId: string): Promise<AccountRecord | null>;
  /** Accounts whose id equals `userId` ignoring case (ids made before lower-case-only registration). */
  findAccountsCaseInsensitive(userId: string): Promise<AccountRecord[]>;
  /** Whether any account, of any case, has this id. */
  isUserIdTaken(userId: string): Promise<boolean>;
  createAccount(account: { userId: string; passwordHash: string | null; admin?: boolean; userType?: string | null; now: number }): Promise<void>;
  setPasswordHash(userId: string, passwordHash: string | null): Promise<void>;
  /** Marks the account deactivated and forgets its password; devices and tokens are the caller's to delete. */
  deactivate(userId: string): Promise<void>;
  /** The next number for a generated localpart. */
  nextGeneratedLocalpart(): Promise<string>;
}

export class PostgresAccountStore implements AccountStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async getAccount(userId: string): Promise<AccountRecord | null> {
    const { rows } = await this.#db.query<AccountRow>(`SELECT ${COLUMNS} FROM users WHERE user_id = $1`, [userId]);
    return rows[0] ? toAccount(rows[0]) : null;
  }

  async findAccountsCaseInsensitive(userId: string): Promise<AccountRecord[]> {
    const { rows } = await this.#db.query<AccountRow>(`SELECT ${COLUMNS} FROM users WHERE lower(user_id) = lower($1) ORDER BY user_id`, [
      userId,
    ]);
    return rows.map(toAccount);
  }

  async isUserIdTaken(userId: string): Promise<boolean> {
    const { rows } = await this.#db.query('SELECT 1 FROM users WHERE lower(user_id) = lower($1) LIMIT 1', [userId]);
    return rows.length > 0;
  }

  async createAccount(account: { userId: string; passwordHash: string | null; admin?: boolean; userType?: string | null; now: number }): Promise<void> {
    await this.#db.query('INSERT INTO users (user_id, password_hash, admin, user_type, creation_ts) VALUES ($1, $2, $3, $4, $5)', [
      account.userId,
      account.passwordHash,
      account.admin ?? false,
      account.userType ?? null,
      account.now,
    ]);
  }

  async setPasswordHash(userId: string, passwordHash: string | null): Promise<void> {
    await this.#db.query('UPDATE users SET password_hash = $2 WHERE user_id = $1', [userId, passwordHash]);
  }

  async deactivate(userId: string): Promise<void> {
    await this.#db.query('UPDATE users SET deactivated = true, password_hash = NULL WHERE user_id = $1', [userId]);
  }

  async nextGeneratedLocalpart(): Promise<string> {
    const { rows } = await this.#db.query<{ n: number }>("SELECT nextval('generated_localparts') AS n");
    return String(rows[0]?.n ?? Date.now());
  }
}
