// The daemon as an admin runs it: `troupe start` on the development defaults, a restart, signals, a bad config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/daemon.ts';

const withoutDatabaseUrl = { DATABASE_URL: '' };

test('`troupe start` with no config serves 127.0.0.1:8008 on PGlite under ./data; a restart reuses key and data', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-daemon-'));

  const first = runCli(['start'], { cwd, env: withoutDatabaseUrl });
  try {
    const listening = await first.waitForLog((l) => l['msg'] === 'listening');
    assert.equal(listening['url'], 'http://127.0.0.1:8008');
    const response = await fetch('http://127.0.0.1:8008/_matrix/client/versions');
    assert.equal(response.status, 200);
    assert.ok(Array.isArray(((await response.json()) as { versions: unknown }).versions));
    assert.ok(first.logs.some((l) => l['msg'] === 'generated a new signing key'));
    assert.ok(first.logs.some((l) => l['msg'] === 'migrations applied'));
  } finally {
    first.child.kill('SIGTERM');
  }
  assert.equal(await first.exited, 0);

  const keyFile = path.join(cwd, 'data', 'localhost.signing.key');
  const key = await readFile(keyFile, 'utf8');
  assert.ok((await readdir(path.join(cwd, 'data', 'pglite'))).length > 0, 'PGlite files under ./data/pglite');

  const second = runCli(['start'], { cwd, env: withoutDatabaseUrl });
  try {
    await second.waitForLog((l) => l['msg'] === 'listening');
    assert.equal(second.logs.some((l) => l['msg'] === 'generated a new signing key'), false);
    assert.equal(second.logs.some((l) => l['msg'] === 'migrations applied'), false, 'migrations ran once, on the first start');
  } finally {
    second.child.kill('SIGINT');
  }
  assert.equal(await second.exited, 0);
  assert.equal(await readFile(keyFile, 'utf8'), key);
});

test('SIGTERM during a request that hangs still exits 0 within 5 seconds', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-daemon-'));
  await writeFile(
    path.join(cwd, 'troupe.yaml'),
    'server_name: test.local\nlisteners: [{ port: 0, bind_addresses: ["127.0.0.1"] }]\nlogging: { level: info }\n',
  );
  const daemon = runCli(['start', '--config', 'troupe.yaml'], { cwd, env: withoutDatabaseUrl });
  const { url } = (await daemon.waitForLog((l) => l['msg'] === 'listening')) as { url: string };
  // A client that opens a connection and never finishes its request body keeps a request in flight.
  const { request } = await import('node:http');
  const hanging = request(`${url}/_matrix/client/versions`, { method: 'POST', headers: { 'content-length': '100' } });
  hanging.on('error', () => {});
  hanging.write('{');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const signalledAt = performance.now();
  daemon.child.kill('SIGTERM');
  assert.equal(await daemon.exited, 0);
  assert.ok(performance.now() - signalledAt < 5000, 'exited within 5 s');
  assert.ok(daemon.logs.some((l) => l['msg'] === 'shutting down'));
});

test('an invalid config exits 2 with one line per problem naming the key', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-daemon-'));
  await writeFile(path.join(cwd, 'bad.yaml'), 'server_name: ok.org\nlisteners: [{ port: -1 }]\nenable_registration: "yes"\n');
  const daemon = runCli(['start', '--config', 'bad.yaml'], { cwd });
  assert.equal(await daemon.exited, 2);
  const lines = daemon.stderr().trim().split('\n');
  assert.equal(lines[0], 'troupe: invalid configuration:');
  assert.deepEqual(lines.slice(1).map((l) => l.trim()).sort(), [
    'enable_registration: must be boolean',
    'listeners[0].port: must be >= 0',
  ]);
});

test('a missing config file exits 2 and says which', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-daemon-'));
  const daemon = runCli(['migrate', '--config', 'nope.yaml'], { cwd });
  assert.equal(await daemon.exited, 2);
  assert.match(daemon.stderr(), /cannot read nope\.yaml: ENOENT/);
});
