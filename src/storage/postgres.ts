// The Database port on a PostgreSQL server, through a `pg` Pool (plus one dedicated connection for LISTEN).
import pg from 'pg';
import type { Database, QueryResult, Transaction } from './database.ts';
import { databaseErrorCode, DatabaseUsageError } from './errors.ts';
import { silentLogger, type StorageLogger } from './logger.ts';
import {
  assertChannelName,
  assertNotInsideTransaction,
  deliverNotification,
  runInsideTransaction,
  SerialQueue,
} from './shared.ts';
import { INT8_OID, parseInt8 } from './values.ts';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database?... */
  url: string;
  /** Most connections the pool opens (Synapse's `cp_max`). Default 10. */
  max?: number;
  /** An idle pooled connection is closed after this long. Default 30 s. */
  idleTimeoutMs?: number;
  /** Giving up on opening a connection after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** First wait before reconnecting the LISTEN connection after it drops (doubles, up to 30 s). Default 1 s. */
  listenReconnectDelayMs?: number;
  /** Let the process exit while only idle connections remain (tests, one-shot CLI commands). */
  allowExitOnIdle?: boolean;
  logger?: StorageLogger;
}

const INT8_ARRAY_OID = 1016;

// Same values as PGlite: int8 as a safe JS number (see src/storage/values.ts).
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary' && oid === INT8_OID) return parseInt8;
    if (format !== 'binary' && oid === INT8_ARRAY_OID) {
      const defaultParser = pg.types.getTypeParser as (oid: number, format: string) => (text: string) => unknown;
      const parseArray = defaultParser(INT8_ARRAY_OID, 'text') as (text: string) => (string | null)[];
      return (text: string) => parseArray(text).map((v) => (v === null ? null : parseInt8(v)));
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Where we connect, for logs: never the password. */
export function describePostgresUrl(url: string): { host: string; port: string; database: string; user: string } {
  try {
    const u = new URL(url);
    return { host: u.hostname, port: u.port || '5432', database: u.pathname.replace(/^\//, ''), user: u.username };
  } catch {
    return { host: '?', port: '?', database: '?', user: '?' };
  }
}

/**
 * Statements with parameters are kept prepared on each connection (a named statement per SQL text): parsing and
 * planning cost PostgreSQL more than running most of ours. Texts built from a varying number of parts could make an
 * unbounded number of them, so after this many distinct texts further ones run unnamed.
 */
const MAX_PREPARED_TEXTS = 2000;

/** Names for SQL texts: the same text always gets the same name (pg refuses one name for two texts). */
class StatementNames {
  readonly #names = new Map<string, string>();

  /** pg's query config: named when it has parameters and there is room. */
  config(sql: string, params: readonly unknown[] | undefined): pg.QueryConfig {
    const values = params as unknown[] | undefined;
    if (values === undefined || values.length === 0) return { text: sql, values };
    let name = this.#names.get(sql);
    if (name === undefined) {
      if (this.#names.size >= MAX_PREPARED_TEXTS) return { text: sql, values };
      name = `troupe_${this.#names.size}`;
      this.#names.set(sql, name);
    }
    return { name, text: sql, values };
  }
}

function toResult<Row>(r: pg.QueryResult): QueryResult<Row> {
  return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
}

/** Opens the pool and checks that the server answers. */
export async function openPostgres(options: PostgresOptions): Promise<Database> {
  const db = new PostgresDatabase(options);
  try {
    await db.query('SELECT 1');
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #logger: StorageLogger;
  readonly #listener: PgListener;
  readonly #statements = new StatementNames();

  constructor(options: PostgresOptions) {
    this.#logger = options.logger ?? silentLogger;
    const client: pg.ClientConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'troupe',
      types,
    };
    this.#pool = new pg.Pool({
      ...client,
      max: options.max ?? 10,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      allowExitOnIdle: options.allowExitOnIdle ?? false,
    });
    // Without a listener, an idle connection dropped by the server would crash the process.
    this.#pool.on('error', (err) => this.#logger.warn({ err }, 'idle PostgreSQL connection failed'));
    this.#listener = new PgListener(client, options.listenReconnectDelayMs ?? 1000, this.#logger);
  }

  async query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    assertNotInsideTransaction(this, 'query');
    return toResult<Row>(await this.#pool.query(this.#statements.config(sql, params)));
  }

  poolUsage(): { total: number; idle: number; waiting: number } {
    return { total: this.#pool.totalCount, idle: this.#pool.idleCount, waiting: this.#pool.waitingCount };
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    assertNotInsideTransaction(this, 'transaction');
    const client = await this.#pool.connect();
    const onError = (err: Error): void => this.#logger.warn({ err }, 'PostgreSQL connection failed in a transaction');
    client.on('error', onError);
    let broken = false;
    let open = true;
    const use = (): pg.PoolClient => {
      if (!open) throw new DatabaseUsageError('transaction handle used after its transaction ended');
      return client;
    };
    const tx: Transaction = {
      query: async <Row>(sql: string, params?: readonly unknown[]) =>
        toResult<Row>(await use().query(this.#statements.config(sql, params))),
      exec: async (sql: string) => {
        await use().query(sql);
      },
    };
    // BEGIN and COMMIT failing without a SQLSTATE means the connection itself failed: do not pool it again.
    const control = async (sql: string): Promise<pg.QueryResult> => {
      try {
        return await client.query(sql);
      } catch (err) {
        if (databaseErrorCode(err) === undefined) broken = true;
        throw err;
      }
    };
    try {
      await control('BEGIN');
      let result: T;
      try {
        result = await runInsideTransaction(this, () => fn(tx));
      } catch (err) {
        open = false;
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = true;
          this.#logger.warn({ err: rollbackErr }, 'ROLLBACK failed; discarding the connection');
        }
        throw err;
      }
      open = false;
      const commit = await control('COMMIT');
      // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK and no error; PGlite throws. Match PGlite.
      if (commit.command === 'ROLLBACK') throw new TransactionRolledBackError();
      return result;
    } finally {
      open = false;
      client.off('error', onError);
      client.release(broken);
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    assertNotInsideTransaction(this, 'listen');
    assertChannelName(channel);
    return this.#listener.listen(channel, onNotify);
  }

  async close(): Promise<void> {
    await this.#listener.close();
    await this.#pool.end();
  }
}

/** COMMIT turned into a rollback because a statement in the transaction had failed (SQLSTATE 25P02). */
export class TransactionRolledBackError extends Error {
  override name = 'TransactionRolledBackError';
  readonly code = '25P02';
  constructor() {
    super('the transaction was rolled back at COMMIT because a statement in it failed');
  }
}

/** One connection outside the pool that holds the LISTENs, reconnecting (and re-LISTENing) if it drops. */
class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #firstDelayMs: number;
  readonly #logger: StorageLogger;
  readonly #channels = new Map<string, Set<(payload: string) => void>>();
  readonly #ops = new SerialQueue();
  #client: pg.Client | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryDelayMs: number;
  #closed = false;

  constructor(config: pg.ClientConfig, firstDelayMs: number, logger: StorageLogger) {
    this.#config = config;
    this.#firstDelayMs = firstDelayMs;
    this.#retryDelayMs = firstDelayMs;
    this.#logger = logger;
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    return this.#ops.run(async () => {
      if (this.#closed) throw new DatabaseUsageError('database is closed');
      let callbacks = this.#channels.get(channel);
      if (!callbacks) {
        const client = await this.#connected();
        await client.query(`LISTEN "${channel}"`);
        callbacks = new Set();
        this.#channels.set(channel, callbacks);
      }
      // Wrap so the same function can be registered twice and unregistered once per registration.
      const entry = (payload: string): void => onNotify(payload);
      callbacks.add(entry);
      let done = false;
      return () =>
        this.#ops.run(async () => {
          if (done) return;
          done = true;
          const set = this.#channels.get(channel);
          if (!set?.delete(entry) || set.size > 0) return;
          this.#channels.delete(channel);
          if (this.#client) await this.#client.query(`UNLISTEN "${channel}"`);
        });
    });
  }

  async close(): Promise<void> {
    await this.#ops.run(async () => {
      this.#closed = true;
      if (this.#retryTimer) clearTimeout(this.#retryTimer);
      const client = this.#client;
      this.#client = null;
      this.#channels.clear();
      if (client) await client.end().catch(() => undefined);
    });
  }

  async #connected(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client(this.#config);
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, null));
    client.on('notification', (msg) => {
      for (const cb of this.#channels.get(msg.channel) ?? []) {
        deliverNotification(cb, msg.payload ?? '', msg.channel, this.#logger);
      }
    });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.#client = client;
    return client;
  }

  #lost(client: pg.Client, err: Error | null): void {
    if (this.#client !== client) return; // already replaced, or ended by close()
    this.#client = null;
    client.end().catch(() => undefined);
    if (this.#closed) return;
    this.#logger.warn({ err, channels: [...this.#channels.keys()] }, 'LISTEN connection lost; reconnecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer || this.#channels.size === 0) return;
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, 30_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#ops
        .run(async () => {
          if (this.#closed || this.#client || this.#channels.size === 0) return;
          const client = await this.#connected();
          for (const channel of this.#channels.keys()) await client.query(`LISTEN "${channel}"`);
          this.#retryDelayMs = this.#firstDelayMs;
          this.#logger.info({ channels: [...this.#channels.keys()] }, 'LISTEN connection restored');
        })
        .catch((err: unknown) => {
          this.#logger.warn({ err }, 'reconnecting the LISTEN connection failed');
          const client = this.#client;
          this.#client = null;
          if (client) client.end().catch(() => undefined);
          this.#scheduleReconnect();
        });
    }, delay);
    this.#retryTimer.unref();
  }
}
