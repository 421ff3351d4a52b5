// Signing JSON (spec appendix "Signing JSON" and "Checking for a Signature") with ed25519 through node:crypto, and
// the signing key seed helpers (Synapse's key file line: `ed25519 <version> <unpadded base64 seed>`).
import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { decodeBase64, encodeBase64, isUnpaddedBase64Url } from './base64.ts';
import { canonicalJsonBytes } from './canonicalJson.ts';
import type { JsonObject, JsonValue } from './json.ts';
import { isJsonObject } from './json.ts';

export const ED25519 = 'ed25519';
/** The spec's key version grammar for server keys: `a-z A-Z 0-9 _`. */
const KEY_VERSION = /^[A-Za-z0-9_]+$/;

/** A server's ed25519 signing key: the 32-byte seed, the key objects node:crypto signs and verifies with, the ids. */
export interface SigningKey {
  /** `ed25519:<version>` */
  readonly keyId: string;
  /** The part after `ed25519:`. */
  readonly version: string;
  readonly seed: Buffer;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The 32-byte public key, unpadded Base64, as published in `verify_keys`. */
  readonly publicKeyBase64: string;
}

// PKCS#8 DER of an Ed25519 private key is this fixed prefix followed by the 32-byte seed (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Builds a signing key from its 32-byte seed and key version (`1`, `a_AbCd`; not the `ed25519:` prefix). */
export function signingKeyFromSeed(seed: Uint8Array, version: string): SigningKey {
  if (seed.length !== 32) throw new Error(`an ed25519 seed is 32 bytes, got ${seed.length}`);
  if (!KEY_VERSION.test(version)) throw new Error(`key version "${version}" may only contain a-z, A-Z, 0-9 and _`);
  const seedBuf = Buffer.from(seed);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seedBuf]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x as string, 'base64url');
  return { keyId: `${ED25519}:${version}`, version, seed: seedBuf, privateKey, publicKey, publicKeyBase64: encodeBase64(raw) };
}

/** A new random signing key. The default version is `a_` and four random characters, as Synapse generates them. */
export function generateSigningKey(version?: string): SigningKey {
  const v = version ?? `a_${randomBytes(3).toString('base64url').slice(0, 4).replace(/-/g, '_')}`;
  return signingKeyFromSeed(randomBytes(32), v);
}

/** A public key object from 32 raw bytes or their Base64 (standard or URL-safe, padded or not). */
export function verifyKeyFromBase64(key: string | Uint8Array): KeyObject {
  const raw = typeof key === 'string' ? decodeAnyBase64(key) : Buffer.from(key);
  if (!raw || raw.length !== 32) throw new Error('an ed25519 public key is 32 bytes of Base64');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

// ---- key file -------------------------------------------------------------------------------------------------

/** One line of a Synapse-style signing key file: `ed25519 <version> <unpadded base64 seed>`. */
export function formatSigningKey(key: SigningKey): string {
  return `${ED25519} ${key.version} ${encodeBase64(key.seed)}`;
}

/** Parses one key file line. Returns the key or a reason. */
export function parseSigningKey(line: string): { ok: true; key: SigningKey } | { ok: false; reason: string } {
  const parts = line.trim().split(/\s+/);
  if (parts.length !== 3) return { ok: false, reason: 'expected "ed25519 <key version> <base64 seed>"' };
  const [alg, version, seedText] = parts as [string, string, string];
  if (alg !== ED25519) return { ok: false, reason: `unsupported algorithm "${alg}"` };
  if (!KEY_VERSION.test(version)) return { ok: false, reason: `key version "${version}" may only contain a-z, A-Z, 0-9 and _` };
  const seed = decodeBase64(seedText);
  if (!seed || seed.length !== 32) return { ok: false, reason: 'the seed is not 32 bytes of Base64' };
  return { ok: true, key: signingKeyFromSeed(seed, version) };
}

/** Parses a whole key file: one key per non-empty line. Blank lines are skipped; any bad line fails the file. */
export function parseSigningKeyFile(text: string): { ok: true; keys: SigningKey[] } | { ok: false; reason: string } {
  const keys: SigningKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    const parsed = parseSigningKey(line);
    if (!parsed.ok) return { ok: false, reason: `line ${i + 1}: ${parsed.reason}` };
    keys.push(parsed.key);
  }
  if (keys.length === 0) return { ok: false, reason: 'the key file holds no key' };
  return { ok: true, keys };
}

/** A whole key file for `keys`, one line each, newline-terminated. */
export function formatSigningKeyFile(keys: readonly SigningKey[]): string {
  return keys.map((k) => formatSigningKey(k) + '\n').join('');
}

// ---- signing and checking JSON ---------------------------------------------------------------------------------

/** Signs raw bytes; the signature as unpadded Base64. */
export function signBytes(key: SigningKey, bytes: Uint8Array): string {
  return encodeBase64(sign(null, bytes, key.privateKey));
}

/**
 * Returns a copy of `object` with `key`'s signature added under `signatures[entity][keyId]`, following the spec's
 * sign_json: `signatures` and `unsigned` are taken off, the rest is signed as canonical JSON, then both are put back
 * (existing signatures kept). The input is not modified. `strict: false` signs events of room versions 1–5 that
 * carry numbers canonical JSON forbids.
 */
export function signJson<T extends JsonObject>(
  object: T,
  entity: string,
  key: SigningKey,
  options?: { strict?: boolean },
): T & { signatures: JsonObject } {
  const { signatures, unsigned, ...rest } = object;
  const signature = signBytes(key, canonicalJsonBytes(rest, options));
  const all: JsonObject = isJsonObject(signatures) ? { ...signatures } : {};
  const mine = all[entity];
  all[entity] = { ...(isJsonObject(mine) ? mine : {}), [key.keyId]: signature };
  const out: JsonObject = { ...rest, signatures: all };
  if (unsigned !== undefined) out['unsigned'] = unsigned;
  return out as T & { signatures: JsonObject };
}

/** A server's public key as the verifier knows it. */
export interface VerifyKey {
  readonly key: KeyObject;
  /**
   * For a current key, `valid_until_ts` (the caller caps it at fetch time + 7 days, see `capValidUntilTs`); for an
   * old key, its `expired_ts`. Undefined means no limit is known.
   */
  readonly validUntilTs?: number;
}

/** Keys by key id (`ed25519:abc`), for one server. */
export type ServerVerifyKeys = ReadonlyMap<string, VerifyKey>;

export type SignatureCheck = { ok: true; keyId: string } | { ok: false; reason: string };

export interface CheckSignatureOptions {
  /**
   * When set, a key only counts if its `validUntilTs` is at least this timestamp: room versions 5+ require
   * `valid_until_ts` >= the event's `origin_server_ts`.
   */
  readonly validAt?: number;
  /** Canonical JSON rules for the signed bytes (false for events of room versions 1–5). Default strict. */
  readonly strict?: boolean;
}

/**
 * Checks that `entity` signed `object` (appendix "Checking for a Signature"): takes the entity's ed25519 signatures
 * whose key ids are in `keys` (and valid at `validAt`), and succeeds if one of them verifies over the canonical JSON
 * of the object without `signatures` and `unsigned`. Keys of other algorithms are ignored, as the spec says.
 */
export function checkJsonSignature(object: JsonObject, entity: string, keys: ServerVerifyKeys, options?: CheckSignatureOptions): SignatureCheck {
  const signatures = object['signatures'];
  if (!isJsonObject(signatures)) return { ok: false, reason: 'no signatures' };
  const mine = signatures[entity];
  if (!isJsonObject(mine)) return { ok: false, reason: `not signed by ${entity}` };
  const ids = Object.keys(mine).filter((id) => id.startsWith(`${ED25519}:`));
  if (ids.length === 0) return { ok: false, reason: `no ed25519 signature from ${entity}` };
  let reason = `no known key of ${entity} for key ids ${ids.join(', ')}`;
  let bytes: Buffer | undefined;
  for (const id of ids) {
    const known = keys.get(id);
    if (!known) continue;
    if (options?.validAt !== undefined && known.validUntilTs !== undefined && known.validUntilTs < options.validAt) {
      reason = `key ${id} of ${entity} expired at ${known.validUntilTs}, before ${options.validAt}`;
      continue;
    }
    const sigText = mine[id];
    const sig = typeof sigText === 'string' ? decodeBase64(sigText) : undefined;
    if (!sig) {
      reason = `signature ${id} of ${entity} is not Base64`;
      continue;
    }
    if (!bytes) {
      const { signatures: _s, unsigned: _u, ...rest } = object;
      bytes = canonicalJsonBytes(rest, { strict: options?.strict !== false });
    }
    if (sig.length === 64 && verify(null, bytes, known.key, sig)) return { ok: true, keyId: id };
    reason = `signature ${id} of ${entity} does not verify`;
  }
  return { ok: false, reason };
}

/** The spec's cap on trusting a key: the lesser of its `valid_until_ts` and 7 days after it was fetched. */
export function capValidUntilTs(validUntilTs: number, fetchedAtTs: number): number {
  return Math.min(validUntilTs, fetchedAtTs + 7 * 24 * 60 * 60 * 1000);
}

/** Collects a JSON object's `signatures` as [entity, keyId, signature] triples, skipping malformed entries. */
export function listSignatures(object: JsonObject): [string, string, string][] {
  const out: [string, string, string][] = [];
  const signatures = object['signatures'];
  if (!isJsonObject(signatures)) return out;
  for (const [entity, byKey] of Object.entries(signatures)) {
    if (!isJsonObject(byKey)) continue;
    for (const [keyId, sig] of Object.entries(byKey as Record<string, JsonValue>)) {
      if (typeof sig === 'string') out.push([entity, keyId, sig]);
    }
  }
  return out;
}

function decodeAnyBase64(text: string): Buffer | undefined {
  const body = text.replace(/=+$/, '');
  return isUnpaddedBase64Url(body) ? Buffer.from(body, 'base64url') : decodeBase64(text);
}
