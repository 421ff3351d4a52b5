// Canonical JSON (spec appendix "Canonical JSON"): the shortest UTF-8 JSON encoding, object keys sorted by
// Unicode code point, no insignificant whitespace, numbers only integers in [-(2^53)+1, 2^53-1] without
// exponent, fraction or negative zero. Everything that is signed or hashed in Matrix goes through here.
import { Buffer } from 'node:buffer';
import type { JsonObject, JsonValue } from './json.ts';

export const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER; // 2^53 - 1
export const MIN_SAFE_INTEGER = Number.MIN_SAFE_INTEGER; // -(2^53) + 1

/** A value that canonical JSON cannot represent. `path` is a dot path to it (`content.ts`), `$` for the root. */
export class CanonicalJsonError extends Error {
  readonly path: string;
  constructor(reason: string, path: string) {
    super(`${reason} at ${path}`);
    this.name = 'CanonicalJsonError';
    this.path = path;
  }
}

export interface CanonicalJsonOptions {
  /**
   * Strict (the default) is the appendix: integers within ±(2^53 − 1) only. Lenient is for events of room versions
   * 1–5, which the spec says might not comply ("Servers SHOULD be capable of handling JSON which is considered
   * invalid"): any finite number is written as JavaScript writes it (integers in full, other numbers shortest
   * round-trip), so such an event can still be hashed and re-served. NaN and infinities are never accepted.
   */
  readonly strict?: boolean;
}

/** Encodes `value` as canonical JSON text. Throws `CanonicalJsonError` for floats, unsafe integers, lone surrogates, etc. */
export function encodeCanonicalJson(value: unknown, options?: CanonicalJsonOptions): string {
  return write(value, options?.strict !== false, '$');
}

/** The UTF-8 bytes of `encodeCanonicalJson(value)`: what is signed and hashed. */
export function canonicalJsonBytes(value: unknown, options?: CanonicalJsonOptions): Buffer {
  return Buffer.from(encodeCanonicalJson(value, options), 'utf8');
}

/** Returns the reason `value` is not valid canonical JSON under the given rules, or undefined when it is. */
export function canonicalJsonProblem(value: unknown, options?: CanonicalJsonOptions): string | undefined {
  try {
    check(value, options?.strict !== false, '$');
    return undefined;
  } catch (err) {
    if (err instanceof CanonicalJsonError) return err.message;
    throw err;
  }
}

/**
 * Compares two strings by Unicode code point (what the spec sorts keys by). JavaScript's default string order is by
 * UTF-16 code unit, which differs exactly when a surrogate (an astral character, U+10000 and up) meets a code unit in
 * U+E000–U+FFFF: by code unit the astral character sorts first, by code point it sorts last.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) return fixup(x) - fixup(y);
    return x - y;
  }
  return a.length - b.length;
}

/** Sorts keys by code point. Code unit order (the default sort) is the same unless a key holds a surrogate. */
function sortKeys(keys: string[]): string[] {
  for (const k of keys) {
    if (/[\ud800-\udfff]/.test(k)) return keys.sort(compareCodePoints);
  }
  return keys.sort();
}

// Moves surrogates (D800–DFFF) above E000–FFFF, so that code unit order becomes code point order.
function fixup(c: number): number {
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/** Parse options for `parseJson`. */
export interface ParseJsonOptions {
  /**
   * Reject number literals with a fraction or exponent (`1.0`, `1e3`) and integers outside ±(2^53 − 1), as room
   * versions 6+ require of received events. `JSON.parse` alone cannot see these: it turns `1.0` into `1`.
   */
  readonly strict?: boolean;
}

/**
 * Parses JSON text. With `strict`, the text must also satisfy canonical JSON's number rules (see ParseJsonOptions).
 * Throws `SyntaxError` for malformed JSON and `CanonicalJsonError` for numbers strict mode forbids.
 */
export function parseJson(text: string, options?: ParseJsonOptions): JsonValue {
  const value = JSON.parse(text) as JsonValue;
  if (options?.strict) {
    const bad = findNonIntegerLiteral(text);
    if (bad !== undefined) throw new CanonicalJsonError(`number ${bad} is not an integer literal`, '$');
    check(value, true, '$');
  }
  return value;
}

/** Sorts an object's keys by code point, recursively. Handy for comparisons and fixtures; encoding does this itself. */
export function sortKeysDeep(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const k of Object.keys(value).sort(compareCodePoints)) out[k] = sortKeysDeep(value[k] as JsonValue);
  return out;
}

function write(value: unknown, strict: boolean, path: string): string {
  switch (typeof value) {
    case 'string':
      return writeString(value, path);
    case 'number':
      return writeNumber(value, strict, path);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += write(value[i], strict, `${path}[${i}]`);
        }
        return out + ']';
      }
      if (!isPlainObject(value)) throw new CanonicalJsonError(`${describe(value)} is not a JSON value`, path);
      const obj = value as Record<string, unknown>;
      const keys = sortKeys(Object.keys(obj));
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        // Like JSON.stringify, an absent value (undefined) means an absent key; anything else must encode.
        if (v === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += writeString(k, path) + ':' + write(v, strict, `${path}.${k}`);
      }
      return out + '}';
    }
    default:
      throw new CanonicalJsonError(`${describe(value)} is not a JSON value`, path);
  }
}

function check(value: unknown, strict: boolean, path: string): void {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new CanonicalJsonError('string contains a lone surrogate', path);
      return;
    case 'number':
      writeNumber(value, strict, path);
      return;
    case 'boolean':
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((v, i) => check(v, strict, `${path}[${i}]`));
        return;
      }
      if (!isPlainObject(value)) throw new CanonicalJsonError(`${describe(value)} is not a JSON value`, path);
      for (const [k, v] of Object.entries(value)) {
        if (!k.isWellFormed()) throw new CanonicalJsonError('key contains a lone surrogate', path);
        if (v !== undefined) check(v, strict, `${path}.${k}`);
      }
      return;
    default:
      throw new CanonicalJsonError(`${describe(value)} is not a JSON value`, path);
  }
}

// JSON.stringify escapes exactly what the appendix grammar escapes: `"` and `\`, \b \f \n \r \t, and the other
// C0 controls as lowercase \u00XX; it leaves `/`, DEL, U+2028/U+2029 and all other characters as they are. The one
// case it would get wrong is a lone surrogate (it writes \udXXX, which no UTF-8 encoding of the same string has),
// so those are rejected.
function writeString(s: string, path: string): string {
  if (!s.isWellFormed()) throw new CanonicalJsonError('string contains a lone surrogate', path);
  return JSON.stringify(s);
}

function writeNumber(n: number, strict: boolean, path: string): string {
  if (!Number.isFinite(n)) throw new CanonicalJsonError(`${n} is not a JSON number`, path);
  if (Number.isInteger(n)) {
    if (n >= MIN_SAFE_INTEGER && n <= MAX_SAFE_INTEGER) return Object.is(n, -0) ? '0' : String(n);
    if (strict) throw new CanonicalJsonError(`integer ${n} is outside ±(2^53 - 1)`, path);
    return BigInt(n).toString();
  }
  if (strict) throw new CanonicalJsonError(`${n} is not an integer`, path);
  return String(n);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

// Scans JSON text (already known to be well-formed) for a number literal with a fraction or exponent.
function findNonIntegerLiteral(text: string): string | undefined {
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      let integer = true;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d >= 0x30 && d <= 0x39) i++;
        else if (d === 0x2e /* . */ || d === 0x65 /* e */ || d === 0x45 /* E */ || d === 0x2b /* + */ || d === 0x2d) {
          integer = false;
          i++;
        } else break;
      }
      if (!integer) return text.slice(start, i);
    } else i++;
  }
  return undefined;
}
