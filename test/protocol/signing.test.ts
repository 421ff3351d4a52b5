import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64 } from '../../src/protocol/base64.ts';
import { encodeCanonicalJson } from '../../src/protocol/canonicalJson.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import {
  capValidUntilTs,
  checkJsonSignature,
  formatSigningKey,
  formatSigningKeyFile,
  generateSigningKey,
  parseSigningKey,
  parseSigningKeyFile,
  signJson,
  signingKeyFromSeed,
  verifyKeyFromBase64,
  type VerifyKey,
} from '../../src/protocol/signing.ts';

// Appendix "Cryptographic Test Vectors": this seed, server name "domain", key id "ed25519:1".
const SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';
const specKey = signingKeyFromSeed(decodeBase64(SEED) as Buffer, '1');

/** Canonical JSON of the spec's pretty-printed expected output: comparing this compares every byte that matters. */
const canonical = (text: string): string => encodeCanonicalJson(JSON.parse(text));

describe('signing JSON: the appendix test vectors', () => {
  it('signs the empty object', () => {
    const expected = `{
    "signatures": {
        "domain": {
            "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        }
    }
}`;
    const signed = signJson({}, 'domain', specKey);
    assert.equal(encodeCanonicalJson(signed), canonical(expected));
    assert.deepEqual(signed, JSON.parse(expected));
  });

  it('signs an object with data values', () => {
    const expected = `{
    "one": 1,
    "signatures": {
        "domain": {
            "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        }
    },
    "two": "Two"
}`;
    const signed = signJson({ one: 1, two: 'Two' }, 'domain', specKey);
    assert.equal(encodeCanonicalJson(signed), canonical(expected));
  });

  it('the signatures verify with the derived public key', () => {
    const keys = new Map<string, VerifyKey>([['ed25519:1', { key: verifyKeyFromBase64(specKey.publicKeyBase64) }]]);
    assert.deepEqual(checkJsonSignature(signJson({}, 'domain', specKey), 'domain', keys), { ok: true, keyId: 'ed25519:1' });
  });
});

describe('signJson', () => {
  it('leaves signatures and unsigned out of what it signs, keeps both, and does not modify its input', () => {
    const input: JsonObject = {
      name: 'example.org',
      unsigned: { age_ts: 922834800000 },
      signatures: { 'other.org': { 'ed25519:x': 'abc' } },
    };
    const copy = structuredClone(input);
    const signed = signJson(input, 'example.org', specKey);
    assert.deepEqual(input, copy);
    assert.deepEqual(signed['unsigned'], { age_ts: 922834800000 });
    assert.equal((signed['signatures'] as JsonObject)['other.org'] !== undefined, true);
    // The signature is the same as over the bare object: unsigned and existing signatures are not covered.
    const bare = signJson({ name: 'example.org' }, 'example.org', specKey);
    assert.deepEqual(
      ((signed['signatures'] as JsonObject)['example.org'] as JsonObject)['ed25519:1'],
      ((bare['signatures'] as JsonObject)['example.org'] as JsonObject)['ed25519:1'],
    );
  });

  it('adds a second key of the same server beside the first', () => {
    const other = generateSigningKey('2');
    const twice = signJson(signJson({ a: 1 }, 'domain', specKey), 'domain', other);
    assert.deepEqual(Object.keys((twice['signatures'] as JsonObject)['domain'] as JsonObject).sort(), ['ed25519:1', 'ed25519:2']);
  });
});

describe('checkJsonSignature', () => {
  const keys = new Map<string, VerifyKey>([['ed25519:1', { key: specKey.publicKey, validUntilTs: 1000 }]]);
  const signed = signJson({ hello: 'world', unsigned: { x: 1 } }, 'domain', specKey);

  it('accepts a valid signature whatever unsigned holds', () => {
    assert.equal(checkJsonSignature({ ...signed, unsigned: { changed: true } }, 'domain', keys).ok, true);
  });

  it('fails when the signed data changed', () => {
    const result = checkJsonSignature({ ...signed, hello: 'there' }, 'domain', keys);
    assert.deepEqual(result, { ok: false, reason: 'signature ed25519:1 of domain does not verify' });
  });

  it('fails without a signature from the entity, or without a known key', () => {
    assert.equal(checkJsonSignature(signed, 'elsewhere', keys).ok, false);
    assert.equal(checkJsonSignature(signed, 'domain', new Map()).ok, false);
    assert.equal(checkJsonSignature({ hello: 'world' }, 'domain', keys).ok, false);
  });

  it('ignores algorithms it does not understand', () => {
    const odd = { ...signed, signatures: { domain: { 'curve25519:1': 'AAAA' } } };
    const result = checkJsonSignature(odd, 'domain', keys);
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /no ed25519 signature/);
  });

  it('fails on a signature that is not Base64 or has the wrong length', () => {
    for (const sig of ['not base64!', 'AAAA']) {
      assert.equal(checkJsonSignature({ ...signed, signatures: { domain: { 'ed25519:1': sig } } }, 'domain', keys).ok, false);
    }
  });

  it('only trusts a key at timestamps up to its valid_until_ts when asked to', () => {
    assert.equal(checkJsonSignature(signed, 'domain', keys, { validAt: 1000 }).ok, true);
    const late = checkJsonSignature(signed, 'domain', keys, { validAt: 1001 });
    assert.equal(late.ok, false);
    assert.match(late.ok ? '' : late.reason, /expired/);
    assert.equal(checkJsonSignature(signed, 'domain', keys).ok, true);
  });

  it('caps valid_until_ts at 7 days after fetching', () => {
    const day = 24 * 60 * 60 * 1000;
    assert.equal(capValidUntilTs(100 * day, 0), 7 * day);
    assert.equal(capValidUntilTs(day, 0), day);
  });
});

describe('signing key files', () => {
  it('formats and parses the Synapse line format', () => {
    // The spec's seed text ends in "1", which sets padding bits that decoding ignores; the canonical encoding of
    // the same 32 bytes ends in "0". Both must parse to the same key.
    const line = formatSigningKey(specKey);
    assert.equal(line, `ed25519 1 ${SEED.slice(0, -1)}0`);
    const fromSpecText = parseSigningKey(`ed25519 1 ${SEED}`);
    assert.ok(fromSpecText.ok);
    assert.equal(fromSpecText.key.publicKeyBase64, specKey.publicKeyBase64);
    const parsed = parseSigningKey(line);
    assert.ok(parsed.ok);
    assert.equal(parsed.key.keyId, 'ed25519:1');
    assert.equal(parsed.key.publicKeyBase64, specKey.publicKeyBase64);
  });

  it('parses a whole file and round-trips generated keys', () => {
    const keys = [generateSigningKey(), generateSigningKey('a_b2C3')];
    const text = formatSigningKeyFile(keys);
    const parsed = parseSigningKeyFile(`\n${text}\n`);
    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.keys.map((k) => [k.keyId, k.publicKeyBase64]),
      keys.map((k) => [k.keyId, k.publicKeyBase64]),
    );
    assert.match(keys[0]?.version ?? '', /^a_[A-Za-z0-9_]{4}$/);
  });

  it('gives a reason for bad lines', () => {
    const cases: [string, RegExp][] = [
      ['ed25519 1', /expected/],
      ['rsa 1 AAAA', /unsupported algorithm/],
      ['ed25519 bad-version AAAA', /key version/],
      ['ed25519 1 AAAA', /32 bytes/],
    ];
    for (const [line, reason] of cases) {
      const parsed = parseSigningKey(line);
      assert.equal(parsed.ok, false, line);
      assert.match(parsed.ok ? '' : parsed.reason, reason);
    }
    const file = parseSigningKeyFile('ed25519 1 ' + SEED + '\nnonsense\n');
    assert.deepEqual(file, { ok: false, reason: 'line 2: expected "ed25519 <key version> <base64 seed>"' });
    assert.equal(parseSigningKeyFile('\n').ok, false);
  });

  it('accepts public keys in any Base64 form', () => {
    const raw = decodeBase64(specKey.publicKeyBase64) as Buffer;
    for (const text of [specKey.publicKeyBase64, raw.toString('base64'), raw.toString('base64url')]) {
      assert.equal(verifyKeyFromBase64(text).export({ format: 'jwk' }).x, raw.toString('base64url'));
    }
    assert.throws(() => verifyKeyFromBase64('AAAA'));
  });
});
