// Chooses the backend: a PostgreSQL server when a URL is configured, else embedded PGlite in the data directory.
import path from 'node:path';
import type { Database } from './database.ts';
import { silentLogger, type StorageLogger } from './logger.ts';
import { openPglite } from './pglite.ts';
import { describePostgresUrl, openPostgres } from './postgres.ts';

export const IN_MEMORY = 'memory://';

export interface OpenDatabaseOptions {
  /** postgres://... : use that server. Absent or empty: embedded PGlite. */
  url?: string;
  /** The server's data directory: PGlite keeps its files in `<dataDir>/pglite` (locked by `<dataDir>/pglite.lock`
   * while open); `memory://` keeps them in memory. */
  dataDir: string;
  logger?: StorageLogger;
  /** Pool settings for a PostgreSQL server (ignored for PGlite, which is one connection). */
  pool?: { max?: number; idleTimeoutMs?: number; connectTimeoutMs?: number };
}

/** The already-resolved form the config module produces (src/config DatabaseConfig), accepted as is. */
export type ResolvedDatabaseConfig =
  | { backend: 'pglite'; path: string }
  | { backend: 'postgres'; url: string; poolMax?: number };

/** Where PGlite keeps its files for a given data directory (undefined: in memory). */
export function pgliteDirectory(dataDir: string): string | undefined {
  return dataDir === IN_MEMORY ? undefined : path.join(dataDir, 'pglite');
}

export async function openDatabase(
  options: OpenDatabaseOptions | ResolvedDatabaseConfig,
  logger: StorageLogger = ('logger' in options && options.logger) || silentLogger,
): Promise<Database> {
  if ('backend' in options) {
    if (options.backend === 'postgres') {
      return openPostgresLogged(options.url, options.poolMax !== undefined ? { max: options.poolMax } : {}, logger);
    }
    return openPgliteLogged(options.path === IN_MEMORY ? undefined : options.path, logger);
  }
  if (options.url !== undefined && options.url !== '') return openPostgresLogged(options.url, options.pool ?? {}, logger);
  return openPgliteLogged(pgliteDirectory(options.dataDir), logger);
}

function openPostgresLogged(
  url: string,
  pool: NonNullable<OpenDatabaseOptions['pool']>,
  logger: StorageLogger,
): Promise<Database> {
  logger.info({ backend: 'postgres', ...describePostgresUrl(url) }, 'opening database');
  return openPostgres({ url, ...pool, logger });
}

function openPgliteLogged(dir: string | undefined, logger: StorageLogger): Promise<Database> {
  logger.info({ backend: 'pglite', dataDir: dir ?? IN_MEMORY }, 'opening database');
  return openPglite({ ...(dir !== undefined ? { dataDir: dir } : {}), logger });
}
