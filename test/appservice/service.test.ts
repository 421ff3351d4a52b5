// The homeserver -> service requests of src/appservice/service.ts against a scriptable service on a real port:
// the ping's outcomes (including the timeout the route answers with 504 M_CONNECTION_TIMEOUT) and the queries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRegistration } from '../../src/appservice/registration.ts';
import { Appservices } from '../../src/appservice/service.ts';
import { startFakeService } from './fakeService.ts';

function registration(url: string | null) {
  return parseRegistration(
    JSON.stringify({
      id: 'probe',
      url,
      as_token: 'probe-as',
      hs_token: 'probe-hs',
      sender_localpart: 'probebot',
      namespaces: { users: [{ regex: '@probe_.*', exclusive: true }] },
    }),
    'probe.yaml',
    'test.local',
  );
}

test('ping: success tells the actor, each failure has its errcode, a hang times out', async (t) => {
  const service = await startFakeService();
  t.after(() => service.close());
  const reg = registration(service.url);
  const succeeded: string[] = [];
  const api = new Appservices({ registrations: [reg], pingTimeoutMs: 200, pingSucceeded: (id) => succeeded.push(id) });

  const ok = await api.ping(reg, 'txn-1');
  assert.equal(ok.ok, true);
  assert.deepEqual(succeeded, ['probe']);
  assert.equal(service.requests.at(-1)?.authorization, 'Bearer probe-hs');

  service.pingMode = 503;
  assert.deepEqual(await api.ping(reg, undefined), { ok: false, errcode: 'M_BAD_STATUS', status: 503, body: '{"errcode":"M_UNKNOWN"}' });
  service.pingMode = 'hang';
  assert.deepEqual(await api.ping(reg, undefined), { ok: false, errcode: 'M_CONNECTION_TIMEOUT' });
  service.pingMode = 'reset';
  assert.deepEqual(await api.ping(reg, undefined), { ok: false, errcode: 'M_CONNECTION_FAILED' });
  assert.deepEqual(await api.ping(registration(null), undefined), { ok: false, errcode: 'M_URL_NOT_SET' });
  assert.deepEqual(succeeded, ['probe'], 'only a success retries the service');
});

test('user and alias queries: true only for a 2xx answer', async (t) => {
  const service = await startFakeService();
  t.after(() => service.close());
  const reg = registration(service.url);
  const api = new Appservices({ registrations: [reg] });
  service.onUserQuery = (userId) => userId === '@probe_yes:test.local';
  service.onAliasQuery = (alias) => alias === '#probe_yes:test.local';
  assert.equal(await api.queryUser(reg, '@probe_yes:test.local'), true);
  assert.equal(await api.queryUser(reg, '@probe_no:test.local'), false);
  assert.equal(await api.queryAlias(reg, '#probe_yes:test.local'), true);
  assert.equal(await api.queryAlias(reg, '#probe_no:test.local'), false);
  assert.equal(service.requests.at(-1)?.url, `/_matrix/app/v1/rooms/${encodeURIComponent('#probe_no:test.local')}`);
  assert.ok(service.requests.every((r) => r.authorization === 'Bearer probe-hs' && !r.url.includes('access_token')));
  await service.close();
  assert.equal(await api.queryUser(reg, '@probe_yes:test.local'), false, 'an unreachable service says no');
});
