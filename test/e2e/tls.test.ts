// A listener with tls: true serves HTTPS with the configured certificate and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestServer } from '../helpers/server.ts';

test('a TLS listener answers over HTTPS with the configured certificate', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'troupe-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });

  const server = await startTestServer(t, {
    config: {
      listeners: [{ port: 0, bind_addresses: ['127.0.0.1'], tls: true }],
      tls_certificate_path: cert,
      tls_private_key_path: key,
    },
  });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:[0-9]+$/);

  const ca = await readFile(cert);
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    get(`${server.url}/_matrix/client/versions`, { ca }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    }).on('error', reject);
  });
  assert.equal(status, 200);
  assert.ok(Array.isArray((JSON.parse(body) as { versions: unknown }).versions));

  // A client that does not trust the certificate is refused by TLS itself.
  await assert.rejects(
    new Promise((resolve, reject) => get(`${server.url}/health`, (r) => resolve(r.statusCode)).on('error', reject)),
    /self-signed certificate/,
  );
});
