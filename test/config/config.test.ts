import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { ConfigError, developmentConfig, parseConfig, validateConfig } from '../../src/config/config.ts';
import { configSchema } from '../../src/config/schema.ts';
import { durationMs } from '../../src/config/duration.ts';

const sampleText = await readFile(new URL('../../troupe.sample.yaml', import.meta.url), 'utf8');

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, {});
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

/** Every key path the schema defines, e.g. `listeners[].resources[].names`. */
function schemaKeys(schema: unknown, prefix = ''): string[] {
  const s = schema as { properties?: Record<string, unknown>; items?: unknown };
  if (s.items) return schemaKeys(s.items, `${prefix}[]`);
  return Object.entries(s.properties ?? {}).flatMap(([key, sub]) => {
    const here = prefix ? `${prefix}.${key}` : key;
    return [here, ...schemaKeys(sub, here)];
  });
}

function documentKeys(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => documentKeys(v, `${prefix}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, sub]) => {
    const here = prefix ? `${prefix}.${key}` : key;
    return [here, ...documentKeys(sub, here)];
  });
}

test('troupe.sample.yaml is valid and shows every key the schema knows', () => {
  assert.deepEqual(validateConfig(YAML.parse(sampleText)), []);
  const shown = new Set(documentKeys(YAML.parse(sampleText)));
  const missing = schemaKeys(configSchema).filter((key) => !shown.has(key));
  assert.deepEqual(missing, []);
});

test('the sample config normalises to what its comments say', () => {
  const config = parseConfig(sampleText, {});
  assert.equal(config.serverName, 'example.org');
  assert.deepEqual(config.database, { backend: 'postgres', url: 'postgres://troupe:secret@localhost:5432/troupe', poolMax: 10 });
  assert.equal(config.federation.minRetryIntervalMs, 10 * 60_000);
  assert.equal(config.federation.maxRetryIntervalMs, 7 * 86_400_000);
  assert.equal(config.enableRegistration, false);
  assert.deepEqual(config.rateLimits['rc_login.failed_attempts'], { perSecond: 0.17, burstCount: 3 });
});

test('every problem is reported, one line each, naming its key', () => {
  const problems = problemsOf(`
server_name: "not a name"
enable_registraton: true
listeners:
  - port: 70000
    bind_addresses: ["localhost"]
    resources: [{ names: [client, gopher] }]
database: { name: mysql }
federation: { destination_min_retry_interval: "ten minutes", destination_retry_multiplier: 0.5 }
federation_ip_range_blacklist: ["10.0.0.0/33"]
rc_message: { per_second: 0 }
`);
  assert.deepEqual(problems.sort(), [
    'database.name: must be one of "pglite", "postgres", "psycopg2"',
    'enable_registraton: unknown key',
    'federation.destination_min_retry_interval: must be a duration: milliseconds, or a number with a unit (ms, s, m, h, d, w, y), e.g. "10m"',
    'federation.destination_retry_multiplier: must be >= 1',
    'federation_ip_range_blacklist[0]: is not a valid cidr',
    'listeners[0].bind_addresses[0]: is not a valid ip',
    'listeners[0].port: must be <= 65535',
    'listeners[0].resources[0].names[1]: must be one of "client", "federation", "keys", "media", "admin", "metrics", "health"',
    'rc_message.per_second: must be > 0',
    'server_name: is not a valid server-name',
  ]);
});

test('server_name is required, and YAML syntax errors are reported', () => {
  assert.deepEqual(problemsOf('public_baseurl: "https://x.org/"\n'), ['server_name: is required']);
  assert.match(problemsOf('server_name: [unclosed\n')[0] ?? '', /^\(yaml\): /);
});

test('cross-key rules: TLS needs its files, the max retry interval is not below the min', () => {
  assert.deepEqual(problemsOf('server_name: a.org\nlisteners: [{ port: 8448, tls: true }]\n'), [
    'tls_certificate_path: is required (with tls_private_key_path) when a listener has tls: true',
  ]);
  assert.deepEqual(
    problemsOf('server_name: a.org\nfederation: { destination_min_retry_interval: 1d, destination_max_retry_interval: 1h }\n'),
    ['federation.destination_max_retry_interval: must not be less than destination_min_retry_interval'],
  );
});

test('DATABASE_URL overrides the database section', () => {
  const config = parseConfig('server_name: a.org\ndatabase: { name: pglite }\n', { DATABASE_URL: 'postgres://u@127.0.0.1:5433/t' });
  assert.deepEqual(config.database, { backend: 'postgres', url: 'postgres://u@127.0.0.1:5433/t', poolMax: 10 });
});

test('postgres parts become a URL with escaped credentials', () => {
  const config = parseConfig(
    'server_name: a.org\ndatabase: { name: psycopg2, args: { user: "a b", password: "p@ss/word", host: db, port: 6432, database: synapse, cp_max: 4 } }\n',
    {},
  );
  assert.deepEqual(config.database, { backend: 'postgres', url: 'postgres://a%20b:p%40ss%2Fword@db:6432/synapse', poolMax: 4 });
});

test('development defaults: localhost on loopback 8008, open registration, PGlite under ./data', () => {
  const config = developmentConfig({});
  assert.equal(config.serverName, 'localhost');
  assert.deepEqual(config.listeners.map((l) => [l.bindAddresses, l.port]), [[['127.0.0.1'], 8008]]);
  assert.equal(config.enableRegistration, true);
  assert.equal(config.database.backend, 'pglite');
  assert.match(config.signingKeyPath, /data\/localhost\.signing\.key$/);
  // A config file without enable_registration keeps registration closed.
  assert.equal(parseConfig('server_name: a.org\n', {}).enableRegistration, false);
});

test('durations: milliseconds or a number with a unit', () => {
  assert.equal(durationMs(1500), 1500);
  assert.equal(durationMs('250ms'), 250);
  assert.equal(durationMs('10m'), 600_000);
  assert.equal(durationMs('2w'), 1_209_600_000);
  assert.throws(() => durationMs('10 minutes'));
});
