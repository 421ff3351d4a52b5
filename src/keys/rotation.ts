// `troupe rotate-signing-key`: retire the current signing key and start signing with a new one. The retired key's
// public half goes into the config's old_signing_keys (Synapse's key, so operators coming from Synapse find it
// where they expect) with expired_ts = now, and the key file is replaced by the new key.
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import YAML from 'yaml';
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile } from '../protocol/signing.ts';

export interface Rotation {
  oldKeyId: string;
  newKeyId: string;
  expiredTs: number;
}

/**
 * The config is written first: a crash before the key file is replaced leaves the current key listed as old too,
 * which the key document ignores (a key id is never both current and old) and a second rotation overwrites.
 * Both files are replaced by rename, so neither is ever seen half written. Comments in the config are kept.
 */
export async function rotateSigningKey(configPath: string, signingKeyPath: string, now: number): Promise<Rotation> {
  let keyText: string;
  try {
    keyText = await readFile(signingKeyPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error(`no signing key at ${signingKeyPath}: nothing to rotate (the first start creates one)`, { cause: error });
  }
  const parsed = parseSigningKeyFile(keyText);
  if (!parsed.ok) throw new Error(`signing key file ${signingKeyPath}: ${parsed.reason}`);
  const old = parsed.keys[0];
  if (!old) throw new Error(`signing key file ${signingKeyPath} holds no key`);
  let fresh = generateSigningKey();
  // A random version could repeat a retired one; the key id must stay unique.
  while (fresh.keyId === old.keyId) fresh = generateSigningKey();

  const document = YAML.parseDocument(await readFile(configPath, 'utf8'));
  if (document.errors.length > 0) throw new Error(`${configPath}: ${document.errors[0]?.message ?? 'invalid YAML'}`);
  const entry = document.createNode({ key: old.publicKeyBase64, expired_ts: now });
  entry.flow = true;
  document.setIn(['old_signing_keys', old.keyId], entry);
  // The config may hold secrets: the new file keeps the old one's permissions.
  await replaceFile(configPath, document.toString(), (await stat(configPath)).mode & 0o777);
  await replaceFile(signingKeyPath, formatSigningKeyFile([fresh]), 0o600);
  return { oldKeyId: old.keyId, newKeyId: fresh.keyId, expiredTs: now };
}

async function replaceFile(file: string, text: string, mode: number): Promise<void> {
  const temporary = `${file}.rotating`;
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}
