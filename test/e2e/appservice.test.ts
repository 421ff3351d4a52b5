// An application service built on matrix-org's `matrix-appservice` (the AppService transport that
// matrix-appservice-bridge is built on) on a real port, against a real listening Troupe, on each backend. The
// service's registration is written by the library's own AppServiceRegistration; matrix-js-sdk clients use the
// as_token (and `user_id` through the SDK's queryParams) to act as the service's users. The service registers a
// namespaced user, the user joins a room, the service receives the room's events through transactions, and it
// sends as its users.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AppService, AppServiceRegistration } from 'matrix-appservice';
import { createClient, Direction, Method, type MatrixClient } from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, getChild: () => silent };
const sdkLoglevel = sdkLogger as unknown as { methodFactory: () => () => void; rebuild(): void };
sdkLoglevel.methodFactory = () => () => undefined;
sdkLoglevel.rebuild();

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

forEachBackend('matrix-appservice against Troupe', (backend) => {
  test('registers a namespaced user, joins a room, receives its events by transaction, sends as its users', async (t) => {
    const port = await freePort();
    const registration = new AppServiceRegistration(`http://127.0.0.1:${port}`);
    registration.setId('e2e-bridge');
    registration.setHomeserverToken(AppServiceRegistration.generateToken());
    registration.setAppServiceToken(AppServiceRegistration.generateToken());
    registration.setSenderLocalpart('e2ebot');
    registration.setRateLimited(false);
    registration.addRegexPattern('users', '@e2e_.*', true);
    registration.addRegexPattern('aliases', '#e2e_.*', true);
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'troupe-e2e-as-')), 'registration.yaml');
    registration.outputAsYaml(file);

    const appService = new AppService({ homeserverToken: registration.getHomeserverToken() ?? '' });
    const received: Record<string, unknown>[] = [];
    appService.on('event', (event) => received.push(event));
    await appService.listen(port, '127.0.0.1', 10);
    t.after(() => appService.close());

    const server = await startTestServer(t, { backend: backend.name, config: { app_service_config_files: [file] } });
    const baseUrl = server.url;
    const asToken = registration.getAppServiceToken() ?? '';
    const bridgedId = `@e2e_alice:${server.serverName}`;
    const sender = createClient({ baseUrl, accessToken: asToken, userId: `@e2ebot:${server.serverName}`, logger: silent });
    // registerRequest sends no token; the service's registration is an authenticated request.
    const registered = await sender.http.authedRequest<{ user_id: string }>(Method.Post, '/register', undefined, {
      type: 'm.login.application_service',
      username: 'e2e_alice',
      inhibit_login: true,
    });
    assert.equal(registered.user_id, bridgedId);

    // The SDK appends user_id to every request: the service acting as its user.
    const bridged: MatrixClient = createClient({ baseUrl, accessToken: asToken, userId: bridgedId, queryParams: { user_id: bridgedId }, logger: silent });
    assert.equal((await bridged.whoami()).user_id, bridgedId);
    await bridged.setDisplayName('Alice (bridged)');

    const human = await server.createUser('bob');
    const bob = createClient({ baseUrl, accessToken: human.accessToken, userId: human.userId, deviceId: human.deviceId, logger: silent });
    const { room_id: roomId } = await bob.createRoom({ preset: 'public_chat' as never, name: 'bridged room' });
    await bridged.joinRoom(roomId);
    const fromBob = await bob.sendTextMessage(roomId, 'hello bridge');
    await until(() => received.some((e) => e['event_id'] === fromBob.event_id), "bob's message at the service");
    const message = received.find((e) => e['event_id'] === fromBob.event_id) ?? {};
    assert.equal(message['room_id'], roomId);
    assert.equal(message['sender'], human.userId);
    assert.deepEqual(message['content'], { msgtype: 'm.text', body: 'hello bridge' });
    assert.ok(received.some((e) => e['type'] === 'm.room.member' && e['state_key'] === bridgedId), 'the bridged join');

    // Sending as the bridged user; bob reads it back.
    const fromAlice = await bridged.sendTextMessage(roomId, 'hello from the other network');
    const page = await bob.createMessagesRequest(roomId, null, 10, Direction.Backward);
    const seen = page.chunk.find((e) => e.event_id === fromAlice.event_id);
    assert.equal(seen?.sender, bridgedId);
    assert.equal((seen?.content as { body?: string }).body, 'hello from the other network');
    // Its own user's events reach the service too (it is in the users namespace).
    await until(() => received.some((e) => e['event_id'] === fromAlice.event_id), "the bridged user's message at the service");
    // Each event once, though matrix-appservice would have passed on any repeat of a txnId.
    const ids = received.map((e) => e['event_id']);
    assert.equal(new Set(ids).size, ids.length);
  });
});
