// matrix-js-sdk against a real listening Troupe, on each backend: two users register (user-interactive auth with
// m.login.dummy), log in and run the SDK's own sync loop; they create a room, invite, join, exchange messages and a
// redaction, type, send read receipts, change account data and send to-device messages, and each client must see
// the other's doing through its sync.
//
// The SDK will not start its sync loop without GET /pushrules/ (it retries that request forever); it reads the
// server's rules like everything else. Nothing is stubbed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ClientEvent,
  createClient,
  MatrixError,
  RoomEvent,
  RoomMemberEvent,
  SyncState,
  type MatrixClient,
  type MatrixEvent,
} from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, getChild: () => silent };
// Some SDK modules log through its global loglevel logger; its child loggers copy this factory when created.
const sdkLoglevel = sdkLogger as unknown as { methodFactory: () => () => void; rebuild(): void };
sdkLoglevel.methodFactory = () => () => undefined;
sdkLoglevel.rebuild();

// The SDK arms a timer of pollTimeout + 80 s for every /sync request and never clears it; such timers must not keep
// this test's process alive for minutes after the clients stopped.
const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const timer = realSetTimeout(fn, ms, ...args);
  if (ms !== undefined && ms >= 80_000) timer.unref();
  return timer;
}) as typeof setTimeout;

interface Account {
  userId: string;
  deviceId: string;
  accessToken: string;
}

async function register(baseUrl: string, username: string, password: string): Promise<void> {
  const anonymous = createClient({ baseUrl, logger: silent });
  let session: string | undefined;
  try {
    await anonymous.registerRequest({ username, password });
    assert.fail('registration without auth must ask for user-interactive auth');
  } catch (error) {
    assert.ok(error instanceof MatrixError && error.httpStatus === 401, `expected a 401 UIA answer, got ${String(error)}`);
    session = (error.data as { session?: string }).session;
  }
  await anonymous.registerRequest({ username, password, auth: { type: 'm.login.dummy', ...(session !== undefined ? { session } : {}) } });
}

async function logIn(baseUrl: string, username: string, password: string): Promise<Account> {
  const anonymous = createClient({ baseUrl, logger: silent });
  const res = await anonymous.loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password });
  return { userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token };
}

async function startSyncing(baseUrl: string, account: Account): Promise<MatrixClient> {
  const client = createClient({ baseUrl, ...account, logger: silent });
  const prepared = new Promise<void>((resolve, reject) => {
    const onSync = (state: SyncState) => {
      if (state === SyncState.Prepared) {
        client.off(ClientEvent.Sync, onSync);
        resolve();
      } else if (state === SyncState.Error) {
        client.off(ClientEvent.Sync, onSync);
        reject(new Error('the first sync failed'));
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
  assert.equal(client.pushRules?.global.override?.[0]?.rule_id, '.m.rule.master', 'the SDK holds the server-default push rules');
  return client;
}

/** Resolves once `check` holds, re-checking on every event the client emits; fails after `ms`. */
function waitFor(client: MatrixClient, what: string, check: () => boolean, ms = 10000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const events = [ClientEvent.Sync, ClientEvent.Room, ClientEvent.AccountData, ClientEvent.ToDeviceEvent, RoomEvent.Timeline, RoomEvent.Receipt, RoomEvent.MyMembership, RoomEvent.Redaction, RoomMemberEvent.Typing];
    const done = (error?: Error) => {
      clearTimeout(timer);
      for (const e of events) client.off(e as ClientEvent, listener);
      if (error) reject(error);
      else resolve();
    };
    const listener = () => {
      if (check()) done();
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), ms);
    for (const e of events) client.on(e as ClientEvent, listener);
  });
}

/** The bodies of the room's messages in the client's live timeline; a redacted one reads `(redacted)`. */
const bodies = (client: MatrixClient, roomId: string) =>
  (client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [])
    .filter((e) => e.getType() === 'm.room.message')
    .map((e) => (e.isRedacted() ? '(redacted)' : e.getContent()['body']));

forEachBackend('matrix-js-sdk end to end', (backend) => {
  test('two clients talk through their sync loops: rooms, messages, redactions, typing, receipts, account data, to-device', async (t) => {
    const server = await startTestServer(t, { backend: backend.name });
    const baseUrl = server.url;
    const clients: MatrixClient[] = [];
    try {
    await register(baseUrl, 'alice', 'alice-password');
    await register(baseUrl, 'bob', 'bob-password');
    const alice = await startSyncing(baseUrl, await logIn(baseUrl, 'alice', 'alice-password'));
    clients.push(alice);
    const bobAccount = await logIn(baseUrl, 'bob', 'bob-password');
    const bob = await startSyncing(baseUrl, bobAccount);
    clients.push(bob);
    const aliceId = alice.getUserId() as string;
    const bobId = bob.getUserId() as string;

    // A room, an invite, a join.
    const { room_id: roomId } = await alice.createRoom({ name: 'End to end' });
    await waitFor(alice, 'alice in her room', () => alice.getRoom(roomId)?.getMyMembership() === 'join');
    assert.equal(alice.getRoom(roomId)?.name, 'End to end');
    await alice.invite(roomId, bobId);
    await waitFor(bob, 'the invite', () => bob.getRoom(roomId)?.getMyMembership() === 'invite');
    assert.equal(bob.getRoom(roomId)?.name, 'End to end', 'the invite carries the room name (stripped state)');
    await bob.joinRoom(roomId);
    await waitFor(bob, 'bob joined', () => bob.getRoom(roomId)?.getMyMembership() === 'join');
    await waitFor(alice, 'alice sees bob join', () => alice.getRoom(roomId)?.getMember(bobId)?.membership === 'join');
    assert.equal(bob.getRoom(roomId)?.getJoinedMemberCount(), 2);

    // Messages both ways.
    const { event_id: hello } = await alice.sendTextMessage(roomId, 'hello bob');
    await waitFor(bob, 'alice\'s message', () => bodies(bob, roomId).includes('hello bob'));
    await bob.sendTextMessage(roomId, 'hi alice');
    await waitFor(alice, 'bob\'s message', () => bodies(alice, roomId).includes('hi alice'));

    // A redaction: bob's copy loses its content.
    await alice.redactEvent(roomId, hello);
    const redacted = () => bob.getRoom(roomId)?.findEventById(hello);
    await waitFor(bob, 'the redaction', () => redacted()?.isRedacted() === true);
    assert.deepEqual(redacted()?.getContent(), {});

    // Typing, and it stopping.
    await alice.sendTyping(roomId, true, 20000);
    await waitFor(bob, 'alice typing', () => bob.getRoom(roomId)?.getMember(aliceId)?.typing === true);
    await alice.sendTyping(roomId, false, 0);
    await waitFor(bob, 'alice stopped typing', () => bob.getRoom(roomId)?.getMember(aliceId)?.typing === false);

    // A read receipt from bob on alice's latest message.
    const { event_id: latest } = await alice.sendTextMessage(roomId, 'did you read this?');
    await waitFor(bob, 'the latest message', () => bob.getRoom(roomId)?.findEventById(latest) !== undefined);
    await bob.sendReadReceipt(bob.getRoom(roomId)?.findEventById(latest) as MatrixEvent);
    await waitFor(alice, 'bob\'s receipt', () => alice.getRoom(roomId)?.getEventReadUpTo(bobId) === latest);

    // Account data: alice's second device sees what her first one set, globally and for the room.
    const aliceAgain = await startSyncing(baseUrl, await logIn(baseUrl, 'alice', 'alice-password'));
    clients.push(aliceAgain);
    await alice.setAccountData('org.example.settings' as never, { theme: 'dark' } as never);
    await waitFor(aliceAgain, 'global account data', () => aliceAgain.getAccountData('org.example.settings' as never)?.getContent()['theme'] === 'dark');
    await alice.setRoomAccountData(roomId, 'org.example.room' as never, { pinned: true } as never);
    await waitFor(aliceAgain, 'room account data', () => aliceAgain.getRoom(roomId)?.getAccountData('org.example.room')?.getContent()['pinned'] === true);
    assert.equal(bob.getAccountData('org.example.settings' as never), undefined, 'account data is private');

    // To-device: alice to bob's device, delivered once through his sync.
    const received: MatrixEvent[] = [];
    bob.on(ClientEvent.ToDeviceEvent, (event) => {
      if (event.getType() === 'org.example.ping') received.push(event);
    });
    await alice.sendToDevice('org.example.ping', new Map([[bobId, new Map([[bobAccount.deviceId, { n: 1 }]])]]));
    await waitFor(bob, 'the to-device message', () => received.length > 0);
    assert.equal(received[0]?.getSender(), aliceId);
    assert.deepEqual(received[0]?.getContent(), { n: 1 });
    await bob.sendTextMessage(roomId, 'got it');
    await waitFor(alice, 'bob\'s reply', () => bodies(alice, roomId).includes('got it'));
    assert.equal(received.length, 1, 'delivered exactly once');

    // What each side ended with.
    const expected = ['(redacted)', 'hi alice', 'did you read this?', 'got it'];
    assert.deepEqual(bodies(bob, roomId), expected);
    assert.deepEqual(bodies(alice, roomId), expected);
    } finally {
      // Before the server closes (its t.after), so that no long poll is left hanging.
      for (const c of clients) c.stopClient();
    }
  });
});
