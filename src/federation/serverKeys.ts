// The /_matrix/key/v2/server document: building ours and checking a remote server's (spec "Retrieving server
// keys"). Pure apart from the crypto: no network, no storage.
import { isUnpaddedBase64 } from '../protocol/base64.ts';
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import { checkJsonSignature, ED25519, signJson, verifyKeyFromBase64, type SigningKey, type VerifyKey } from '../protocol/signing.ts';

/**
 * How long others may trust our published keys before refetching: one day, as Synapse's default
 * `key_refresh_interval`. The spec caps any lifetime at 7 days on the reader's side.
 */
export const OWN_KEYS_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** A key of ours retired by a rotation (config `old_signing_keys`): others still need it for what it signed. */
export interface OldVerifyKey {
  keyId: string;
  /** Unpadded Base64 of the public key. */
  key: string;
  /** When we stopped signing with it. */
  expiredTs: number;
}

/**
 * Our signed key document, signed by the current key only. Retired keys go in `old_verify_keys` with their
 * expired_ts; an old entry carrying the current key's id is left out, so a key is never both current and old.
 */
export function ownServerKeys(
  serverName: string,
  signingKey: SigningKey,
  now: number,
  lifetimeMs = OWN_KEYS_LIFETIME_MS,
  oldKeys: readonly OldVerifyKey[] = [],
): JsonObject {
  const oldVerifyKeys: JsonObject = {};
  for (const old of oldKeys) {
    if (old.keyId !== signingKey.keyId) oldVerifyKeys[old.keyId] = { key: old.key, expired_ts: old.expiredTs };
  }
  return signJson(
    {
      server_name: serverName,
      verify_keys: { [signingKey.keyId]: { key: signingKey.publicKeyBase64 } },
      old_verify_keys: oldVerifyKeys,
      valid_until_ts: now + lifetimeMs,
    },
    serverName,
    signingKey,
  );
}

export interface PublishedKey {
  keyId: string;
  /** Unpadded Base64. */
  key: string;
  old: boolean;
  /** `valid_until_ts` of the document for a current key, `expired_ts` for an old one. */
  validUntilTs: number;
}

export type CheckedServerKeys = { ok: true; validUntilTs: number; keys: PublishedKey[] } | { ok: false; reason: string };

const KEY_ID = /^ed25519:[A-Za-z0-9_]+$/;

function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks a server's key document: it is about `serverName`, every ed25519 key in `verify_keys` is well formed
 * and has signed the document itself (so a response cannot smuggle in a key its owner never used), and the
 * timestamps are integers. Keys of other algorithms are ignored. A key id listed both as current and old
 * counts as current.
 */
export function checkServerKeys(document: unknown, serverName: string): CheckedServerKeys {
  if (!isJsonObject(document)) return { ok: false, reason: 'the key document is not a JSON object' };
  if (document['server_name'] !== serverName) {
    return { ok: false, reason: `the key document is for ${JSON.stringify(document['server_name'])}, not ${serverName}` };
  }
  const validUntilTs = document['valid_until_ts'];
  if (!isTimestamp(validUntilTs)) return { ok: false, reason: 'valid_until_ts is not a timestamp' };
  const verifyKeys = document['verify_keys'];
  if (!isJsonObject(verifyKeys)) return { ok: false, reason: 'verify_keys is not an object' };
  const keys: PublishedKey[] = [];
  for (const [keyId, entry] of Object.entries(verifyKeys)) {
    if (!keyId.startsWith(`${ED25519}:`)) continue;
    const key = isJsonObject(entry) ? entry['key'] : undefined;
    if (!KEY_ID.test(keyId) || typeof key !== 'string' || !isUnpaddedBase64(key, 32)) {
      return { ok: false, reason: `verify key ${keyId} is malformed` };
    }
    const single = new Map<string, VerifyKey>([[keyId, { key: verifyKeyFromBase64(key) }]]);
    const signed = checkJsonSignature(document, serverName, single);
    if (!signed.ok) return { ok: false, reason: `the key document is not signed by its key ${keyId}: ${signed.reason}` };
    keys.push({ keyId, key, old: false, validUntilTs });
  }
  if (keys.length === 0) return { ok: false, reason: 'the key document holds no ed25519 verify key' };
  const oldKeys = document['old_verify_keys'] ?? {};
  if (!isJsonObject(oldKeys)) return { ok: false, reason: 'old_verify_keys is not an object' };
  for (const [keyId, entry] of Object.entries(oldKeys)) {
    if (!keyId.startsWith(`${ED25519}:`) || keys.some((k) => k.keyId === keyId)) continue;
    const key = isJsonObject(entry) ? entry['key'] : undefined;
    const expiredTs = isJsonObject(entry) ? entry['expired_ts'] : undefined;
    if (!KEY_ID.test(keyId) || typeof key !== 'string' || !isUnpaddedBase64(key, 32) || !isTimestamp(expiredTs)) {
      return { ok: false, reason: `old verify key ${keyId} is malformed` };
    }
    keys.push({ keyId, key, old: true, validUntilTs: expiredTs });
  }
  return { ok: true, validUntilTs, keys };
}
