// Result values shared by both backends, so a query returns the same JS values on `pg` and on PGlite.

/** PostgreSQL type OIDs whose parsing we fix. */
export const INT8_OID = 20;
export const BYTEA_OID = 17;

/**
 * int8 (bigint, count(*), sum of int4...) as a JS number. Stream ids and millisecond timestamps fit easily;
 * a value that would lose precision throws instead of being silently rounded.
 */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} is outside the safe integer range of a JS number`);
  }
  return value;
}

/** bytea in PostgreSQL's hex text format (`\x0a1b...`, the default since 9.0) as a Buffer. */
export function parseByteaHex(text: string): Buffer {
  if (!text.startsWith('\\x')) {
    throw new TypeError('bytea value is not in hex format (bytea_output must be hex)');
  }
  return Buffer.from(text.slice(2), 'hex');
}
