import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { forEachBackend } from '../helpers/database.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import type { ActorListing, ActorsPort } from '../../src/admin/actorsPort.ts';

/** The value of one sample line `name{labels} value`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

test('/metrics is served only on a listener with the metrics resource', async (t) => {
  const server = await startTestServer(t, {
    config: {
      listeners: [
        { port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['client', 'admin'] }] },
        { port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['metrics'] }] },
      ],
    },
  });
  const main = await fetch(`${server.url}/metrics`);
  assert.equal(main.status, 404);
  assert.equal(((await main.json()) as { errcode: string }).errcode, 'M_UNRECOGNIZED');

  const metricsUrl = server.running.listeners[1]?.url;
  assert.ok(metricsUrl);
  // Some traffic first: a request on a route with a parameter, and the whoami of a user.
  const alice = await server.createUser('alice');
  assert.equal((await server.request('GET', '/_matrix/client/v3/account/whoami', { token: alice.accessToken })).status, 200);
  assert.equal((await server.request('GET', '/_synapse/admin/v2/users/@alice:test.local', { token: alice.accessToken })).status, 403);

  const res = await fetch(`${metricsUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  // Actors by kind and state: the supervisor is always there.
  assert.equal(sample(text, 'troupe_actors', { kind: 'supervisor' }), 1);
  // HTTP latency by route pattern, never by raw URL.
  assert.equal(sample(text, 'troupe_http_request_duration_seconds_count', { route: '/_matrix/client/v3/account/whoami', status: '200' }), 1);
  assert.equal(sample(text, 'troupe_http_request_duration_seconds_count', { route: '/_synapse/admin/v2/users/:userId', status: '403' }), 1);
  assert.ok(!text.includes('@alice:test.local'), 'no raw URL in labels');
  // Wake-ups by stream, process figures, and the transaction metrics the senders will use.
  assert.equal(sample(text, 'troupe_wakeups_total', { stream: 'events' }), 0);
  assert.ok((sample(text, 'troupe_process_resident_memory_bytes') ?? 0) > 0);
  assert.ok(text.includes('troupe_nodejs_eventloop_lag_seconds'));
  assert.ok(text.includes('# TYPE troupe_appservice_transactions_total counter'));
  assert.ok(text.includes('# TYPE troupe_federation_transaction_duration_seconds histogram'));
  assert.ok(text.includes('# TYPE troupe_event_persist_duration_seconds histogram'));
});

test('wake-ups are counted by stream as waiting syncs wake', async (t) => {
  const server = await startTestServer(t, {
    config: { listeners: [{ port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['client', 'metrics'] }] }] },
  });
  const { notifier } = server.running.actors;
  const since = notifier.currentToken();
  const waiting = notifier.waitForEvents('@bob:test.local', since, 60_000);
  // Let the stream open (its room list loads from storage) before announcing.
  while (server.running.admin.list().every((r) => r.id !== 'user:@bob:test.local' || r.state !== 'waiting')) {
    await new Promise((r) => setImmediate(r));
  }
  notifier.notify({ stream: 'to_device', position: 1, users: ['@bob:test.local'] });
  assert.equal((await waiting).reason, 'advanced');
  const text = await (await fetch(`${server.url}/metrics`)).text();
  assert.equal(sample(text, 'troupe_wakeups_total', { stream: 'to_device' }), 1);
  assert.equal(sample(text, 'troupe_wakeups_total', { stream: 'events' }), 0);
  // The woken stream lingers for the client's next poll.
  assert.equal(sample(text, 'troupe_actors', { kind: 'userStream', state: 'lingering' }), 1);
});

test('actor gauges count kinds and states, queue depths sum figures, pool usage is reported', async () => {
  const rows: ActorListing[] = [
    { id: 'supervisor', kind: 'supervisor' as const, state: 'x', figures: { waitingRequests: 3 } },
    { id: 'dest:a.example', kind: 'destination' as const, state: 'backingOff', figures: { queuedPdus: 4, queuedEdus: 1 } },
    { id: 'dest:b.example', kind: 'destination' as const, state: 'backingOff', figures: { queuedPdus: 2, queuedEdus: 0 } },
    { id: 'dest:c.example', kind: 'destination' as const, state: 'idle', figures: { queuedPdus: 0, queuedEdus: 0 } },
    { id: 'as:irc', kind: 'appservice' as const, state: 'down.waiting', figures: {} },
  ];
  const actors: ActorsPort = {
    list: () => rows,
    userStreamCounts: () => ({ waiting: 2, lingering: 1, idle: 0, waitingRequests: 3 }),
    subscribe: () => () => {},
    retry: () => false,
    wakeUps: () => ({ events: 7 }),
    machines: () => [],
  };
  const metrics = createMetrics({ actors, poolUsage: () => ({ total: 5, idle: 2, waiting: 1 }), defaultMetrics: false });
  metrics.appservice.transactions.inc({ service: 'irc', outcome: 'failed' });
  const text = await metrics.render();
  assert.equal(sample(text, 'troupe_actors', { kind: 'destination', state: 'backingOff' }), 2);
  assert.equal(sample(text, 'troupe_actors', { kind: 'destination', state: 'idle' }), 1);
  assert.equal(sample(text, 'troupe_actors', { kind: 'appservice', state: 'down.waiting' }), 1);
  assert.equal(sample(text, 'troupe_actors', { kind: 'userStream', state: 'waiting' }), 2);
  assert.equal(sample(text, 'troupe_actors', { kind: 'userStream', state: 'idle' }), 0);
  assert.equal(sample(text, 'troupe_actor_queue_depth', { kind: 'destination', queue: 'queuedPdus' }), 6);
  assert.equal(sample(text, 'troupe_actor_queue_depth', { kind: 'supervisor', queue: 'waitingRequests' }), 3);
  assert.equal(sample(text, 'troupe_wakeups_total', { stream: 'events' }), 7);
  assert.equal(sample(text, 'troupe_db_pool_connections', { state: 'waiting' }), 1);
  assert.equal(sample(text, 'troupe_appservice_transactions_total', { service: 'irc', outcome: 'failed' }), 1);
  // A second scrape after a change shows the new figures, not stale ones.
  rows.splice(1, 2);
  const again = await metrics.render();
  assert.equal(sample(again, 'troupe_actors', { kind: 'destination', state: 'backingOff' }), undefined);
});

forEachBackend('database pool metrics', (backend) => {
  test('PostgreSQL reports its pool; PGlite, one connection and no pool, reports none', async (t) => {
    const server = await startTestServer(t, {
      backend: backend.name,
      config: { listeners: [{ port: 0, bind_addresses: ['127.0.0.1'], resources: [{ names: ['client', 'metrics'] }] }] },
    });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    if (backend.name === 'postgres') {
      assert.ok((sample(text, 'troupe_db_pool_connections', { state: 'total' }) ?? 0) >= 1);
      assert.equal(typeof sample(text, 'troupe_db_pool_connections', { state: 'idle' }), 'number');
      assert.equal(sample(text, 'troupe_db_pool_connections', { state: 'waiting' }), 0);
    } else {
      assert.ok(!text.includes('troupe_db_pool_connections'));
    }
  });
});
