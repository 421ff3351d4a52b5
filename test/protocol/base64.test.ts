import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeBase64,
  decodeBase64Url,
  encodeBase64,
  encodeBase64Url,
  isUnpaddedBase64,
  isUnpaddedBase64Url,
} from '../../src/protocol/base64.ts';

describe('unpadded Base64', () => {
  it('encodes the appendix examples', () => {
    const examples: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of examples) {
      assert.equal(encodeBase64(Buffer.from(plain)), encoded);
      assert.equal(decodeBase64(encoded)?.toString(), plain);
    }
  });

  it('decodes padded and unpadded input alike', () => {
    assert.equal(decodeBase64('Zg==')?.toString(), 'f');
    assert.equal(decodeBase64('Zm8=')?.toString(), 'fo');
    assert.equal(decodeBase64Url('Zg==')?.toString(), 'f');
  });

  it('uses - and _ in the URL-safe alphabet, + and / in the standard one', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf]);
    assert.equal(encodeBase64(bytes), '+/+/');
    assert.equal(encodeBase64Url(bytes), '-_-_');
    assert.deepEqual(decodeBase64('+/+/'), bytes);
    assert.deepEqual(decodeBase64Url('-_-_'), bytes);
  });

  it('rejects malformed input instead of skipping characters', () => {
    for (const bad of ['Z', 'Zg=', 'Zg===', 'Z===', '====', 'Zm9v!', 'Zm 9v', 'Zg=a', '-_-_']) {
      assert.equal(decodeBase64(bad), undefined, bad);
    }
    assert.equal(decodeBase64Url('+/+/'), undefined);
  });

  it('checks unpadded form and decoded length', () => {
    assert.ok(isUnpaddedBase64('5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos', 32));
    assert.ok(!isUnpaddedBase64('5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos=', 32));
    assert.ok(!isUnpaddedBase64('5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89nco', 32));
    assert.ok(isUnpaddedBase64Url('Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg', 32));
  });

  it('round-trips any bytes in both alphabets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const std = encodeBase64(bytes);
        const url = encodeBase64Url(bytes);
        assert.ok(!std.includes('=') && !url.includes('='));
        assert.deepEqual(new Uint8Array(decodeBase64(std) as Buffer), bytes);
        assert.deepEqual(new Uint8Array(decodeBase64Url(url) as Buffer), bytes);
        assert.ok(isUnpaddedBase64(std, bytes.length));
      }),
    );
  });
});
