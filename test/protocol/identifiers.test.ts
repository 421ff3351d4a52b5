import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  domainOf,
  parseEventId,
  parseRoomAlias,
  parseRoomId,
  parseServerName,
  parseUserId,
  validateUserLocalpart,
} from '../../src/protocol/identifiers.ts';

function reasonOf(result: { ok: true } | { ok: false; reason: string }): string {
  return result.ok ? '' : result.reason;
}

describe('server names', () => {
  it('parses the appendix examples', () => {
    assert.deepEqual(parseServerName('matrix.org'), { ok: true, value: { host: 'matrix.org', kind: 'dns' } });
    assert.deepEqual(parseServerName('matrix.org:8888'), { ok: true, value: { host: 'matrix.org', kind: 'dns', port: 8888 } });
    assert.deepEqual(parseServerName('1.2.3.4'), { ok: true, value: { host: '1.2.3.4', kind: 'ipv4' } });
    assert.deepEqual(parseServerName('1.2.3.4:1234'), { ok: true, value: { host: '1.2.3.4', kind: 'ipv4', port: 1234 } });
    assert.deepEqual(parseServerName('[1234:5678::abcd]'), { ok: true, value: { host: '[1234:5678::abcd]', kind: 'ipv6' } });
    assert.deepEqual(parseServerName('[1234:5678::abcd]:5678'), {
      ok: true,
      value: { host: '[1234:5678::abcd]', kind: 'ipv6', port: 5678 },
    });
  });

  it('accepts other valid forms', () => {
    for (const name of [
      'localhost',
      'MATRIX.ORG', // case-sensitive, but valid
      'a-b.example',
      'xn--bcher-kva.example:443',
      '[::1]',
      '[::]:8448',
      '[2001:DB8::1]',
      '[2001:db8:0:0:0:0:0:1]',
      '[::ffff:192.0.2.1]',
      '[1:2:3:4:5:6:1.2.3.4]',
      '0.0.0.0',
      '255.255.255.255:65535',
      'example.org:1',
    ]) {
      assert.ok(parseServerName(name).ok, name);
    }
  });

  it('rejects invalid names with a reason', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      [':8448', /hostname is empty/],
      ['example.org:', /port/],
      ['example.org:0', /out of range/],
      ['example.org:65536', /out of range/],
      ['example.org:123456', /1 to 5 digits/],
      ['example.org:80a', /port/],
      ['exa_mple.org', /DNS name/],
      ['exämple.org', /DNS name/],
      ['example.org/path', /DNS name/],
      ['256.1.1.1', /IPv4/],
      ['1.2.3.4444', /IPv4/],
      ['[::1', /closing bracket/],
      ['[::1]8448', /after the IPv6/],
      ['[1:2:3:4:5:6:7:8:9]', /IPv6/],
      ['[1::2::3]', /IPv6/],
      ['[12345::]', /IPv6/],
      ['[::g]', /IPv6/],
      ['[1.2.3.4::]', /IPv6/],
      ['[fe80::1%eth0]', /IPv6/],
      ['[1:2:3:4:5:6:7]', /IPv6/],
      ['::1', /hostname is empty/],
      ['a'.repeat(256), /DNS name/],
    ];
    for (const [name, reason] of cases) {
      const parsed = parseServerName(name);
      assert.equal(parsed.ok, false, name);
      assert.match(reasonOf(parsed), reason, name);
    }
  });
});

describe('user ids', () => {
  it('parses compliant ids', () => {
    assert.deepEqual(parseUserId('@alice:example.org', { strict: true }), {
      ok: true,
      value: { localpart: 'alice', serverName: 'example.org', compliant: true },
    });
    assert.ok(parseUserId('@a.b_c=d-e/f+g:[::1]:8448', { strict: true }).ok);
    assert.ok(parseUserId('@123:1.2.3.4', { strict: true }).ok);
  });

  it('accepts historical localparts for received ids, marked non-compliant where the spec says so', () => {
    for (const [id, compliant] of [
      ['@Alice:example.org', true],
      ['@a!b#c~:example.org', true],
      ['@:example.org', false],
      ['@ünïcödé:example.org', false],
      ['@with space:example.org', false],
      ['@tab\there:example.org', false],
    ] as const) {
      const parsed = parseUserId(id);
      assert.ok(parsed.ok, id);
      assert.equal(parsed.value.compliant, compliant, id);
      assert.equal(parseUserId(id, { strict: true }).ok, false, `${id} is not valid for a new user`);
    }
  });

  it('rejects what no version of the grammar allows', () => {
    const cases: [string, RegExp][] = [
      ['alice:example.org', /start with "@"/],
      ['@alice', /:domain/],
      ['@alice:', /domain/],
      ['@alice:exa mple.org', /domain/],
      ['@al\u0000ice:example.org', /NUL/],
      ['@al\ud800ice:example.org', /surrogate/],
      [`@${'a'.repeat(243)}:example.org`, /255 bytes/],
    ];
    for (const [id, reason] of cases) {
      const parsed = parseUserId(id);
      assert.equal(parsed.ok, false, id);
      assert.match(reasonOf(parsed), reason, id);
    }
  });

  it('counts the 255-byte limit in UTF-8 bytes, sigil and domain included', () => {
    const domain = ':example.org'; // 12 bytes
    assert.ok(parseUserId(`@${'a'.repeat(242)}${domain}`).ok); // 1 + 242 + 12 = 255
    assert.equal(parseUserId(`@${'a'.repeat(243)}${domain}`).ok, false);
    assert.equal(parseUserId(`@${'é'.repeat(122)}${domain}`).ok, false); // 1 + 244 + 12 = 257 bytes, 135 chars
  });

  it('validates a localpart for registration', () => {
    assert.deepEqual(validateUserLocalpart('bob', 'example.org'), { ok: true, value: 'bob' });
    assert.equal(validateUserLocalpart('Bob', 'example.org').ok, false);
    assert.equal(validateUserLocalpart('', 'example.org').ok, false);
  });
});

describe('room ids', () => {
  const hash = '31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM';

  it('parses both forms', () => {
    assert.deepEqual(parseRoomId('!abc:example.org'), { ok: true, value: { kind: 'domain', opaque: 'abc', serverName: 'example.org' } });
    assert.deepEqual(parseRoomId(`!${hash}`), { ok: true, value: { kind: 'hash', hash } });
    assert.ok(parseRoomId('!ünïcödé:example.org').ok);
  });

  it('restricts the form when the room version is known', () => {
    assert.equal(parseRoomId(`!${hash}`, false).ok, false);
    assert.equal(parseRoomId('!abc:example.org', true).ok, false);
    assert.ok(parseRoomId(`!${hash}`, true).ok);
  });

  it('rejects bad room ids', () => {
    for (const id of ['abc:example.org', '!abc', `!${hash}x`, '!abc+def', '!a:bad_domain', '!\u0000:example.org']) {
      assert.equal(parseRoomId(id).ok, false, id);
    }
  });
});

describe('room aliases', () => {
  it('parses and rejects', () => {
    assert.deepEqual(parseRoomAlias('#room:example.org'), { ok: true, value: { localpart: 'room', serverName: 'example.org' } });
    assert.ok(parseRoomAlias('#sälj rum:example.org:8448').ok);
    for (const alias of ['room:example.org', '#room', '#room:', `#${'r'.repeat(250)}:example.org`]) {
      assert.equal(parseRoomAlias(alias).ok, false, alias);
    }
  });
});

describe('event ids', () => {
  it('parses each format', () => {
    assert.deepEqual(parseEventId('$a4ecee13e2accdadf56c1025:example.com'), {
      ok: true,
      value: { format: 'v1', opaque: 'a4ecee13e2accdadf56c1025', serverName: 'example.com' },
    });
    assert.deepEqual(parseEventId('$9l9ifSsfxdM07mEL/BG4nbErFOqdGCJTxzaDur0+rrc'), {
      ok: true,
      value: { format: 'v3', hash: '9l9ifSsfxdM07mEL/BG4nbErFOqdGCJTxzaDur0+rrc' },
    });
    assert.deepEqual(parseEventId('$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg'), {
      ok: true,
      value: { format: 'v4', hash: 'Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg' },
    });
  });

  it('checks the format a room version requires', () => {
    assert.equal(parseEventId('$9l9ifSsfxdM07mEL/BG4nbErFOqdGCJTxzaDur0+rrc', 'v4').ok, false);
    assert.equal(parseEventId('$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg', 'v3').ok, false);
    assert.equal(parseEventId('$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg', 'v1').ok, false);
    assert.equal(parseEventId('$abc:example.org', 'v4').ok, false);
    // A hash with none of + / - _ is valid in both hash formats.
    assert.ok(parseEventId('$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'v3').ok);
    assert.ok(parseEventId('$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'v4').ok);
  });

  it('rejects bad event ids', () => {
    for (const id of ['abc', '$', '$short', '$abc:', `$${'a'.repeat(44)}`, `$${'a'.repeat(250)}:example.org`]) {
      assert.equal(parseEventId(id).ok, false, id);
    }
  });
});

describe('domainOf', () => {
  it('takes everything after the first colon', () => {
    assert.equal(domainOf('@a:example.org:8448'), 'example.org:8448');
    assert.equal(domainOf('@a:[::1]:8448'), '[::1]:8448');
    assert.equal(domainOf('$hash'), undefined);
  });
});
