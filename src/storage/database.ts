// The Database port: one PostgreSQL dialect, two backends (a `pg` Pool for a server, PGlite embedded).
//
// Values are the same on both backends (see src/storage/values.ts): int8/bigint columns and count(*) come back
// as JS numbers (a value outside Number.MAX_SAFE_INTEGER throws a RangeError rather than losing precision),
// numeric as strings, bytea as Buffer, json/jsonb parsed, booleans as booleans, timestamptz as Date.
// Parameters: numbers, strings, booleans, bigints, Buffer/Uint8Array (bytea), Date, null, plain objects (json).
// Pass a JSON *array* for a json/jsonb parameter as a string (JSON.stringify): `pg` sends JS arrays as
// PostgreSQL arrays, which is what `= ANY($1::text[])` needs.
//
// Errors from the database are passed through unwrapped: `err.code` is the PostgreSQL SQLSTATE (e.g. '23505'
// for a unique violation, see src/storage/errors.ts), on both backends.
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

/** The handle given to a transaction's callback. Valid only until the callback settles. */
export interface Transaction extends Queryable {
  /** Runs a script of several statements, without parameters (used by migrations). */
  exec(sql: string): Promise<void>;
}

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /**
   * Runs fn in one transaction on one connection: committed when fn resolves, rolled back when it throws.
   * If a statement failed inside fn and fn swallowed the error, the commit is a rollback and this rejects.
   * Inside fn use `tx`, never the Database itself: calling `query`/`transaction` on the Database from inside
   * one of its transactions throws (on PGlite, the single connection, it would wait for itself forever).
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * LISTEN on a channel (lowercase letters, digits and `_`, at most 63 characters); resolves to an unlisten
   * function. Send with `SELECT pg_notify($1, $2)` (inside a transaction it is delivered on commit).
   * Callbacks run asynchronously, outside any transaction; a notification is a hint to re-read state, and on
   * PostgreSQL notifications sent while the listening connection is reconnecting are lost.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /** Pooled backends only (PostgreSQL): connections open, idle, and requests waiting for one (for metrics). */
  poolUsage?(): { total: number; idle: number; waiting: number };
}
