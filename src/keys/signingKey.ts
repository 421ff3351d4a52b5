// The server's ed25519 signing key, kept in Synapse's signing key file format (`ed25519 <key_id> <unpadded
// base64 seed>`, one key a line) so keys can move between Troupe and Synapse. Generated on first start.
import { createPrivateKey, createPublicKey, randomInt, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { decodeBase64, encodeBase64 } from '../protocol/base64.ts';
import type { Logger } from '../log.ts';

export interface SigningKey {
  /** e.g. `ed25519:a_b3Xz` */
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as unpadded base64, as served in /_matrix/key/v2/server. */
  publicKeyBase64: string;
}

// PKCS#8 DER prefix for a raw 32-byte ed25519 seed (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function signingKeyFromSeed(version: string, seed: Uint8Array): SigningKey {
  if (seed.length !== 32) throw new Error('an ed25519 seed is 32 bytes');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  return { keyId: `ed25519:${version}`, privateKey, publicKey, publicKeyBase64: encodeBase64(raw) };
}

function seedOf(key: SigningKey): Buffer {
  return Buffer.from(key.privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
}

export function formatSigningKeyFile(keys: readonly SigningKey[]): string {
  return keys.map((k) => `ed25519 ${k.keyId.slice('ed25519:'.length)} ${encodeBase64(seedOf(k))}\n`).join('');
}

/** Parses a signing key file; throws with the line number on anything malformed. */
export function parseSigningKeyFile(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const [algorithm, version, seedText, ...rest] = line.trim().split(/\s+/);
    const seed = seedText === undefined ? undefined : decodeBase64(seedText);
    if (algorithm !== 'ed25519' || !version || !/^[A-Za-z0-9_]+$/.test(version) || !seed || seed.length !== 32 || rest.length > 0) {
      throw new Error(`signing key file line ${index + 1}: expected "ed25519 <key_id> <unpadded base64 seed>"`);
    }
    keys.push(signingKeyFromSeed(version, seed));
  });
  if (keys.length === 0) throw new Error('signing key file holds no key');
  return keys;
}

/** A new key with a Synapse-style version (`a_` and four random letters or digits). */
export function generateSigningKey(): SigningKey {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const version = `a_${Array.from({ length: 4 }, () => alphabet[randomInt(alphabet.length)]).join('')}`;
  const { privateKey } = generateKeyPairSync('ed25519');
  return signingKeyFromSeed(version, Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url'));
}

/** Loads the first key of the file, creating the file (mode 0600) with a new key when it does not exist. */
export async function loadOrCreateSigningKey(file: string, logger?: Logger): Promise<SigningKey> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    const [key] = parseSigningKeyFile(text);
    return key as SigningKey;
  }
  const key = generateSigningKey();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, formatSigningKeyFile([key]), { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  logger?.info({ keyId: key.keyId, file }, 'generated a new signing key');
  return key;
}
