// Test helpers for federation over real TLS: a "remote homeserver" played by the test on a local HTTPS port with its
// own ed25519 key (and a certificate from test/helpers/certificate.ts), and a small HTTPS JSON client that trusts it.
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ownServerKeys, type OldVerifyKey } from '../../src/federation/serverKeys.ts';
import { signRequest } from '../../src/federation/requestAuth.ts';
import type { JsonValue } from '../../src/protocol/json.ts';
import { generateSigningKey, type SigningKey } from '../../src/protocol/signing.ts';
import type { AfterHook } from '../helpers/database.ts';
import type { TestCertificate } from '../helpers/certificate.ts';

export type Handler = (request: IncomingMessage, body: string) => { status: number; body: unknown } | undefined;

export interface RemoteServer {
  /** `127.0.0.1:<port>` (or `localhost:<port>` with `name: 'localhost'`). */
  serverName: string;
  port: number;
  key: SigningKey;
  /** Every request it received: method and URL. */
  received: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  /** Extra routes, tried before the key endpoint: return undefined to fall through. */
  handlers: Handler[];
  /** How long its published keys are valid. */
  validForMs: number;
  /** Keys it retired, published in old_verify_keys. */
  oldKeys: OldVerifyKey[];
  /** Signs a request from this server to `destination`; returns the Authorization header. */
  sign(method: string, uri: string, destination: string, content?: JsonValue, key?: SigningKey): string;
}

export async function startHttpsServer(t: AfterHook, certificate: TestCertificate, handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Server> {
  const server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return server;
}

export async function startRemoteServer(
  t: AfterHook,
  certificate: TestCertificate,
  options: { name?: 'ip' | 'localhost' } = {},
): Promise<RemoteServer> {
  const key = generateSigningKey('remote1');
  const remote: RemoteServer = {
    serverName: '',
    port: 0,
    key,
    received: [],
    handlers: [],
    validForMs: 24 * 60 * 60 * 1000,
    oldKeys: [],
    sign: (method, uri, destination, content, signingKey = key) =>
      signRequest({ method, uri, origin: remote.serverName, destination, key: signingKey, ...(content !== undefined ? { content } : {}) }),
  };
  const server = await startHttpsServer(t, certificate, (req, res, body) => {
    remote.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    let answer: { status: number; body: unknown } | undefined;
    for (const handler of remote.handlers) {
      answer = handler(req, body);
      if (answer) break;
    }
    if (!answer && req.method === 'GET' && req.url === '/_matrix/key/v2/server') {
      answer = { status: 200, body: ownServerKeys(remote.serverName, key, Date.now(), remote.validForMs, remote.oldKeys) };
    }
    answer ??= { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' } };
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  });
  remote.port = (server.address() as AddressInfo).port;
  remote.serverName = `${options.name === 'localhost' ? 'localhost' : '127.0.0.1'}:${remote.port}`;
  return remote;
}

/**
 * Troupe's config for federating with a remote played by the test: its TLS listener serves `certificate`, outbound
 * requests trust it, and the blacklist is emptied because the remote lives on loopback.
 */
export function federationTlsConfig(certificate: TestCertificate): Record<string, unknown> {
  return {
    tls_certificate_path: certificate.certPath,
    tls_private_key_path: certificate.keyPath,
    federation_custom_ca_list: [certificate.certPath],
    federation_ip_range_blacklist: [],
  };
}

/** A JSON request over HTTPS trusting `ca`. */
export function httpsJson(
  url: string,
  options: { ca: Buffer; method?: string; headers?: Record<string, string>; body?: unknown },
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const req = httpsRequest(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            // keep the text
          }
          resolve({ status: response.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
