// The admin page's server side over real HTTP: static files with a strict CSP, and the WebSocket that pushes
// the live actors (admin token in the first message; refused without one or for non-admins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startTestServer } from '../helpers/server.ts';
import { isDown, isUp, spawnFakeAppservice, waitForSnapshot, SECRETS } from './fixtures.ts';

interface Message {
  type: string;
  errcode?: string;
  user_id?: string;
  machines?: { kind: string; svg: string }[];
  actors?: { id: string; kind: string; state: string; figures: Record<string, unknown> }[];
  user_streams?: Record<string, number>;
}

function open(url: string): Promise<{ ws: WebSocket; next: (predicate?: (m: Message) => boolean) => Promise<Message>; closed: Promise<number> }> {
  const ws = new WebSocket(url);
  const queue: Message[] = [];
  const waiters: { predicate: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as Message;
    const i = waiters.findIndex((w) => w.predicate(m));
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(m);
    else queue.push(m);
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const next = (predicate: (m: Message) => boolean = () => true) =>
    new Promise<Message>((resolve) => {
      const i = queue.findIndex(predicate);
      if (i >= 0) resolve(queue.splice(i, 1)[0] as Message);
      else waiters.push({ predicate, resolve });
    });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, next, closed }));
    ws.once('error', reject);
  });
}

test('the page is served from the server itself with a strict content security policy', async (t) => {
  const server = await startTestServer(t);
  for (const path of ['/_troupe/admin', '/_troupe/admin/']) {
    const page = await fetch(`${server.url}${path}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    const html = await page.text();
    assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')), 'no external URL in the page');
  }
  const js = await fetch(`${server.url}/_troupe/admin/static/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  const jsText = await js.text();
  assert.ok(!/https?:\/\//.test(jsText), 'no external URL in the script');
  assert.equal((await fetch(`${server.url}/_troupe/admin/static/app.css`)).status, 200);
  assert.equal((await fetch(`${server.url}/_troupe/admin/static/secret.txt`)).status, 404);
  assert.equal((await fetch(`${server.url}/_troupe/admin/static/..%2F..%2Fmain.ts`)).status, 404);
});

test('the socket refuses a missing token, a bad token and a non-admin', async (t) => {
  const server = await startTestServer(t);
  const alice = await server.createUser('alice');
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/_troupe/admin/ws`;

  const cases: [unknown, number, string][] = [
    [{ type: 'auth' }, 4001, 'M_MISSING_TOKEN'],
    [{ type: 'auth', access_token: 'not-a-token' }, 4001, 'M_UNKNOWN_TOKEN'],
    [{ type: 'auth', access_token: alice.accessToken }, 4003, 'M_FORBIDDEN'],
  ];
  for (const [auth, code, errcode] of cases) {
    const c = await open(wsUrl);
    c.ws.send(JSON.stringify(auth));
    const m = await c.next();
    assert.equal(m.type, 'error');
    assert.equal(m.errcode, errcode);
    assert.equal(await c.closed, code);
  }
  // Another path is not upgraded.
  await assert.rejects(open(`${server.url.replace(/^http/, 'ws')}/_troupe/admin/other`));
});

test('an admin gets the machines, then the actors as they change', async (t) => {
  const server = await startTestServer(t);
  const admin = await server.createUser('root', { admin: true });
  const c = await open(`${server.url.replace(/^http/, 'ws')}/_troupe/admin/ws`);
  t.after(() => c.ws.terminate());
  c.ws.send(JSON.stringify({ type: 'auth', access_token: admin.accessToken }));
  const ready = await c.next((m) => m.type === 'ready');
  assert.equal(ready.user_id, admin.userId);
  assert.deepEqual(ready.machines?.map((m) => m.kind).sort(), ['appservice', 'destination', 'supervisor', 'userStream']);
  assert.match(ready.machines?.find((m) => m.kind === 'appservice')?.svg ?? '', /^<svg /);
  const first = await c.next((m) => m.type === 'actors');
  assert.deepEqual(first.actors?.map((a) => a.kind), ['supervisor']);
  assert.deepEqual(first.user_streams, { waiting: 0, lingering: 0, idle: 0, waitingRequests: 0 });

  // An appservice appears, goes DOWN with a next retry time, and comes back UP: each pushed.
  const fake = spawnFakeAppservice(t, server.running.actors, server.running.admin);
  const appservice = (m: Message) => m.actors?.find((a) => a.id === 'as:bridge');
  const down = await c.next((m) => m.type === 'actors' && appservice(m)?.figures['status'] === 'down');
  assert.equal(typeof appservice(down)?.figures['nextRetryAt'], 'number');
  await waitForSnapshot(fake.actor, isDown);
  fake.failing = false;
  const retry = await server.request('POST', '/_troupe/admin/v1/appservices/bridge/retry', { token: admin.accessToken, body: {} });
  assert.equal(retry.status, 200);
  await waitForSnapshot(fake.actor, isUp);
  const up = await c.next((m) => m.type === 'actors' && appservice(m)?.state === 'up.idle');
  assert.equal(appservice(up)?.figures['position'], 5);
  assert.equal(appservice(up)?.figures['nextRetryAt'], null);

  // A syncing user shows up in the counts, without a row of their own.
  const controller = new AbortController();
  t.after(() => controller.abort());
  void server.running.actors.notifier.waitForEvents('@someone:test.local', server.running.actors.notifier.currentToken(), 60_000, controller.signal);
  const waiting = await c.next((m) => m.type === 'actors' && m.user_streams?.['waiting'] === 1);
  assert.equal(waiting.user_streams?.['waitingRequests'], 1);
  assert.ok(!waiting.actors?.some((a) => a.kind === 'userStream'));
  assert.ok(!JSON.stringify(waiting).includes(SECRETS.hsToken));
});
