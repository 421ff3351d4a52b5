// The inspector path end to end: the actor system's inspection goes through @statelyai/inspect's WebSocket
// inspector to the loopback relay, and a WebSocket client on the relay sees an appservice actor registered
// and its snapshots going up -> down -> up, with no secret in any message and only the chosen user streams.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startActorSystem } from '../../actors/system.ts';
import { createAdminPort } from '../../actors/adminPort.ts';
import { createActorInspection, createInspectionFilter, sanitise, sanitiseInspectionEvent, startInspectorRelay, REDACTED } from '../../actors/inspection.ts';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { StreamToken } from '../../src/streams/token.ts';
import { startTestServer } from '../helpers/server.ts';
import { runCli } from '../helpers/daemon.ts';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SECRETS, isDown, isUp, spawnFakeAppservice, waitForSnapshot } from '../admin/fixtures.ts';

interface Message {
  type: string;
  name?: string;
  sessionId: string;
  snapshot?: { value?: unknown; context?: Record<string, unknown> };
  event?: Record<string, unknown>;
}

const topState = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : value && typeof value === 'object' ? Object.keys(value)[0] : undefined;

describe('inspection through the loopback relay', () => {
  test('a relay client sees the appservice go up, down and up again, and never a secret', async (t) => {
    const relay = await startInspectorRelay({ port: 0 });
    t.after(() => relay.close());
    assert.match(relay.url, /^ws:\/\/127\.0\.0\.1:[0-9]+$/);

    const inspection = createActorInspection({ url: relay.url, users: ['@watched:test.local'] });
    const system = startActorSystem({ loadRoomsForUser: async () => ['!room:test.local'], inspect: inspection.inspect });
    const admin = createAdminPort(system);
    t.after(() => {
      system.stop();
      inspection.stop();
    });

    const messages: Message[] = [];
    const raw: string[] = [];
    const waiters: { predicate: () => boolean; resolve: () => void }[] = [];
    const client = new WebSocket(relay.url);
    t.after(() => client.terminate());
    client.on('message', (data) => {
      raw.push(data.toString());
      messages.push(JSON.parse(data.toString()) as Message);
      for (const w of waiters.splice(0)) {
        if (w.predicate()) w.resolve();
        else waiters.push(w);
      }
    });
    await new Promise((resolve) => client.once('open', resolve));
    const until = (predicate: () => boolean) =>
      new Promise<void>((resolve) => (predicate() ? resolve() : waiters.push({ predicate, resolve })));

    // Two syncing users: only the chosen one's stream is inspected.
    const controller = new AbortController();
    t.after(() => controller.abort());
    void system.notifier.waitForEvents('@watched:test.local', StreamToken.ZERO, 60_000, controller.signal);
    void system.notifier.waitForEvents('@other:test.local', StreamToken.ZERO, 60_000, controller.signal);

    const fake = spawnFakeAppservice(t, system, admin);
    // Secrets in an event sent to the actor, too.
    fake.actor.send({ type: 'NOTIFY', position: 7, access_token: SECRETS.accessToken, password: SECRETS.password, signing_key: SECRETS.signingKey });
    await waitForSnapshot(fake.actor, isDown);
    fake.failing = false;
    assert.equal(admin.retry('appservice', 'as:bridge'), true);
    await waitForSnapshot(fake.actor, isUp);
    // The message stream catches up: the appservice's last snapshot is up with position 5.
    const sessionOf = () => messages.find((m) => m.type === '@xstate.actor' && m.name === 'as:bridge')?.sessionId;
    const states = () => messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === sessionOf()).map((m) => topState(m.snapshot?.value));
    await until(() => {
      const s = states();
      const last = messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === sessionOf()).at(-1);
      return s.includes('down') && s.at(-1) === 'up' && last?.snapshot?.context?.['position'] === 5;
    });

    const session = sessionOf();
    assert.ok(session, 'the appservice registered with @xstate.actor');
    const actorMessage = messages.find((m) => m.type === '@xstate.actor' && m.sessionId === session);
    assert.match(String((actorMessage as { definition?: string } | undefined)?.definition), /"id":"appservice"/);
    // up, then down, then up again, in that order.
    const sequence = states().filter((s, i, all) => i === 0 || all[i - 1] !== s);
    const firstDown = sequence.indexOf('down');
    assert.ok(sequence.slice(0, firstDown).includes('up'), `up before down: ${sequence.join(' ')}`);
    assert.equal(sequence.at(-1), 'up');
    assert.ok(messages.some((m) => m.type === '@xstate.event' && m.sessionId === session && m.event?.['type'] === 'RETRY_NOW'));

    // The supervisor is the registered root; only the chosen user's stream appears.
    assert.ok(messages.some((m) => m.type === '@xstate.actor' && m.name === 'supervisor'));
    assert.ok(messages.some((m) => m.type === '@xstate.actor' && m.name === 'user:@watched:test.local'));
    assert.ok(!raw.some((r) => r.includes('@other:test.local')), 'an unchosen user stream is not inspected');
    assert.ok(!messages.some((m) => m.type === '@xstate.event' && m.event?.['type'] === 'STREAM_TOKEN'));

    // No secret anywhere, and the NOTIFY arrived with its secret fields redacted.
    for (const secret of Object.values(SECRETS)) {
      assert.ok(!raw.some((r) => r.includes(secret)), `secret leaked: ${secret}`);
    }
    const notify = messages.find((m) => m.type === '@xstate.event' && m.event?.['type'] === 'NOTIFY');
    assert.equal(notify?.event?.['access_token'], REDACTED);
    assert.equal(notify?.event?.['password'], REDACTED);
    assert.equal(notify?.event?.['position'], 7);
  });

  test('the relay listens on loopback only and refuses WebSocket connections from other origins', async (t) => {
    const relay = await startInspectorRelay({ port: 0 });
    t.after(() => relay.close());
    const page = await fetch(`http://127.0.0.1:${relay.port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /new WebSocket\("ws:\/\/127\.0\.0\.1:/);
    const foreign = new WebSocket(relay.url, { origin: 'https://evil.example' });
    const status = await new Promise<number | undefined>((resolve) => {
      foreign.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      foreign.on('open', () => resolve(undefined));
    });
    assert.equal(status, 401);
    const own = new WebSocket(relay.url, { origin: `http://127.0.0.1:${relay.port}` });
    await new Promise((resolve, reject) => {
      own.once('open', resolve);
      own.once('error', reject);
    });
    own.terminate();
  });
});

describe('sanitise', () => {
  test('redacts secret keys at any depth, reduces contents to sizes, cuts long strings and deep nesting', () => {
    const out = sanitise({
      access_token: 'a',
      nested: { hs_token: 'b', deeper: { as_token: 'c', myPassword: 'd', 'm.login.token': 'e', private_key: 'f' } },
      event: { type: 'm.room.message', content: { body: 'hello' }, sender: '@a:b' },
      queuedPdus: [{ content: { body: 'x' } }, {}],
      events: 3,
      long: 'x'.repeat(1000),
      list: Array.from({ length: 60 }, (_, i) => i),
      a: { b: { c: { d: { e: { f: { g: 1 } } } } } },
      fn: () => 1,
    }) as Record<string, unknown>;
    assert.equal(out['access_token'], REDACTED);
    assert.deepEqual(out['nested'], { hs_token: REDACTED, deeper: { as_token: REDACTED, myPassword: REDACTED, 'm.login.token': REDACTED, private_key: REDACTED } });
    assert.deepEqual(out['event'], { type: 'm.room.message', content: '<1 keys>', sender: '@a:b' });
    assert.equal(out['queuedPdus'], '<2 items>');
    assert.equal(out['events'], 3);
    assert.equal((out['long'] as string).length, 201);
    assert.equal((out['list'] as unknown[]).length, 51);
    assert.equal(JSON.stringify(out['a']).includes('<…>'), true);
    assert.equal('fn' in out, false);
  });

  test('inspection events are rebuilt without actor refs, system or input', () => {
    const event = {
      type: '@xstate.snapshot',
      sessionId: 'x:1',
      rootId: 'x:0',
      createdAt: '1',
      id: null,
      _version: '0',
      event: { type: 'NOTIFY', token: 't' },
      snapshot: { status: 'active', value: 'idle', context: { password: 'p' }, children: { a: { system: {} } }, input: { hs_token: 'h' } },
    } as unknown as StatelyInspectionEvent;
    const out = sanitiseInspectionEvent(event) as unknown as Record<string, Record<string, unknown>>;
    assert.deepEqual(out['snapshot'], { status: 'active', value: 'idle', context: { password: REDACTED } });
    assert.deepEqual(out['event'], { type: 'NOTIFY', token: REDACTED });
  });

  test('the filter keeps appservices, destinations, pushers, chosen user streams and the root registration', () => {
    const root = { id: 'supervisor' };
    const ref = (id: string, parent: object = root) => ({ id, _parent: parent });
    const keep = createInspectionFilter({ users: ['@a:hs'] });
    const ev = (type: string, actorRef: object) => ({ type, actorRef }) as never;
    assert.equal(keep(ev('@xstate.actor', root)), true);
    assert.equal(keep(ev('@xstate.snapshot', root)), false);
    assert.equal(keep(ev('@xstate.snapshot', ref('as:irc'))), true);
    assert.equal(keep(ev('@xstate.event', ref('dest:remote.example'))), true);
    assert.equal(keep(ev('@xstate.snapshot', ref('pusher:p1'))), true);
    assert.equal(keep(ev('@xstate.snapshot', ref('takeTransaction', ref('as:irc')))), true);
    assert.equal(keep(ev('@xstate.snapshot', ref('user:@a:hs'))), true);
    assert.equal(keep(ev('@xstate.snapshot', ref('user:@b:hs'))), false);
    assert.equal(keep(ev('@xstate.microstep', ref('as:irc'))), false);
    assert.equal(keep(ev('@xstate.snapshot', ref('something'))), false);
  });
});

describe('the inspector in a running server', () => {
  test('inspector.enabled starts the relay on 127.0.0.1 and the supervisor registers with it', async (t) => {
    const server = await startTestServer(t, { config: { inspector: { enabled: true, port: 0, users: [] } } });
    const relay = server.running.inspector;
    assert.ok(relay);
    assert.match(relay.url, /^ws:\/\/127\.0\.0\.1:/);
    const client = new WebSocket(relay.url);
    t.after(() => client.terminate());
    // The relay replays what came before the client connected.
    const first = await new Promise<Message>((resolve) => client.once('message', (data) => resolve(JSON.parse(data.toString()) as Message)));
    assert.equal(first.type, '@xstate.actor');
    assert.equal(first.name, 'supervisor');
  });

  test('without it, nothing listens', async (t) => {
    const server = await startTestServer(t);
    assert.equal(server.running.inspector, undefined);
  });
});

describe('troupe start --inspect', () => {
  test('turns the inspector on from the command line and the relay serves the actors', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'troupe-inspect-'));
    const config = path.join(dir, 'troupe.yaml');
    // Port 0 for both: the logs say where they are.
    await writeFile(config, `server_name: test.local\ndata_directory: ${dir}\nlisteners: [{ port: 0 }]\ninspector: { port: 0 }\n`);
    const daemon = runCli(['start', '--inspect', '--config', config], { cwd: dir });
    t.after(async () => {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    });
    const line = await daemon.waitForLog((l) => l['msg'] === 'XState inspector relay listening', 60_000);
    const pageUrl = String(line['url']);
    assert.match(pageUrl, /^http:\/\/127\.0\.0\.1:[0-9]+\/$/);
    const client = new WebSocket(pageUrl.replace(/^http/, 'ws').replace(/\/$/, ''));
    t.after(() => client.terminate());
    const first = await new Promise<Message>((resolve) => client.once('message', (data) => resolve(JSON.parse(data.toString()) as Message)));
    assert.equal(first.type, '@xstate.actor');
    assert.equal(first.name, 'supervisor');
    daemon.child.kill('SIGTERM');
    assert.equal(await daemon.exited, 0);
  });
});
