// Outbound federation HTTPS: server name resolution (resolver.ts), federation_ip_range_blacklist enforced on the
// address actually connected to, certificates checked against the resolved name with Node's default CA store
// (NODE_EXTRA_CA_CERTS included) plus federation_custom_ca_list, bounded bodies and time. Requests may be signed
// with X-Matrix (requestAuth.ts). Everything that needs the network goes through the FederationFetcher port.
import { lookup as dnsLookup, Resolver } from 'node:dns/promises';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { checkServerIdentity, getCACertificates } from 'node:tls';
import type { JsonValue } from '../protocol/json.ts';
import type { SigningKey } from '../protocol/signing.ts';
import { signRequest } from './requestAuth.ts';
import { ServerNameResolver, type ResolvedDestination, type SrvRecord } from './resolver.ts';

export interface FederationRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query string, starting with `/_matrix/`. */
  path: string;
  body?: JsonValue;
  /** Sign with X-Matrix as our server (needs the client's origin and key). */
  signed?: boolean;
}

export interface FederationResponse {
  status: number;
  /** The parsed JSON body; undefined when the body is empty or not JSON. */
  body: unknown;
  headers: IncomingHttpHeaders;
}

/** The port the keyring (and later the destinations) send through; tests may provide their own. */
export interface FederationFetcher {
  request(serverName: string, request: FederationRequest): Promise<FederationResponse>;
}

export class FederationRequestError extends Error {
  readonly serverName: string;
  constructor(serverName: string, message: string, options?: ErrorOptions) {
    super(`${serverName}: ${message}`, options);
    this.serverName = serverName;
  }
}

export interface HttpsFederationClientOptions {
  /** CIDR ranges never connected to (federation_ip_range_blacklist). */
  ipRangeBlacklist: readonly string[];
  /** Extra trusted CA certificates (PEM text), added to Node's default store. */
  extraCaCertificates?: readonly string[];
  /** For signed requests: our server name and key. */
  origin?: string;
  signingKey?: SigningKey;
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** Tests: the port /.well-known/matrix/server is fetched from (443 in the real world). */
  wellKnownPort?: number;
  /** Name to addresses; defaults to the system resolver. */
  lookup?: (host: string) => Promise<{ address: string; family: number }[]>;
  /** SRV lookups; defaults to DNS with a short timeout. */
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
  now?: () => number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
const WELL_KNOWN_MAX_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;

/** A BlockList of CIDR ranges; IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry. */
export function ipBlocker(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefix] = cidr.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return (address) => {
    const family = isIP(address);
    if (family === 0) return true;
    const mapped = /^::ffff:([0-9.]+)$/i.exec(address)?.[1];
    if (mapped && isIP(mapped) === 4 && list.check(mapped, 'ipv4')) return true;
    return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}

function maxAge(headers: IncomingHttpHeaders): number | undefined {
  const match = /(?:^|,)\s*max-age\s*=\s*"?([0-9]+)/i.exec(headers['cache-control'] ?? '');
  return match ? Number(match[1]) * 1000 : undefined;
}

async function defaultResolveSrv(name: string): Promise<SrvRecord[]> {
  const resolver = new Resolver({ timeout: 3000, tries: 1 });
  try {
    return await resolver.resolveSrv(name);
  } catch {
    return [];
  }
}

export class HttpsFederationClient implements FederationFetcher {
  readonly #options: HttpsFederationClientOptions;
  readonly #blocked: (address: string) => boolean;
  readonly #ca: string[] | undefined;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 20 });
  readonly resolver: ServerNameResolver;

  constructor(options: HttpsFederationClientOptions) {
    this.#options = options;
    this.#blocked = ipBlocker(options.ipRangeBlacklist);
    // Passing `ca` replaces Node's store, so the defaults (bundled + NODE_EXTRA_CA_CERTS) go in first.
    this.#ca = options.extraCaCertificates?.length ? [...getCACertificates('default'), ...options.extraCaCertificates] : undefined;
    this.resolver = new ServerNameResolver({
      fetchWellKnown: (hostname) => this.#fetchWellKnown(hostname),
      resolveSrv: options.resolveSrv ?? defaultResolveSrv,
      now: options.now ?? Date.now,
    });
  }

  async request(serverName: string, request: FederationRequest): Promise<FederationResponse> {
    let destination: ResolvedDestination;
    try {
      destination = await this.resolver.resolve(serverName);
    } catch (error) {
      throw new FederationRequestError(serverName, (error as Error).message, { cause: error });
    }
    const headers: Record<string, string> = {};
    if (request.signed) {
      const { origin, signingKey } = this.#options;
      if (!origin || !signingKey) throw new FederationRequestError(serverName, 'signed requests need an origin and a key');
      headers['authorization'] = signRequest({
        method: request.method,
        uri: request.path,
        origin,
        destination: serverName,
        ...(request.body !== undefined ? { content: request.body } : {}),
        key: signingKey,
      });
    }
    return this.#send(serverName, destination, request.method, request.path, request.body, headers, this.#options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  async #fetchWellKnown(hostname: string): Promise<{ body: unknown; maxAgeMs?: number } | undefined> {
    const port = this.#options.wellKnownPort ?? 443;
    let target: ResolvedDestination = { host: hostname, port, hostHeader: port === 443 ? hostname : `${hostname}:${port}`, tlsName: hostname };
    let path = '/.well-known/matrix/server';
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await this.#send(hostname, target, 'GET', path, undefined, {}, WELL_KNOWN_MAX_BYTES).catch(() => undefined);
      if (!response) return undefined;
      const location = response.headers.location;
      if ([301, 302, 303, 307, 308].includes(response.status) && location) {
        const next = new URL(location, `https://${target.hostHeader}${path}`);
        if (next.protocol !== 'https:') return undefined;
        const host = next.hostname.startsWith('[') ? next.hostname.slice(1, -1) : next.hostname;
        const nextPort = next.port ? Number(next.port) : 443;
        target = { host, port: nextPort, hostHeader: next.host, tlsName: host };
        path = next.pathname + next.search;
        continue;
      }
      if (response.status !== 200) return undefined;
      const age = maxAge(response.headers);
      return age === undefined ? { body: response.body } : { body: response.body, maxAgeMs: age };
    }
    return undefined;
  }

  async #address(serverName: string, host: string): Promise<string> {
    let addresses: { address: string; family: number }[];
    if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await (this.#options.lookup ?? ((h: string) => dnsLookup(h, { all: true })))(host);
      } catch (error) {
        throw new FederationRequestError(serverName, `cannot resolve ${host}: ${(error as Error).message}`, { cause: error });
      }
    }
    const allowed = addresses.find((a) => !this.#blocked(a.address));
    if (!allowed) {
      throw new FederationRequestError(serverName, `${host} resolves only to addresses in federation_ip_range_blacklist`);
    }
    return allowed.address;
  }

  async #send(
    serverName: string,
    target: ResolvedDestination,
    method: string,
    path: string,
    body: JsonValue | undefined,
    extraHeaders: Record<string, string>,
    maxBodyBytes: number,
  ): Promise<FederationResponse> {
    const address = await this.#address(serverName, target.host);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = { host: target.hostHeader, accept: 'application/json', ...extraHeaders };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const tlsName = target.tlsName;
    return new Promise<FederationResponse>((resolve, reject) => {
      const fail = (message: string, cause?: unknown) =>
        reject(new FederationRequestError(serverName, message, cause === undefined ? undefined : { cause }));
      const req = httpsRequest(
        {
          host: address,
          port: target.port,
          method,
          path,
          headers,
          agent: this.#agent,
          ...(isIP(tlsName) === 0 ? { servername: tlsName } : {}),
          ...(this.#ca ? { ca: this.#ca } : {}),
          checkServerIdentity: (_host, cert) => checkServerIdentity(tlsName, cert),
          timeout: this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBodyBytes) {
              req.destroy();
              fail(`response body over ${maxBodyBytes} bytes`);
              return;
            }
            chunks.push(chunk);
          });
          response.on('error', (error) => fail(error.message, error));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            resolve({ status: response.statusCode ?? 0, body: parsed, headers: response.headers });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => fail(error.message, error));
      req.end(payload);
    });
  }
}
