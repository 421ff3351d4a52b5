// PostgreSQL errors are passed through from both backends unwrapped; these read their SQLSTATE.

export const UNIQUE_VIOLATION = '23505';
export const FOREIGN_KEY_VIOLATION = '23503';
export const SERIALIZATION_FAILURE = '40001';
export const DEADLOCK_DETECTED = '40P01';

/** The SQLSTATE of an error thrown by either backend (`pg` or PGlite), or undefined for any other error. */
export function databaseErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  // Node's own errors (EPIPE, ECONNRESET...) carry `errno`/`syscall`; SQLSTATEs are five characters.
  if ('errno' in err || 'syscall' in err) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isUniqueViolation(err: unknown): boolean {
  return databaseErrorCode(err) === UNIQUE_VIOLATION;
}

/** Thrown when the Database is used the wrong way (not a database error: it has no SQLSTATE). */
export class DatabaseUsageError extends Error {
  override name = 'DatabaseUsageError';
}
