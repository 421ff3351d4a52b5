// A listener with tls: true serves HTTPS with the configured certificate and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:https';
import { startTestServer } from '../helpers/server.ts';
import { makeCertificate } from '../helpers/certificate.ts';

test('a TLS listener answers over HTTPS with the configured certificate', async (t) => {
  const certificate = await makeCertificate();
  const server = await startTestServer(t, {
    config: {
      listeners: [{ port: 0, bind_addresses: ['127.0.0.1'], tls: true }],
      tls_certificate_path: certificate.certPath,
      tls_private_key_path: certificate.keyPath,
    },
  });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:[0-9]+$/);

  const ca = certificate.cert;
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
