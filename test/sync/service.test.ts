// The /sync long poll (src/sync/service.ts): a wake-up by a stream the filter shows nothing of (presence filtered out,
// typing and receipts with the ephemeral section filtered out) is not answered and costs no computed response, while
// the eventual next_batch is past it; initial and full_state syncs have their own limiter, so one in progress does not
// hold back incremental responses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { StreamToken } from '../../src/streams/token.ts';
import type { StreamName } from '../../src/streams/names.ts';
import type { Filter } from '../../src/sync/filter.ts';
import { SyncService, type SyncRequest } from '../../src/sync/service.ts';
import type { SyncUserData } from '../../src/sync/userData.ts';
import { V3, call, createRoom, enc, join, newUsers, sendMessage, suiteServer } from '../rooms/client.ts';
import { isWaiting, joinedRoom, sync, until, type SyncBody } from './client.ts';

const NO_PRESENCE: Filter = { presence: { not_types: ['*'] } };
const NO_EPHEMERAL: Filter = { room: { ephemeral: { not_types: ['*'] } } };

/**
 * Runs `change` while `user`'s long poll waits, and returns once that poll was woken by it and is waiting again
 * (woken: the registry counted a wake-up; only `user` is waiting in these tests). Returns the stream's new position.
 */
async function wakeWithoutAnswer(s: TestServer, user: TestUser, stream: StreamName, change: () => Promise<unknown>): Promise<number> {
  await until(() => isWaiting(s, user));
  const registry = s.running.actors.userStreams;
  const before = registry.wakeUps;
  await change();
  await until(() => registry.wakeUps > before && isWaiting(s, user));
  return s.running.actors.notifier.currentToken().get(stream);
}

const setPresence = (s: TestServer, user: TestUser, presence: string) =>
  call(s, 'PUT', `${V3}/presence/${enc(user.userId)}/status`, user, { presence });
const setTyping = (s: TestServer, user: TestUser, roomId: string) =>
  call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/typing/${enc(user.userId)}`, user, { typing: true, timeout: 30000 });
const sendReceipt = (s: TestServer, user: TestUser, roomId: string, eventId: string) =>
  call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, user, {});

const positionOf = (body: SyncBody, stream: StreamName) => StreamToken.parse(body.next_batch).get(stream);

/** Alice and Bob in one room; Bob has synced once with `filter` and holds its next_batch. */
async function twoMembers(s: TestServer, filter: Filter) {
  const [alice, bob] = await newUsers(s, 'alice', 'bob');
  const roomId = await createRoom(s, alice, { preset: 'public_chat' });
  await join(s, bob, roomId);
  const initial = await sync(s, bob, { filter });
  return { alice, bob, roomId, since: initial.next_batch };
}

/** The SyncUserData of the server, with each computed response (collect) and each computation's start (ignoredUsers, asked first) recorded. */
function recorded(inner: SyncUserData, gates: Map<string, Promise<void>> = new Map()) {
  const collected: string[] = [];
  const computing: string[] = [];
  const synced: string[] = [];
  const userData: SyncUserData = {
    async syncing(userId, presence) {
      await inner.syncing(userId, presence);
      synced.push(userId);
    },
    collect(request) {
      collected.push(request.userId);
      return inner.collect(request);
    },
    async ignoredUsers(userId) {
      computing.push(userId);
      await gates.get(userId);
      return inner.ignoredUsers(userId);
    },
    readUpTo: (userId, roomIds) => inner.readUpTo(userId, roomIds),
  };
  return { userData, collected, computing, synced };
}

function request(user: TestUser, fields: Partial<SyncRequest>): SyncRequest {
  return { userId: user.userId, deviceId: user.deviceId, filter: {}, fullState: false, timeoutMs: 0, setPresence: 'online', ...fields };
}

forEachBackend('/sync long polls and hidden streams', (backend) => {
  const server = suiteServer(backend.name);

  test('presence filtered out: a member coming and going does not answer the poll; a later message does, past it', async () => {
    const s = server();
    const { alice, bob, roomId, since } = await twoMembers(s, NO_PRESENCE);
    const poll = sync(s, bob, { since, filter: NO_PRESENCE, timeout: 30000 });
    const presenceAt = await wakeWithoutAnswer(s, bob, 'presence', () => setPresence(s, alice, 'unavailable'));
    await wakeWithoutAnswer(s, bob, 'presence', () => setPresence(s, alice, 'online'));
    await sendMessage(s, alice, roomId, 'after the presence changes');
    const body = await poll;
    assert.deepEqual(
      joinedRoom(body, roomId).timeline.events.map((e) => e.content['body']),
      ['after the presence changes'],
    );
    assert.deepEqual(body.presence.events, []);
    assert.ok(positionOf(body, 'presence') > presenceAt, 'next_batch is past both presence changes');
  });

  test('presence filtered out: a poll that times out after a skipped wake-up is empty and its next_batch is past it', async () => {
    const s = server();
    const { alice, bob, since } = await twoMembers(s, NO_PRESENCE);
    const poll = sync(s, bob, { since, filter: NO_PRESENCE, timeout: 3000 });
    const presenceAt = await wakeWithoutAnswer(s, bob, 'presence', () => setPresence(s, alice, 'unavailable'));
    const body = await poll;
    assert.deepEqual(body.rooms.join, {});
    assert.deepEqual(body.presence.events, []);
    assert.equal(positionOf(body, 'presence'), presenceAt);
    assert.equal(positionOf(body, 'events'), StreamToken.parse(since).get('events'));
    // From there, a client that now lets presence through no longer hears of that change.
    const next = await sync(s, bob, { since: body.next_batch, timeout: 0 });
    assert.deepEqual(next.presence.events, []);
  });

  test('presence allowed: the poll is answered with the presence change', async () => {
    const s = server();
    const { alice, bob, since } = await twoMembers(s, {});
    const poll = sync(s, bob, { since, timeout: 30000 });
    await until(() => isWaiting(s, bob));
    await setPresence(s, alice, 'unavailable');
    const body = await poll;
    const events = body.presence.events as { sender: string; content: { presence: string } }[];
    assert.deepEqual(
      events.filter((e) => e.sender === alice.userId).map((e) => e.content.presence),
      ['unavailable'],
    );
  });

  test('ephemeral filtered out: typing and a read receipt do not answer the poll; a later message does, past them', async () => {
    const s = server();
    const { alice, bob, roomId, since } = await twoMembers(s, NO_EPHEMERAL);
    const first = await sendMessage(s, alice, roomId, 'first');
    const caughtUp = await sync(s, bob, { since, filter: NO_EPHEMERAL });
    const poll = sync(s, bob, { since: caughtUp.next_batch, filter: NO_EPHEMERAL, timeout: 30000 });
    const typingAt = await wakeWithoutAnswer(s, bob, 'typing', () => setTyping(s, alice, roomId));
    const receiptAt = await wakeWithoutAnswer(s, bob, 'receipts', () => sendReceipt(s, alice, roomId, first));
    await sendMessage(s, alice, roomId, 'second');
    const body = await poll;
    const room = joinedRoom(body, roomId);
    assert.deepEqual(room.timeline.events.map((e) => e.content['body']), ['second']);
    assert.deepEqual(room.ephemeral.events, []);
    assert.ok(positionOf(body, 'typing') >= typingAt);
    assert.ok(positionOf(body, 'receipts') >= receiptAt);
  });

  test('ephemeral allowed: typing answers the poll', async () => {
    const s = server();
    const { alice, bob, roomId, since } = await twoMembers(s, {});
    const poll = sync(s, bob, { since, timeout: 30000 });
    await until(() => isWaiting(s, bob));
    await setTyping(s, alice, roomId);
    const body = await poll;
    const typing = joinedRoom(body, roomId).ephemeral.events.find((e) => e.type === 'm.typing');
    assert.deepEqual(typing?.content, { user_ids: [alice.userId] });
  });

  test('a wake-up by a hidden stream computes no response; one by a visible stream does', async () => {
    const s = server();
    const { alice, bob, roomId, since } = await twoMembers(s, NO_PRESENCE);
    const rec = recorded(s.running.userData);
    const service = new SyncService({ db: s.running.db, notifier: s.running.actors.notifier, userData: rec.userData, now: () => Date.now() });
    const poll = service.sync(request(bob, { since: StreamToken.parse(since), filter: NO_PRESENCE, timeoutMs: 30000 }));
    // From where every stream is, the poll waits before computing anything.
    await until(() => isWaiting(s, bob));
    assert.equal(rec.collected.length, 0);
    const presenceAt = await wakeWithoutAnswer(s, bob, 'presence', () => setPresence(s, alice, 'unavailable'));
    assert.equal(rec.collected.length, 0, 'the presence wake-up computed nothing');
    // Typing is not filtered out: that wake-up is computed and answered.
    await setTyping(s, alice, roomId);
    const result = await poll;
    assert.equal(rec.collected.length, 1);
    assert.equal(result.empty, false);
    const body = result.body as unknown as SyncBody;
    assert.deepEqual(joinedRoom(body, roomId).ephemeral.events.map((e) => e.type), ['m.typing']);
    assert.deepEqual(body.presence.events, []);
    assert.ok(result.nextBatch.get('presence') >= presenceAt);
  });

  test('a sync whose filter hides presence does not read it at all; one that shows it does', async () => {
    const s = server();
    const { alice, bob } = await twoMembers(s, NO_PRESENCE);
    await setPresence(s, alice, 'online');
    const presence = s.running.userData.presence;
    const original = presence.collect.bind(presence);
    let reads = 0;
    presence.collect = (...args: Parameters<typeof original>) => {
      reads++;
      return original(...args);
    };
    try {
      const hidden = await sync(s, bob, { filter: NO_PRESENCE });
      assert.equal(reads, 0, 'an initial sync with presence filtered out reads none');
      assert.deepEqual(hidden.presence.events, []);
      const shown = await sync(s, bob, {});
      assert.equal(reads, 1);
      assert.ok(shown.presence.events.some((e) => (e as { sender?: string }).sender === alice.userId), 'the same sync without the filter carries it');
    } finally {
      presence.collect = original;
    }
  });

  // A regression deadlocks (the incremental sync waits behind the gated one): the timeout turns that into a failure.
  test('an initial or full_state sync in progress does not hold back incremental ones, and waits behind its own kind', { timeout: 60_000 }, async () => {
    const s = server();
    const [alice, heavy, light, fullState] = await newUsers(s, 'alice', 'heavy', 'light', 'full');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    for (const user of [heavy, light, fullState]) await join(s, user, roomId);
    const since = StreamToken.parse((await sync(s, light)).next_batch);
    await sendMessage(s, alice, roomId, 'for the incremental sync');

    let open = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const rec = recorded(s.running.userData, new Map([[heavy.userId, gate]]));
    const service = new SyncService({
      db: s.running.db,
      notifier: s.running.actors.notifier,
      userData: rec.userData,
      now: () => Date.now(),
      initialConcurrency: 1,
    });
    // The initial sync holds the only slot for its kind until the gate opens.
    const initial = service.sync(request(heavy, {}));
    await until(() => rec.computing.includes(heavy.userId));
    // A full_state sync queues behind it: its presence is set, and it has not started computing a turn later.
    const full = service.sync(request(fullState, { since, fullState: true }));
    await until(() => rec.synced.includes(fullState.userId));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(rec.computing, [heavy.userId]);

    const incremental = await service.sync(request(light, { since }));
    const body = incremental.body as unknown as SyncBody;
    assert.deepEqual(
      joinedRoom(body, roomId).timeline.events.map((e) => e.content['body']),
      ['for the incremental sync'],
    );
    assert.deepEqual(rec.computing, [heavy.userId, light.userId], 'the full_state sync still waits');

    open();
    const [initialResult, fullResult] = await Promise.all([initial, full]);
    assert.deepEqual(rec.computing, [heavy.userId, light.userId, fullState.userId]);
    assert.ok(joinedRoom(initialResult.body as unknown as SyncBody, roomId));
    assert.ok(joinedRoom(fullResult.body as unknown as SyncBody, roomId).state.events.length > 0);
  });
});
