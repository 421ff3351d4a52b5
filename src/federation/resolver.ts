// Resolving a server name to where to connect (spec "Resolving server names"): IP literals and explicit ports are
// used as given; otherwise /.well-known/matrix/server may delegate, then SRV records (_matrix-fed._tcp, then the
// deprecated _matrix._tcp), then port 8448. Network lookups are injected so tests need no DNS.
import { parseServerName } from '../protocol/identifiers.ts';
import { isJsonObject } from '../protocol/json.ts';

export const DEFAULT_FEDERATION_PORT = 8448;

export interface ResolvedDestination {
  /** The name or IP literal (IPv6 without brackets) to connect to; names are then resolved to addresses. */
  host: string;
  port: number;
  /** The Host header to send. */
  hostHeader: string;
  /** What the server's TLS certificate must be valid for: a DNS name (also sent as SNI) or an IP address. */
  tlsName: string;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface ResolverDeps {
  /**
   * GET https://<hostname>/.well-known/matrix/server: the parsed JSON body of a 200 answer (after redirects), or
   * undefined for any failure. `maxAgeMs` is the lifetime the response's Cache-Control gave, when it gave one.
   */
  fetchWellKnown(hostname: string): Promise<{ body: unknown; maxAgeMs?: number } | undefined>;
  /** SRV records for a name; [] when there are none or DNS cannot answer. */
  resolveSrv(name: string): Promise<SrvRecord[]>;
  now(): number;
}

// The spec suggests caching a well-known answer for 24 hours by default, at most 48, and failures for an hour.
const WELL_KNOWN_DEFAULT_MS = 24 * 60 * 60 * 1000;
const WELL_KNOWN_MAX_MS = 48 * 60 * 60 * 1000;
const WELL_KNOWN_FAILURE_MS = 60 * 60 * 1000;

function unbracket(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

export class ServerNameResolver {
  readonly #deps: ResolverDeps;
  readonly #wellKnown = new Map<string, { delegated: string | undefined; expiresAt: number }>();

  constructor(deps: ResolverDeps) {
    this.#deps = deps;
  }

  async resolve(serverName: string): Promise<ResolvedDestination> {
    const parsed = parseServerName(serverName);
    if (!parsed.ok) throw new Error(`invalid server name ${JSON.stringify(serverName)}: ${parsed.reason}`);
    const { host, kind, port } = parsed.value;
    // 1. An IP literal, with or without a port. 2. A hostname with an explicit port.
    if (kind !== 'dns' || port !== undefined) {
      return { host: unbracket(host), port: port ?? DEFAULT_FEDERATION_PORT, hostHeader: serverName, tlsName: unbracket(host) };
    }
    // 3. Delegation through /.well-known/matrix/server.
    const delegated = await this.#delegation(host);
    if (delegated !== undefined) {
      const d = parseServerName(delegated);
      if (d.ok) {
        if (d.value.kind !== 'dns' || d.value.port !== undefined) {
          const target = unbracket(d.value.host);
          return { host: target, port: d.value.port ?? DEFAULT_FEDERATION_PORT, hostHeader: delegated, tlsName: target };
        }
        const srv = await this.#srv(d.value.host);
        if (srv) return { host: srv.name, port: srv.port, hostHeader: delegated, tlsName: d.value.host };
        return { host: d.value.host, port: DEFAULT_FEDERATION_PORT, hostHeader: delegated, tlsName: d.value.host };
      }
    }
    // 4. SRV records of the server name itself. 5. Port 8448.
    const srv = await this.#srv(host);
    if (srv) return { host: srv.name, port: srv.port, hostHeader: serverName, tlsName: host };
    return { host, port: DEFAULT_FEDERATION_PORT, hostHeader: serverName, tlsName: host };
  }

  async #delegation(hostname: string): Promise<string | undefined> {
    const now = this.#deps.now();
    const cached = this.#wellKnown.get(hostname);
    if (cached && cached.expiresAt > now) return cached.delegated;
    let answer: { body: unknown; maxAgeMs?: number } | undefined;
    try {
      answer = await this.#deps.fetchWellKnown(hostname);
    } catch {
      answer = undefined;
    }
    const server = answer && isJsonObject(answer.body) ? answer.body['m.server'] : undefined;
    const delegated = typeof server === 'string' && parseServerName(server).ok ? server : undefined;
    const lifetime =
      delegated === undefined ? WELL_KNOWN_FAILURE_MS : Math.min(answer?.maxAgeMs ?? WELL_KNOWN_DEFAULT_MS, WELL_KNOWN_MAX_MS);
    this.#wellKnown.set(hostname, { delegated, expiresAt: now + lifetime });
    return delegated;
  }

  /** The preferred SRV target: lowest priority, then highest weight (no load balancing across targets). */
  async #srv(hostname: string): Promise<SrvRecord | undefined> {
    for (const prefix of ['_matrix-fed._tcp.', '_matrix._tcp.']) {
      let records: SrvRecord[];
      try {
        records = await this.#deps.resolveSrv(prefix + hostname);
      } catch {
        records = [];
      }
      // A single record with target "." means the service is decidedly not available there.
      const usable = records.filter((r) => r.name !== '' && r.name !== '.');
      if (usable.length > 0) {
        return [...usable].sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
      }
    }
    return undefined;
  }
}
