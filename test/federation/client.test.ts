// The outbound HTTPS client against servers the test plays on local TLS ports: explicit ports, well-known
// delegation, certificates (custom CA list, NODE_EXTRA_CA_CERTS, untrusted), the IP blacklist, signed requests,
// bounded bodies.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FEDERATION_IP_RANGE_BLACKLIST } from '../../src/config/config.ts';
import { FederationRequestError, HttpsFederationClient, type HttpsFederationClientOptions } from '../../src/federation/client.ts';
import { authenticateRequest } from '../../src/federation/requestAuth.ts';
import { checkServerKeys } from '../../src/federation/serverKeys.ts';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import { startHttpsServer, startRemoteServer } from './remoteServer.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

function client(t: { after(fn: () => void): void }, options: Partial<HttpsFederationClientOptions> = {}): HttpsFederationClient {
  const c = new HttpsFederationClient({
    ipRangeBlacklist: [],
    extraCaCertificates: [certificate.cert.toString('utf8')],
    resolveSrv: async () => [],
    lookup: async (host) => {
      if (host === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
      throw new Error(`no such host ${host}`);
    },
    ...options,
  });
  t.after(() => c.close());
  return c;
}

describe('HttpsFederationClient', () => {
  test('an IP literal with a port, and a name with a port (Host header and certificate name as given)', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    const c = client(t);
    const res = await c.request(remote.serverName, { method: 'GET', path: '/_matrix/key/v2/server' });
    assert.equal(res.status, 200);
    assert.ok(checkServerKeys(res.body, remote.serverName).ok);
    assert.equal(remote.received[0]?.headers.host, remote.serverName);

    const byName = `localhost:${remote.port}`;
    assert.equal((await c.request(byName, { method: 'GET', path: '/_matrix/key/v2/server' })).status, 200);
    assert.equal(remote.received[1]?.headers.host, byName);
  });

  test('/.well-known/matrix/server delegation, cached', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    let wellKnownHits = 0;
    const wellKnown = await startHttpsServer(t, certificate, (req, res) => {
      wellKnownHits++;
      if (req.url !== '/.well-known/matrix/server') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ 'm.server': remote.serverName }));
    });
    const c = client(t, { wellKnownPort: (wellKnown.address() as AddressInfo).port });
    const res = await c.request('localhost', { method: 'GET', path: '/_matrix/key/v2/server' });
    assert.equal(res.status, 200);
    assert.equal(remote.received[0]?.headers.host, remote.serverName, 'Host is the delegated name');
    await c.request('localhost', { method: 'GET', path: '/_matrix/key/v2/server' });
    assert.equal(wellKnownHits, 1);
  });

  test('a certificate no configured authority vouches for is refused', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    const c = client(t, { extraCaCertificates: [] });
    await assert.rejects(c.request(remote.serverName, { method: 'GET', path: '/_matrix/key/v2/server' }), (error: unknown) => {
      assert.ok(error instanceof FederationRequestError);
      assert.match(error.message, /self-signed certificate/);
      return true;
    });
  });

  test('NODE_EXTRA_CA_CERTS is trusted without federation_custom_ca_list', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    const clientModule = new URL('../../src/federation/client.ts', import.meta.url).href;
    const script = `
      const { HttpsFederationClient } = await import(${JSON.stringify(clientModule)});
      const c = new HttpsFederationClient({ ipRangeBlacklist: [], resolveSrv: async () => [] });
      const res = await c.request(${JSON.stringify(remote.serverName)}, { method: 'GET', path: '/_matrix/key/v2/server' });
      c.close();
      console.log(res.status);`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: certificate.certPath }, cwd: fileURLToPath(new URL('../..', import.meta.url)) },
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    );
    assert.equal(output.trim(), '200');
  });

  test('federation_ip_range_blacklist: addresses in it are never connected to', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    const c = client(t, { ipRangeBlacklist: DEFAULT_FEDERATION_IP_RANGE_BLACKLIST });
    await assert.rejects(c.request(remote.serverName, { method: 'GET', path: '/_matrix/key/v2/server' }), /blacklist/);
    await assert.rejects(c.request(`localhost:${remote.port}`, { method: 'GET', path: '/_matrix/key/v2/server' }), /blacklist/);
    assert.equal(remote.received.length, 0);
  });

  test('signed requests carry an X-Matrix header the receiver verifies', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    let captured: { authorization: string; body: string; url: string } | undefined;
    remote.handlers.push((req, body) => {
      captured = { authorization: req.headers.authorization ?? '', body, url: req.url ?? '' };
      return { status: 200, body: {} };
    });
    const key = generateSigningKey('us1');
    const c = client(t, { origin: 'us.example', signingKey: key });
    const path = '/_matrix/federation/v1/send/abc?x=1';
    await c.request(remote.serverName, { method: 'PUT', path, body: { pdus: [], edus: [] }, signed: true });
    assert.ok(captured);
    const origin = await authenticateRequest(
      { method: 'PUT', uri: captured.url, authorization: [captured.authorization], content: JSON.parse(captured.body) },
      {
        serverName: remote.serverName,
        keys: { getVerifyKeys: async () => new Map([[key.keyId, { key: key.publicKey }]]) },
        remoteUp: () => {},
        now: Date.now,
      },
    );
    assert.equal(origin, 'us.example');
  });

  test('bodies over the limit are refused; unknown hosts are errors', async (t) => {
    const remote = await startRemoteServer(t, certificate);
    const c = client(t, { maxBodyBytes: 100 });
    await assert.rejects(c.request(remote.serverName, { method: 'GET', path: '/_matrix/key/v2/server' }), /over 100 bytes/);
    await assert.rejects(client(t).request('nowhere.invalid:1', { method: 'GET', path: '/' }), /cannot resolve nowhere.invalid/);
  });
});
