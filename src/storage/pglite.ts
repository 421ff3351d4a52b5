// The Database port on PGlite: PostgreSQL compiled to WebAssembly, in this process, files in a directory (or in
// memory). It is one connection, so everything goes through one queue: a transaction runs alone from BEGIN to
// COMMIT and no other caller's query can land inside it. (PGlite 0.5 already queues `query` behind
// `transaction`; our own queue keeps that guarantee whatever a future PGlite does.)
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PGlite, type Results } from '@electric-sql/pglite';
import type { Database, QueryResult, Transaction } from './database.ts';
import { DatabaseUsageError } from './errors.ts';
import { silentLogger, type StorageLogger } from './logger.ts';
import {
  assertChannelName,
  assertNotInsideTransaction,
  deliverNotification,
  runInsideTransaction,
  SerialQueue,
} from './shared.ts';
import { BYTEA_OID, INT8_OID, parseByteaHex, parseInt8 } from './values.ts';

export interface PgliteOptions {
  /** Directory holding the database files (created if missing); omit for an in-memory database. */
  dataDir?: string;
  /** Start from this data directory tarball (from `dumpDataDir`) instead of an empty database; in memory only. */
  loadDataDir?: Blob;
  logger?: StorageLogger;
}

export interface PgliteDatabase extends Database {
  readonly kind: 'pglite';
  /** A tarball of the whole database, for `loadDataDir` (tests clone a migrated template this way). */
  dumpDataDir(): Promise<Blob>;
}

function toResult<Row>(r: Results<Row>): QueryResult<Row> {
  // PGlite reports affected rows for INSERT/UPDATE/DELETE; `pg` reports rows returned for SELECT too.
  return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
}

export async function openPglite(options: PgliteOptions = {}): Promise<PgliteDatabase> {
  if (options.dataDir !== undefined && options.loadDataDir !== undefined) {
    throw new DatabaseUsageError('loadDataDir is only for in-memory PGlite databases');
  }
  let unlock = async (): Promise<void> => undefined;
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true });
    unlock = await lockDirectory(options.dataDir);
  }
  try {
    const pglite = await PGlite.create({
      ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
      ...(options.loadDataDir !== undefined ? { loadDataDir: options.loadDataDir } : {}),
      parsers: { [INT8_OID]: (text: string) => parseInt8(text), [BYTEA_OID]: (text: string) => parseByteaHex(text) },
    });
    return new PgliteBackedDatabase(pglite, options.logger ?? silentLogger, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

/** Directories this process holds open. */
const lockedHere = new Set<string>();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite does nothing to stop two processes opening one data directory, which would corrupt it (say `troupe
 * migrate` while the server runs). `<dir>.lock` beside it holds the owner's pid; a lock left by a process that
 * is gone is taken over.
 */
async function lockDirectory(dir: string): Promise<() => Promise<void>> {
  const resolved = path.resolve(dir);
  const lockPath = `${resolved}.lock`;
  if (lockedHere.has(resolved)) throw new DatabaseUsageError(`the PGlite database in ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      lockedHere.add(resolved);
      return async () => {
        lockedHere.delete(resolved);
        await rm(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      // Our own pid here (and not in lockedHere) is a lock left by an earlier life of a reused pid (containers).
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
        throw new DatabaseUsageError(
          `the PGlite database in ${dir} is in use by process ${pid} (lock file ${lockPath}); stop it first`,
        );
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new DatabaseUsageError(`could not lock the PGlite database in ${dir} (lock file ${lockPath})`);
}

class PgliteBackedDatabase implements PgliteDatabase {
  readonly kind = 'pglite' as const;
  readonly #pglite: PGlite;
  readonly #logger: StorageLogger;
  readonly #queue = new SerialQueue();
  readonly #unlock: () => Promise<void>;
  #closed = false;

  constructor(pglite: PGlite, logger: StorageLogger, unlock: () => Promise<void>) {
    this.#pglite = pglite;
    this.#logger = logger;
    this.#unlock = unlock;
  }

  async query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    assertNotInsideTransaction(this, 'query');
    return this.#queue.run(async () => {
      this.#assertOpen();
      return toResult(await this.#pglite.query<Row>(sql, params as unknown[] | undefined));
    });
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    assertNotInsideTransaction(this, 'transaction');
    return this.#queue.run(async () => {
      this.#assertOpen();
      return this.#pglite.transaction(async (ptx) => {
        let open = true;
        const use = (): typeof ptx => {
          if (!open) throw new DatabaseUsageError('transaction handle used after its transaction ended');
          return ptx;
        };
        const tx: Transaction = {
          query: async <Row>(sql: string, params?: readonly unknown[]) =>
            toResult(await use().query<Row>(sql, params as unknown[] | undefined)),
          exec: async (sql: string) => {
            await use().exec(sql);
          },
        };
        try {
          return await runInsideTransaction(this, () => fn(tx));
        } finally {
          open = false;
        }
      });
    });
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    assertNotInsideTransaction(this, 'listen');
    assertChannelName(channel);
    return this.#queue.run(async () => {
      this.#assertOpen();
      // A fresh function per registration, so unlistening one registration leaves the others.
      const entry = (payload: string): void => deliverNotification(onNotify, payload, channel, this.#logger);
      await this.#pglite.listen(channel, entry);
      let done = false;
      return () =>
        this.#queue.run(async () => {
          if (done || this.#closed) return;
          done = true;
          await this.#pglite.unlisten(channel, entry);
        });
    });
  }

  dumpDataDir(): Promise<Blob> {
    return this.#queue.run(async () => {
      this.#assertOpen();
      return this.#pglite.dumpDataDir('none');
    });
  }

  async close(): Promise<void> {
    assertNotInsideTransaction(this, 'close');
    return this.#queue.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      try {
        await this.#pglite.close();
      } finally {
        await this.#unlock();
      }
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new DatabaseUsageError('database is closed');
  }
}
