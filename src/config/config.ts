// Loading troupe.yaml: parse, validate the whole file against the schema (one line per problem, naming the key),
// then fill defaults into the one Config shape the rest of the server reads.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import { configSchema } from './schema.ts';
import { durationMs, type Duration } from './duration.ts';
import { errorPath } from '../jsonSchemaErrors.ts';

export type ListenerResource = 'client' | 'federation' | 'keys' | 'media' | 'admin' | 'metrics' | 'health';

export interface ListenerConfig {
  port: number;
  bindAddresses: string[];
  tls: boolean;
  xForwarded: boolean;
  resources: ListenerResource[];
}

export type DatabaseConfig =
  | { backend: 'pglite'; path: string }
  | { backend: 'postgres'; url: string; poolMax: number };

export interface RateLimit {
  perSecond: number;
  burstCount: number;
}

export interface Config {
  serverName: string;
  publicBaseurl: string;
  dataDirectory: string;
  signingKeyPath: string;
  /** Our keys retired by rotations (Synapse's `old_signing_keys`): published in old_verify_keys. */
  oldSigningKeys: { keyId: string; key: string; expiredTs: number }[];
  listeners: ListenerConfig[];
  tls?: { certificatePath: string; privateKeyPath: string };
  database: DatabaseConfig;
  enableRegistration: boolean;
  /** /register asks for a registration token (m.login.registration_token) from the admin API's tokens. */
  registrationRequiresToken: boolean;
  registrationSharedSecret?: string;
  appServiceConfigFiles: string[];
  /** How long a PUT of a transaction to an application service may take before it counts as failed. */
  appServiceTransactionTimeoutMs: number;
  federationIpRangeBlacklist: string[];
  /** Only these servers may federate with us; undefined: every server may. */
  federationDomainWhitelist?: string[];
  /** PEM files of extra certificate authorities trusted for outbound federation (on top of the default store). */
  federationCustomCaList: string[];
  /** Notary servers asked for a server's keys when the server itself cannot be reached. Default: none. */
  trustedKeyServers: { serverName: string; verifyKeys: Record<string, string> }[];
  /** Serve /.well-known/matrix/server pointing at public_baseurl's host (port 443 unless it names one). */
  serveServerWellknown: boolean;
  federation: { minRetryIntervalMs: number; retryMultiplier: number; maxRetryIntervalMs: number };
  rateLimits: Record<string, RateLimit>;
  /** Presence (online, unavailable, offline, status messages); off: nothing stored or served. */
  presence: { enabled: boolean };
  /** The XState inspector relay (`troupe start --inspect` turns it on), always on 127.0.0.1. */
  inspector: { enabled: boolean; port: number; users: string[] };
  logging: { level: string; pretty: boolean };
}

/** Raised for a config that fails validation; `problems` holds one line per problem, each naming its key. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.problems = problems;
  }
}

/** Private, loopback, link-local and documentation ranges: never federated with unless an admin empties the list. */
export const DEFAULT_FEDERATION_IP_RANGE_BLACKLIST = [
  '127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '192.0.0.0/24',
  '169.254.0.0/16', '192.88.99.0/24', '198.18.0.0/15', '192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24',
  '224.0.0.0/4', '::1/128', 'fe80::/10', 'fc00::/7', '2001:db8::/32', 'ff00::/8', 'fec0::/10',
];

// Synapse's defaults for the rate limits it shares with us.
const DEFAULT_RATE_LIMITS: Record<string, RateLimit> = {
  rc_message: { perSecond: 0.2, burstCount: 10 },
  rc_registration: { perSecond: 0.17, burstCount: 3 },
  rc_registration_token_validity: { perSecond: 0.1, burstCount: 5 },
  'rc_login.address': { perSecond: 0.003, burstCount: 5 },
  'rc_login.account': { perSecond: 0.003, burstCount: 5 },
  'rc_login.failed_attempts': { perSecond: 0.17, burstCount: 3 },
  'rc_joins.local': { perSecond: 0.1, burstCount: 10 },
  'rc_joins.remote': { perSecond: 0.01, burstCount: 10 },
  'rc_invites.per_room': { perSecond: 0.3, burstCount: 10 },
  'rc_invites.per_user': { perSecond: 0.003, burstCount: 5 },
  'rc_invites.per_issuer': { perSecond: 0.3, burstCount: 10 },
  rc_admin_redaction: { perSecond: 1, burstCount: 50 },
};

export const DEFAULT_INSPECTOR_PORT = 8090;

const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]{1,255})(:[0-9]{1,5})?$/;

function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  const family = isIP(address ?? '');
  if (rest.length > 0 || family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^[0-9]{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addFormat('server-name', SERVER_NAME);
ajv.addFormat('ip', (v: string) => isIP(v) !== 0);
ajv.addFormat('cidr', isCidr);
ajv.addFormat('http-url', (v: string) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol));
const validate = ajv.compile(configSchema);

interface RawRate {
  per_second?: number;
  burst_count?: number;
}

/** The file as the schema describes it (snake_case, everything optional but server_name). */
interface RawConfig {
  server_name: string;
  public_baseurl?: string;
  data_directory?: string;
  signing_key_path?: string;
  old_signing_keys?: Record<string, { key: string; expired_ts: number }>;
  listeners?: {
    port: number;
    bind_addresses?: string[];
    tls?: boolean;
    x_forwarded?: boolean;
    resources?: { names: ListenerResource[] }[];
  }[];
  tls_certificate_path?: string;
  tls_private_key_path?: string;
  database?: {
    name: 'pglite' | 'postgres' | 'psycopg2';
    args?: { url?: string; path?: string; user?: string; password?: string; database?: string; host?: string; port?: number; cp_max?: number };
  };
  enable_registration?: boolean;
  registration_requires_token?: boolean;
  registration_shared_secret?: string;
  app_service_config_files?: string[];
  app_service_transaction_timeout?: Duration;
  federation_ip_range_blacklist?: string[];
  federation_domain_whitelist?: string[] | null;
  federation_custom_ca_list?: string[];
  trusted_key_servers?: { server_name: string; verify_keys: Record<string, string> }[];
  serve_server_wellknown?: boolean;
  federation?: {
    destination_min_retry_interval?: Duration;
    destination_retry_multiplier?: number;
    destination_max_retry_interval?: Duration;
  };
  presence?: { enabled?: boolean };
  inspector?: { enabled?: boolean; port?: number; users?: string[] };
  logging?: { level?: string; pretty?: boolean };
  [rateLimitKey: `rc_${string}`]: RawRate | Record<string, RawRate> | undefined;
}

function describe(error: ErrorObject): string {
  switch (error.keyword) {
    case 'additionalProperties':
      return 'unknown key';
    case 'required':
      return 'is required';
    case 'enum':
      return `must be one of ${(error.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(error.params['allowedValue'])}`;
    case 'format':
      return `is not a valid ${String(error.params['format'])}`;
    case 'oneOf':
      return 'must be a duration: milliseconds, or a number with a unit (ms, s, m, h, d, w, y), e.g. "10m"';
    default:
      return error.message ?? 'is invalid';
  }
}

/** Validates a parsed config document; returns one line per problem, each starting with the key it is about. */
export function validateConfig(document: unknown): string[] {
  if (validate(document)) return [];
  const errors = validate.errors ?? [];
  // A failed oneOf also reports each branch's failure; the oneOf line alone says what is wanted.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const lines = errors
    .filter((e) => e.keyword === 'oneOf' || !oneOfPaths.has(e.instancePath))
    .map((e) => `${errorPath(e) || '(top level)'}: ${describe(e)}`);
  return [...new Set(lines)];
}

function rateLimits(raw: RawConfig): Record<string, RateLimit> {
  const limits: Record<string, RateLimit> = {};
  for (const [key, fallback] of Object.entries(DEFAULT_RATE_LIMITS)) {
    const [top, sub] = key.split('.') as [`rc_${string}`, string | undefined];
    const section = raw[top];
    const given = (sub ? (section as Record<string, RawRate> | undefined)?.[sub] : section) as RawRate | undefined;
    limits[key] = {
      perSecond: given?.per_second ?? fallback.perSecond,
      burstCount: given?.burst_count ?? fallback.burstCount,
    };
  }
  return limits;
}

function databaseConfig(raw: RawConfig, dataDirectory: string, env: NodeJS.ProcessEnv): DatabaseConfig {
  const args = raw.database?.args ?? {};
  const poolMax = args.cp_max ?? 10;
  if (env['DATABASE_URL']) return { backend: 'postgres', url: env['DATABASE_URL'], poolMax };
  if (raw.database && raw.database.name !== 'pglite') {
    if (args.url) return { backend: 'postgres', url: args.url, poolMax };
    const url = new URL('postgres://localhost');
    url.hostname = args.host ?? 'localhost';
    if (args.port) url.port = String(args.port);
    if (args.user) url.username = encodeURIComponent(args.user);
    if (args.password) url.password = encodeURIComponent(args.password);
    url.pathname = `/${encodeURIComponent(args.database ?? 'troupe')}`;
    return { backend: 'postgres', url: url.toString(), poolMax };
  }
  return { backend: 'pglite', path: path.resolve(args.path ?? path.join(dataDirectory, 'pglite')) };
}

/** Turns a validated document into the Config the server reads. `development` selects the built-in defaults. */
export function normaliseConfig(raw: RawConfig, env: NodeJS.ProcessEnv, development = false): Config {
  const dataDirectory = path.resolve(raw.data_directory ?? 'data');
  const listeners = (raw.listeners ?? [{ port: 8008 }]).map((l) => ({
    port: l.port,
    bindAddresses: l.bind_addresses ?? ['127.0.0.1'],
    tls: l.tls ?? false,
    xForwarded: l.x_forwarded ?? false,
    resources: l.resources?.flatMap((r) => r.names) ?? ['client', 'federation', 'keys', 'media', 'admin', 'health'],
  }));
  const problems: string[] = [];
  const tlsWanted = listeners.some((l) => l.tls);
  if (tlsWanted && !(raw.tls_certificate_path && raw.tls_private_key_path)) {
    problems.push('tls_certificate_path: is required (with tls_private_key_path) when a listener has tls: true');
  }
  const fed = raw.federation ?? {};
  const minRetryIntervalMs = durationMs(fed.destination_min_retry_interval ?? '10m');
  const maxRetryIntervalMs = durationMs(fed.destination_max_retry_interval ?? '7d');
  if (maxRetryIntervalMs < minRetryIntervalMs) {
    problems.push('federation.destination_max_retry_interval: must not be less than destination_min_retry_interval');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const firstPort = listeners[0]?.port ?? 8008;
  return {
    serverName: raw.server_name,
    publicBaseurl: raw.public_baseurl ?? `http://${raw.server_name.replace(/:[0-9]+$/, '')}:${firstPort}/`,
    dataDirectory,
    signingKeyPath: path.resolve(raw.signing_key_path ?? path.join(dataDirectory, `${raw.server_name}.signing.key`)),
    oldSigningKeys: Object.entries(raw.old_signing_keys ?? {}).map(([keyId, k]) => ({ keyId, key: k.key, expiredTs: k.expired_ts })),
    listeners,
    ...(raw.tls_certificate_path && raw.tls_private_key_path
      ? { tls: { certificatePath: raw.tls_certificate_path, privateKeyPath: raw.tls_private_key_path } }
      : {}),
    database: databaseConfig(raw, dataDirectory, env),
    // Open registration only in the loopback-only development defaults (see README).
    enableRegistration: raw.enable_registration ?? development,
    registrationRequiresToken: raw.registration_requires_token ?? false,
    ...(raw.registration_shared_secret ? { registrationSharedSecret: raw.registration_shared_secret } : {}),
    appServiceConfigFiles: raw.app_service_config_files ?? [],
    appServiceTransactionTimeoutMs: durationMs(raw.app_service_transaction_timeout ?? '60s'),
    federationIpRangeBlacklist: raw.federation_ip_range_blacklist ?? DEFAULT_FEDERATION_IP_RANGE_BLACKLIST,
    ...(raw.federation_domain_whitelist ? { federationDomainWhitelist: raw.federation_domain_whitelist } : {}),
    federationCustomCaList: (raw.federation_custom_ca_list ?? []).map((file) => path.resolve(file)),
    trustedKeyServers: (raw.trusted_key_servers ?? []).map((s) => ({ serverName: s.server_name, verifyKeys: s.verify_keys })),
    serveServerWellknown: raw.serve_server_wellknown ?? false,
    federation: {
      minRetryIntervalMs,
      retryMultiplier: fed.destination_retry_multiplier ?? 2,
      maxRetryIntervalMs,
    },
    rateLimits: rateLimits(raw),
    presence: { enabled: raw.presence?.enabled ?? true },
    inspector: {
      enabled: raw.inspector?.enabled ?? false,
      port: raw.inspector?.port ?? DEFAULT_INSPECTOR_PORT,
      users: raw.inspector?.users ?? [],
    },
    logging: { level: raw.logging?.level ?? 'info', pretty: raw.logging?.pretty ?? false },
  };
}

/** Parses and validates a YAML document. Throws ConfigError naming every bad key. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env): Config {
  let document: unknown;
  try {
    document = YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError([`(yaml): ${(error as Error).message.split('\n')[0]}`]);
  }
  const problems = validateConfig(document ?? {});
  if (problems.length > 0) throw new ConfigError(problems);
  return normaliseConfig(document as RawConfig, env);
}

/** The built-in development defaults: loopback only, server_name localhost, open registration, PGlite in ./data. */
export function developmentConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return normaliseConfig({ server_name: 'localhost' }, env, true);
}

export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  if (file === undefined) return developmentConfig(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`(file): cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  return parseConfig(text, env);
}
