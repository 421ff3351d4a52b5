// The `troupe` commands an admin runs besides start: generate-config, register-user, migrate (and start) on PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/storage/open.ts';
import { verifyPassword } from '../../src/auth/passwords.ts';
import { runCli } from '../helpers/daemon.ts';
import { createTestDatabase } from '../helpers/database.ts';

const noDatabaseUrl = { DATABASE_URL: '' };

test('generate-config writes a valid config with registration closed and a fresh shared secret', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-cli-'));
  const run = runCli(['generate-config', '--server-name', 'example.org', '--output', 'troupe.yaml'], { cwd });
  assert.equal(await run.exited, 0);
  const text = await readFile(path.join(cwd, 'troupe.yaml'), 'utf8');
  const config = parseConfig(text, {});
  assert.equal(config.serverName, 'example.org');
  assert.equal(config.enableRegistration, false);
  assert.match(config.registrationSharedSecret ?? '', /^[A-Za-z0-9_-]{43}$/);
  // It never overwrites an existing file.
  const again = runCli(['generate-config', '--server-name', 'example.org', '--output', 'troupe.yaml'], { cwd });
  assert.equal(await again.exited, 1);
  assert.equal(await readFile(path.join(cwd, 'troupe.yaml'), 'utf8'), text);
  // Without --server-name it is a usage error.
  assert.equal(await runCli(['generate-config'], { cwd }).exited, 2);
});

test('register-user creates a local user with a hashed password; a second time is refused', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-cli-'));
  await writeFile(path.join(cwd, 'troupe.yaml'), 'server_name: example.org\n');
  const first = runCli(['register-user', '--config', 'troupe.yaml', '--user', 'alice', '--password', 's3cret', '--admin'], {
    cwd,
    env: noDatabaseUrl,
  });
  assert.equal(await first.exited, 0, first.stderr());
  const again = runCli(['register-user', '--config', 'troupe.yaml', '--user', 'alice', '--password', 'other'], { cwd, env: noDatabaseUrl });
  assert.equal(await again.exited, 1);
  assert.match(again.stderr(), /@alice:example\.org already exists/);
  const badName = runCli(['register-user', '--config', 'troupe.yaml', '--user', 'Alice!', '--password', 'x'], { cwd, env: noDatabaseUrl });
  assert.equal(await badName.exited, 2);
  assert.match(badName.stderr(), /--user Alice!: /);

  const db = await openDatabase({ backend: 'pglite', path: path.join(cwd, 'data', 'pglite') });
  try {
    const { rows } = await db.query<{ user_id: string; admin: boolean; password_hash: string }>('SELECT user_id, admin, password_hash FROM users');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.user_id, '@alice:example.org');
    assert.equal(rows[0]?.admin, true);
    assert.equal(await verifyPassword('s3cret', rows[0]?.password_hash ?? ''), true);
    assert.equal(rows[0]?.password_hash.includes('s3cret'), false);
  } finally {
    await db.close();
  }
});

if (process.env['TEST_DATABASE_URL']) {
  test('with DATABASE_URL, migrate creates the tables in PostgreSQL and start serves from it', async () => {
    const database = await createTestDatabase('postgres', { migrate: false });
    const url = database.url ?? '';
    const cwd = await mkdtemp(path.join(tmpdir(), 'troupe-cli-'));
    await writeFile(
      path.join(cwd, 'troupe.yaml'),
      'server_name: pg.test\nlisteners: [{ port: 0 }]\ndatabase: { name: pglite }\n',
    );
    try {
      const migrate = runCli(['migrate', '--config', 'troupe.yaml'], { cwd, env: { DATABASE_URL: url } });
      assert.equal(await migrate.exited, 0, migrate.stderr());
      const db = await openDatabase({ backend: 'postgres', url });
      try {
        const { rows } = await db.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
        );
        const tables = rows.map((r) => r.table_name);
        for (const table of ['schema_migrations', 'users', 'devices', 'access_tokens']) assert.ok(tables.includes(table), table);
      } finally {
        await db.close();
      }

      const start = runCli(['start', '--config', 'troupe.yaml'], { cwd, env: { DATABASE_URL: url } });
      try {
        const { url: listening } = (await start.waitForLog((l) => l['msg'] === 'listening')) as { url: string };
        assert.equal((await fetch(`${listening}/_matrix/client/versions`)).status, 200);
        assert.ok(start.logs.some((l) => l['msg'] === 'opening database' && l['backend'] === 'postgres'));
      } finally {
        start.child.kill('SIGTERM');
      }
      assert.equal(await start.exited, 0);
    } finally {
      await database.close();
    }
  });
}
