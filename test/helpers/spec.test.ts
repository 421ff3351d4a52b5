// The spec-validation helper: it finds operations by concrete path, accepts valid bodies and rejects bad ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { assertMatchesSpec, findOperations, SPEC_DIR } from './spec.ts';

test('finds operations by template and by concrete path, the most literal template winning', async () => {
  assert.deepEqual((await findOperations('GET', '/_matrix/client/v3/rooms/{roomId}/state')).map((o) => o.template), [
    '/_matrix/client/v3/rooms/{roomId}/state',
  ]);
  assert.deepEqual((await findOperations('GET', '/_matrix/client/v3/rooms/!x:y/state')).map((o) => o.template), [
    '/_matrix/client/v3/rooms/{roomId}/state',
  ]);
  assert.deepEqual((await findOperations('GET', '/_matrix/client/v3/register/available?username=a')).map((o) => o.template), [
    '/_matrix/client/v3/register/available',
  ]);
  // The invite path is defined twice (one key ends in a space): both are candidates.
  assert.equal((await findOperations('POST', '/_matrix/client/v3/rooms/!x:y/invite')).length, 2);
  assert.deepEqual((await findOperations('GET', '/_matrix/client/versions')).map((o) => o.template), ['/_matrix/client/versions']);
  assert.deepEqual((await findOperations('GET', '/.well-known/matrix/client')).map((o) => o.template), ['/.well-known/matrix/client']);
  assert.deepEqual(await findOperations('GET', '/_matrix/client/v3/no_such_thing'), []);
});

test('accepts valid bodies and rejects invalid ones with readable errors', async () => {
  await assertMatchesSpec('POST', '/_matrix/client/v3/login', 200, { user_id: '@a:hs', access_token: 't', device_id: 'D' });
  await assertMatchesSpec('POST', '/_matrix/client/v3/login', 403, { errcode: 'M_FORBIDDEN', error: 'Invalid password' });
  await assertMatchesSpec('GET', '/_matrix/client/v3/account/whoami', 200, { user_id: '@a:hs', device_id: 'D', is_guest: false });
  await assertMatchesSpec('GET', '/_matrix/client/v3/rooms/!r:hs/joined_members', 200, {
    joined: { '@a:hs': { display_name: 'A', avatar_url: 'mxc://hs/x' } },
  });

  await assert.rejects(
    assertMatchesSpec('POST', '/_matrix/client/v3/login', 200, { user_id: 5, device_id: 'D' }),
    (error: unknown) => {
      assert.ok(error instanceof AssertionError);
      assert.match(error.message, /access_token/);
      assert.match(error.message, /\/user_id must be string/);
      return true;
    },
  );
  await assert.rejects(
    assertMatchesSpec('GET', '/_matrix/client/v3/account/whoami', 200, { user_id: 'not-a-user-id' }),
    /user_id must match format "mx-user-id"/,
  );
  await assert.rejects(assertMatchesSpec('GET', '/_matrix/client/v3/account/whoami', 418, {}), /defines no 418 response/);
  await assert.rejects(assertMatchesSpec('GET', '/_matrix/client/v3/nope', 200, {}), /No operation/);
});

test('every client-server response schema loads and compiles', async () => {
  const dir = path.join(SPEC_DIR, 'data', 'api', 'client-server');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 70);
  // Every operation's 200 schema is loaded and compiled against an odd body: only a failure to load or compile
  // (anything but an AssertionError) fails this test.
  let checked = 0;
  for (const file of files) {
    const doc = YAML.parse(await readFile(path.join(dir, file), 'utf8')) as {
      paths?: Record<string, Record<string, unknown>>;
      servers?: { variables?: { basePath?: { default?: string } } }[];
    };
    const base = doc.servers?.[0]?.variables?.basePath?.default ?? '';
    for (const [key, item] of Object.entries(doc.paths ?? {})) {
      for (const method of Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete'].includes(m))) {
        try {
          await assertMatchesSpec(method, base + key.trim(), 200, { '\u0000': 1 });
        } catch (error) {
          if (!(error instanceof AssertionError)) throw error;
        }
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `checked ${checked} operations`);
});
