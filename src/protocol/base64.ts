// Unpadded Base64 (spec appendix "Unpadded Base64"): the standard RFC 4648 alphabet and the URL-safe one, both
// written without `=` padding. Decoding accepts either padded or unpadded input, as the spec asks, but is strict
// about the alphabet: Buffer's own decoder silently skips characters it does not know, which would let two
// different strings decode to the same bytes.
import { Buffer } from 'node:buffer';

const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;

/** Unpadded standard Base64 of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  const s = toBuffer(bytes).toString('base64');
  return stripPadding(s);
}

/** Unpadded URL-safe Base64 (`-` and `_` for `+` and `/`) of `bytes`. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return toBuffer(bytes).toString('base64url');
}

/** Decodes standard Base64, padded or not. Returns undefined for anything that is not valid Base64. */
export function decodeBase64(text: string): Buffer | undefined {
  const body = unpad(text);
  if (body === undefined || !STANDARD.test(body)) return undefined;
  return Buffer.from(body, 'base64');
}

/** Decodes URL-safe Base64, padded or not. Returns undefined for anything that is not valid URL-safe Base64. */
export function decodeBase64Url(text: string): Buffer | undefined {
  const body = unpad(text);
  if (body === undefined || !URL_SAFE.test(body)) return undefined;
  return Buffer.from(body, 'base64url');
}

/** True if `text` is unpadded standard Base64 that decodes to exactly `byteLength` bytes (when given). */
export function isUnpaddedBase64(text: string, byteLength?: number): boolean {
  return STANDARD.test(text) && text.length % 4 !== 1 && (byteLength === undefined || encodedLength(byteLength) === text.length);
}

/** True if `text` is unpadded URL-safe Base64 that decodes to exactly `byteLength` bytes (when given). */
export function isUnpaddedBase64Url(text: string, byteLength?: number): boolean {
  return URL_SAFE.test(text) && text.length % 4 !== 1 && (byteLength === undefined || encodedLength(byteLength) === text.length);
}

/** The length of the unpadded Base64 encoding of `byteLength` bytes (43 for a SHA-256 hash, 86 for a signature). */
export function encodedLength(byteLength: number): number {
  return Math.ceil((byteLength * 4) / 3);
}

/**
 * Strips valid padding and checks the length. Unpadded input must not have length ≡ 1 (mod 4), which no byte
 * string encodes to; padded input must be a whole number of quads with at most two `=`.
 */
function unpad(text: string): string | undefined {
  const firstPad = text.indexOf('=');
  if (firstPad === -1) return text.length % 4 === 1 ? undefined : text;
  if (text.length % 4 !== 0) return undefined;
  const pad = text.length - firstPad;
  if (pad > 2 || !/^=+$/.test(text.slice(firstPad))) return undefined;
  const body = text.slice(0, firstPad);
  return body.length % 4 === 1 ? undefined : body;
}

function stripPadding(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  return end === s.length ? s : s.slice(0, end);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
