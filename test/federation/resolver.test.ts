// Server name resolution (spec "Resolving server names") with fake well-known and SRV lookups, and the IP
// blacklist the HTTPS client applies to the address it connects to.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerNameResolver, type SrvRecord } from '../../src/federation/resolver.ts';
import { ipBlocker } from '../../src/federation/client.ts';
import { DEFAULT_FEDERATION_IP_RANGE_BLACKLIST } from '../../src/config/config.ts';

function resolver(wellKnown: Record<string, unknown> = {}, srv: Record<string, SrvRecord[]> = {}) {
  const calls = { wellKnown: [] as string[], srv: [] as string[] };
  let now = 0;
  const r = new ServerNameResolver({
    fetchWellKnown: async (host) => {
      calls.wellKnown.push(host);
      return host in wellKnown ? { body: wellKnown[host] } : undefined;
    },
    resolveSrv: async (name) => {
      calls.srv.push(name);
      return srv[name] ?? [];
    },
    now: () => now,
  });
  return { r, calls, advance: (ms: number) => (now += ms) };
}

describe('ServerNameResolver', () => {
  test('IP literals connect as given, port 8448 by default, with no lookups', async () => {
    const { r, calls } = resolver();
    assert.deepEqual(await r.resolve('1.2.3.4'), { host: '1.2.3.4', port: 8448, hostHeader: '1.2.3.4', tlsName: '1.2.3.4' });
    assert.deepEqual(await r.resolve('1.2.3.4:1234'), { host: '1.2.3.4', port: 1234, hostHeader: '1.2.3.4:1234', tlsName: '1.2.3.4' });
    assert.deepEqual(await r.resolve('[2001:db8::1]:99'), { host: '2001:db8::1', port: 99, hostHeader: '[2001:db8::1]:99', tlsName: '2001:db8::1' });
    assert.deepEqual(calls, { wellKnown: [], srv: [] });
  });

  test('a hostname with an explicit port is used as given', async () => {
    const { r, calls } = resolver();
    assert.deepEqual(await r.resolve('example.org:8000'), {
      host: 'example.org',
      port: 8000,
      hostHeader: 'example.org:8000',
      tlsName: 'example.org',
    });
    assert.deepEqual(calls, { wellKnown: [], srv: [] });
  });

  test('well-known delegation to a name with a port, an IP, or a bare name (then SRV, then 8448)', async () => {
    const { r } = resolver(
      {
        'a.example': { 'm.server': 'matrix.a.example:443' },
        'b.example': { 'm.server': '5.6.7.8' },
        'c.example': { 'm.server': 'matrix.c.example' },
        'd.example': { 'm.server': 'matrix.d.example' },
      },
      { '_matrix-fed._tcp.matrix.d.example': [{ name: 'fed.d.example', port: 9000, priority: 0, weight: 0 }] },
    );
    assert.deepEqual(await r.resolve('a.example'), {
      host: 'matrix.a.example',
      port: 443,
      hostHeader: 'matrix.a.example:443',
      tlsName: 'matrix.a.example',
    });
    assert.deepEqual(await r.resolve('b.example'), { host: '5.6.7.8', port: 8448, hostHeader: '5.6.7.8', tlsName: '5.6.7.8' });
    assert.deepEqual(await r.resolve('c.example'), {
      host: 'matrix.c.example',
      port: 8448,
      hostHeader: 'matrix.c.example',
      tlsName: 'matrix.c.example',
    });
    assert.deepEqual(await r.resolve('d.example'), {
      host: 'fed.d.example',
      port: 9000,
      hostHeader: 'matrix.d.example',
      tlsName: 'matrix.d.example',
    });
  });

  test('without well-known: _matrix-fed._tcp, then the deprecated _matrix._tcp, then port 8448', async () => {
    const { r, calls } = resolver(
      {},
      {
        '_matrix-fed._tcp.e.example': [
          { name: 'low.e.example', port: 1, priority: 10, weight: 0 },
          { name: 'best.e.example', port: 2, priority: 5, weight: 10 },
        ],
        '_matrix._tcp.f.example': [{ name: 'old.f.example', port: 3, priority: 0, weight: 0 }],
        '_matrix-fed._tcp.g.example': [{ name: '.', port: 0, priority: 0, weight: 0 }],
      },
    );
    assert.deepEqual(await r.resolve('e.example'), { host: 'best.e.example', port: 2, hostHeader: 'e.example', tlsName: 'e.example' });
    assert.deepEqual(await r.resolve('f.example'), { host: 'old.f.example', port: 3, hostHeader: 'f.example', tlsName: 'f.example' });
    assert.deepEqual(await r.resolve('g.example'), { host: 'g.example', port: 8448, hostHeader: 'g.example', tlsName: 'g.example' });
    assert.ok(calls.srv.includes('_matrix._tcp.g.example'));
  });

  test('an invalid m.server is ignored; answers are cached (failures for an hour)', async () => {
    const { r, calls, advance } = resolver({ 'h.example': { 'm.server': 'not a server name' } });
    assert.equal((await r.resolve('h.example')).port, 8448);
    await r.resolve('h.example');
    assert.deepEqual(calls.wellKnown, ['h.example']);
    advance(60 * 60 * 1000 + 1);
    await r.resolve('h.example');
    assert.deepEqual(calls.wellKnown, ['h.example', 'h.example']);
  });

  test('invalid server names are refused', async () => {
    const { r } = resolver();
    await assert.rejects(r.resolve('bad name'), /invalid server name/);
  });
});

describe('ipBlocker', () => {
  test('the default blacklist blocks loopback, private and mapped addresses; an empty one blocks nothing', () => {
    const blocked = ipBlocker(DEFAULT_FEDERATION_IP_RANGE_BLACKLIST);
    for (const address of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '::1', 'fd00::1', '::ffff:127.0.0.1', '169.254.1.1']) {
      assert.equal(blocked(address), true, address);
    }
    for (const address of ['8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(blocked(address), false, address);
    assert.equal(ipBlocker([])('127.0.0.1'), false);
    assert.equal(ipBlocker(['1.2.3.4'])('1.2.3.4'), true);
  });
});
