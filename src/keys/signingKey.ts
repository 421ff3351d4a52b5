// The server's signing key file: Synapse's format (see src/protocol/signing.ts), so keys move between Troupe and
// Synapse. Generated on first start (mode 0600) and reused afterwards.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile, type SigningKey } from '../protocol/signing.ts';
import type { Logger } from '../log.ts';

export type { SigningKey };

/** Loads the first key of the file, creating the file with a new key when it does not exist. */
export async function loadOrCreateSigningKey(file: string, logger?: Logger): Promise<SigningKey> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    const parsed = parseSigningKeyFile(text);
    if (!parsed.ok) throw new Error(`signing key file ${file}: ${parsed.reason}`);
    return parsed.keys[0] as SigningKey;
  }
  const key = generateSigningKey();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, formatSigningKeyFile([key]), { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  logger?.info({ keyId: key.keyId, file }, 'generated a new signing key');
  return key;
}
