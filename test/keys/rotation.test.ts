// Signing key rotation: `troupe rotate-signing-key` rewrites the key file and the config's old_signing_keys, and a
// server started from them publishes the new key as current and the old one in old_verify_keys with its
// expired_ts, signed by the new key, from /key/v2/server and the notary endpoints alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../../src/config/config.ts';
import { checkServerKeys } from '../../src/federation/serverKeys.ts';
import { rotateSigningKey } from '../../src/keys/rotation.ts';
import { loadOrCreateSigningKey } from '../../src/keys/signingKey.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { checkJsonSignature, verifyKeyFromBase64, type SigningKey } from '../../src/protocol/signing.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';

interface Rotated {
  dir: string;
  configPath: string;
  keyPath: string;
  old: SigningKey;
  expiredTs: number;
}

async function rotatedDeployment(): Promise<Rotated> {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-rotate-'));
  const configPath = path.join(dir, 'troupe.yaml');
  const keyPath = path.join(dir, 'test.local.signing.key');
  await writeFile(configPath, `# our server\nserver_name: test.local\nsigning_key_path: ${JSON.stringify(keyPath)} # the key\n`, { mode: 0o640 });
  const old = await loadOrCreateSigningKey(keyPath);
  const expiredTs = 1_700_000_000_000;
  const rotation = await rotateSigningKey(configPath, keyPath, expiredTs);
  assert.deepEqual(rotation.oldKeyId, old.keyId);
  return { dir, configPath, keyPath, old, expiredTs };
}

function signedBy(document: JsonObject, key: SigningKey): boolean {
  return checkJsonSignature(document, 'test.local', new Map([[key.keyId, { key: verifyKeyFromBase64(key.publicKeyBase64) }]])).ok;
}

test('rotate-signing-key: a new key in the key file, the old one in old_signing_keys, comments and modes kept', async () => {
  const { configPath, keyPath, old, expiredTs } = await rotatedDeployment();
  const fresh = await loadOrCreateSigningKey(keyPath);
  assert.notEqual(fresh.keyId, old.keyId);
  assert.notEqual(fresh.publicKeyBase64, old.publicKeyBase64);
  assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
  assert.equal((await stat(configPath)).mode & 0o777, 0o640);
  const text = await readFile(configPath, 'utf8');
  assert.match(text, /^# our server\n/);
  assert.match(text, /# the key/);
  const config = parseConfig(text, {});
  assert.deepEqual(config.oldSigningKeys, [{ keyId: old.keyId, key: old.publicKeyBase64, expiredTs }]);

  // A second rotation keeps the first retired key and adds the second.
  await rotateSigningKey(configPath, keyPath, expiredTs + 1000);
  const again = parseConfig(await readFile(configPath, 'utf8'), {});
  assert.deepEqual(
    again.oldSigningKeys.map((k) => [k.keyId, k.key, k.expiredTs]),
    [
      [old.keyId, old.publicKeyBase64, expiredTs],
      [fresh.keyId, fresh.publicKeyBase64, expiredTs + 1000],
    ],
  );
});

test('old_signing_keys: malformed entries are refused by the config check, naming the key', () => {
  const bad = [
    `old_signing_keys: { "rsa:1": { key: "${'A'.repeat(43)}", expired_ts: 1 } }`,
    `old_signing_keys: { "ed25519:a": { key: "short", expired_ts: 1 } }`,
    `old_signing_keys: { "ed25519:a": { key: "${'A'.repeat(43)}" } }`,
    `old_signing_keys: { "ed25519:a": { key: "${'A'.repeat(43)}", expired_ts: 1.5 } }`,
  ];
  for (const line of bad) {
    assert.throws(() => parseConfig(`server_name: test.local\n${line}\n`, {}), /old_signing_keys/, line);
  }
});

forEachBackend('signing key rotation', (backend) => {
  test('after a rotation: the new key is current, the old one listed with expired_ts, signed by the new key; the notary answers the same', async (t) => {
    const { configPath, keyPath, old, expiredTs } = await rotatedDeployment();
    const raw = YAML.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    const troupe = await startTestServer(t, { backend: backend.name, config: { signing_key_path: raw['signing_key_path'], old_signing_keys: raw['old_signing_keys'] } });
    const current = troupe.running.signingKey;
    assert.equal(current.keyId, (await loadOrCreateSigningKey(keyPath)).keyId);

    const own = await troupe.request('GET', '/_matrix/key/v2/server');
    assert.equal(own.status, 200);
    await assertMatchesSpec('GET', '/_matrix/key/v2/server', 200, own.body);
    const doc = own.body as JsonObject;
    assert.deepEqual(doc['verify_keys'], { [current.keyId]: { key: current.publicKeyBase64 } });
    assert.deepEqual(doc['old_verify_keys'], { [old.keyId]: { key: old.publicKeyBase64, expired_ts: expiredTs } });
    assert.ok(signedBy(doc, current), 'signed by the new key');
    assert.deepEqual(Object.keys((doc['signatures'] as JsonObject)['test.local'] as JsonObject), [current.keyId], 'and only by it');
    const checked = checkServerKeys(doc, 'test.local');
    assert.ok(checked.ok);
    assert.deepEqual(
      checked.keys.map((k) => [k.keyId, k.old, k.validUntilTs]),
      [
        [current.keyId, false, doc['valid_until_ts']],
        [old.keyId, true, expiredTs],
      ],
    );

    const byGet = await troupe.request('GET', '/_matrix/key/v2/query/test.local');
    assert.equal(byGet.status, 200);
    await assertMatchesSpec('GET', '/_matrix/key/v2/query/{serverName}', 200, byGet.body);
    const byPost = await troupe.request('POST', '/_matrix/key/v2/query', { body: { server_keys: { 'test.local': { [old.keyId]: {} } } } });
    assert.equal(byPost.status, 200);
    await assertMatchesSpec('POST', '/_matrix/key/v2/query', 200, byPost.body);
    for (const answer of [byGet.body, byPost.body]) {
      const documents = (answer as { server_keys: JsonObject[] }).server_keys;
      assert.equal(documents.length, 1);
      const notarised = documents[0] as JsonObject;
      assert.deepEqual(notarised['old_verify_keys'], { [old.keyId]: { key: old.publicKeyBase64, expired_ts: expiredTs } });
      assert.deepEqual(notarised['verify_keys'], doc['verify_keys']);
      assert.ok(signedBy(notarised, current));
      assert.equal(signedBy(notarised, old), false, 'the retired key signs nothing new');
    }
  });
});
