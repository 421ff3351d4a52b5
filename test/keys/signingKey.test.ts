import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { sign, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadOrCreateSigningKey } from '../../src/keys/signingKey.ts';

test('first start creates a 0600 key file in Synapse format; later starts reuse it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-key-'));
  const file = path.join(dir, 'nested', 'example.org.signing.key');
  const first = await loadOrCreateSigningKey(file);
  const text = await readFile(file, 'utf8');
  assert.match(text, /^ed25519 a_[A-Za-z0-9_]{4} [A-Za-z0-9+/]{43}\n$/);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const second = await loadOrCreateSigningKey(file);
  assert.equal(second.keyId, first.keyId);
  assert.equal(second.publicKeyBase64, first.publicKeyBase64);
  const message = Buffer.from('hello');
  assert.ok(verify(null, message, second.publicKey, sign(null, message, first.privateKey)));
});

test('a Synapse key file is read as it is', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-key-'));
  const file = path.join(dir, 'synapse.key');
  // The spec appendix's seed, as Synapse would have written it.
  await writeFile(file, 'ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n');
  const key = await loadOrCreateSigningKey(file);
  assert.equal(key.keyId, 'ed25519:1');
  assert.equal(key.publicKeyBase64, 'XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI');
});

test('a malformed key file is refused with the line number, never overwritten', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-key-'));
  const file = path.join(dir, 'bad.key');
  await writeFile(file, 'ed25519 a_abcd not-base64!\n');
  await assert.rejects(loadOrCreateSigningKey(file), /bad\.key: line 1/);
  assert.equal(await readFile(file, 'utf8'), 'ed25519 a_abcd not-base64!\n');
});
