// Our key document and the checks on a remote server's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkServerKeys, ownServerKeys, OWN_KEYS_LIFETIME_MS } from '../../src/federation/serverKeys.ts';
import { checkJsonSignature, generateSigningKey, signJson, verifyKeyFromBase64 } from '../../src/protocol/signing.ts';
import type { JsonObject } from '../../src/protocol/json.ts';

const key = generateSigningKey('a1');
const now = 1_700_000_000_000;

test('our document lists our key, no old keys, lives a day, and is self-signed', () => {
  const doc = ownServerKeys('us.example', key, now);
  assert.deepEqual(doc['verify_keys'], { [key.keyId]: { key: key.publicKeyBase64 } });
  assert.deepEqual(doc['old_verify_keys'], {});
  assert.equal(doc['valid_until_ts'], now + OWN_KEYS_LIFETIME_MS);
  assert.equal(OWN_KEYS_LIFETIME_MS, 86_400_000);
  assert.ok(checkJsonSignature(doc, 'us.example', new Map([[key.keyId, { key: verifyKeyFromBase64(key.publicKeyBase64) }]])).ok);
  const checked = checkServerKeys(doc, 'us.example');
  assert.ok(checked.ok);
  assert.deepEqual(checked.keys, [{ keyId: key.keyId, key: key.publicKeyBase64, old: false, validUntilTs: now + OWN_KEYS_LIFETIME_MS }]);
});

test('old keys come with their expired_ts; a key id in both lists counts as current', () => {
  const old = generateSigningKey('old');
  const doc = signJson(
    {
      server_name: 's.example',
      verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
      old_verify_keys: { [old.keyId]: { key: old.publicKeyBase64, expired_ts: 5 }, [key.keyId]: { key: key.publicKeyBase64, expired_ts: 6 } },
      valid_until_ts: now,
    },
    's.example',
    key,
  );
  const checked = checkServerKeys(doc, 's.example');
  assert.ok(checked.ok);
  assert.deepEqual(
    checked.keys.map((k) => [k.keyId, k.old, k.validUntilTs]),
    [
      [key.keyId, false, now],
      [old.keyId, true, 5],
    ],
  );
});

test('refused: another server, unsigned or forged, a listed key that did not sign, malformed fields', () => {
  const base: JsonObject = { server_name: 's.example', verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, valid_until_ts: now };
  const good = signJson(base, 's.example', key);
  assert.ok(checkServerKeys(good, 's.example').ok);
  assert.match((checkServerKeys(good, 'other.example') as { reason: string }).reason, /not other.example/);
  assert.equal(checkServerKeys(base, 's.example').ok, false);
  assert.equal(checkServerKeys({ ...good, valid_until_ts: now + 1 }, 's.example').ok, false);
  const second = generateSigningKey('b2');
  const twoKeys = signJson(
    { ...base, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 }, [second.keyId]: { key: second.publicKeyBase64 } } },
    's.example',
    key,
  );
  assert.match((checkServerKeys(twoKeys, 's.example') as { reason: string }).reason, /not signed by its key ed25519:b2/);
  assert.equal(checkServerKeys(signJson({ ...base, valid_until_ts: 1.5 }, 's.example', key, { strict: false }), 's.example').ok, false);
  assert.equal(checkServerKeys(signJson({ ...base, verify_keys: {} }, 's.example', key), 's.example').ok, false);
  assert.equal(checkServerKeys(signJson({ ...base, verify_keys: { [key.keyId]: { key: 'short' } } }, 's.example', key), 's.example').ok, false);
  assert.equal(checkServerKeys(signJson({ ...base, old_verify_keys: { 'ed25519:x': { key: key.publicKeyBase64 } } }, 's.example', key), 's.example').ok, false);
  assert.equal(checkServerKeys([], 's.example').ok, false);
});
