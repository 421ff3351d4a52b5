// Members asking for the same room after the same position share that room's part of their responses (the timeline, the
// state delta and what formatting them reads: src/sync/shared.ts), computed for the first of them. What is each
// member's own still is: the sending device's transaction ids, prev_content only where that member may see the replaced
// event, the events of the users they ignore, their filter. The server's clock is simulated here, to see the part kept
// for SHARED_PART_TTL_MS and computed afresh after.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { SHARED_PART_TTL_MS } from '../../src/sync/shared.ts';
import { SyncService, type SyncRequest } from '../../src/sync/service.ts';
import { forEachBackend, type BackendName } from '../helpers/database.ts';
import { startTestServer, type TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, join, newUsers, type ClientEvent } from '../rooms/client.ts';
import { setState, statementCounter } from './client.ts';

/** The start of the statement that reads rooms' newest events (SyncStore.newestEvents): one per timeline read. */
const NEWEST_EVENTS = 'WITH ORDINALITY AS k(room_id, after, up_to, k)';

async function setUp(t: TestContext, backend: BackendName) {
  const timelineReads = statementCounter(NEWEST_EVENTS);
  const s = await startTestServer(t, { backend, wrapDatabase: timelineReads.wrap });
  // Ahead of the real clock the events are stamped with, so that their ages are positive.
  let now = Date.now() + 60_000;
  const clock = { advance: (ms: number) => (now += ms) };
  const service = new SyncService({ db: s.running.db, notifier: s.running.actors.notifier, userData: s.running.userData, now: () => now });
  const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
  const roomId = await createRoom(s, alice, { preset: 'public_chat' });
  await setState(s, alice, roomId, 'm.room.history_visibility', { history_visibility: 'joined' });
  // Set before bob and carol join: with history visible to joined members only, they may not see it.
  await setState(s, alice, roomId, 'm.room.topic', { topic: 'one' });
  await join(s, bob, roomId);
  await join(s, carol, roomId);
  const since = s.running.actors.notifier.currentToken();
  /** The timeline of `user`'s incremental sync from `since` (computed by `service`), and how many timeline reads it made. */
  const timelineOf = async (user: TestUser, filter: SyncRequest['filter'] = {}) => {
    const before = timelineReads.count();
    const result = await service.sync({ userId: user.userId, deviceId: user.deviceId, since, filter, fullState: false, timeoutMs: 0, setPresence: 'online' });
    const rooms = (result.body['rooms'] as { join: Record<string, { timeline: { events: ClientEvent[] } }> }).join;
    return { events: rooms[roomId]?.timeline.events ?? [], reads: timelineReads.count() - before };
  };
  const send = async (user: TestUser, txnId: string, body: string) =>
    (await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/${txnId}`, user, { msgtype: 'm.text', body }))['event_id'] as string;
  return { s, clock, alice, bob, carol, roomId, timelineOf, send };
}

const messageTxnIds = (events: readonly ClientEvent[]) =>
  Object.fromEntries(events.filter((e) => e.type === 'm.room.message').map((e) => [e.content['body'], e.unsigned?.['transaction_id']]));
const topicPrevContent = (events: readonly ClientEvent[]) => events.find((e) => e.type === 'm.room.topic')?.unsigned?.['prev_content'];

forEachBackend('room parts shared by members syncing from the same position', (backend) => {
  test('the second member reads no timeline, and still gets their own txn ids and prev_content', async (t) => {
    const { s, clock, alice, bob, roomId, timelineOf, send } = await setUp(t, backend.name);
    await send(alice, 'alice-txn', 'from alice');
    await send(bob, 'bob-txn', 'from bob');
    await setState(s, alice, roomId, 'm.room.topic', { topic: 'two' });

    const a = await timelineOf(alice);
    const b = await timelineOf(bob);
    assert.ok(a.reads > 0, "alice's sync read the timeline");
    assert.equal(b.reads, 0, "bob's sync used the part computed for alice's");
    assert.deepEqual(messageTxnIds(a.events), { 'from alice': 'alice-txn', 'from bob': undefined });
    assert.deepEqual(messageTxnIds(b.events), { 'from alice': undefined, 'from bob': 'bob-txn' });
    assert.deepEqual(topicPrevContent(a.events), { topic: 'one' }, 'alice saw the topic it replaced');
    assert.equal(topicPrevContent(b.events), undefined, 'bob joined after the replaced topic, which only joined members see');

    // Kept for a short while only: past it, the part is computed again.
    clock.advance(SHARED_PART_TTL_MS + 1);
    const again = await timelineOf(bob);
    assert.ok(again.reads > 0, 'read again once the shared part expired');
    const withoutAge = (events: readonly ClientEvent[]) => events.map((e) => ({ ...e, unsigned: { ...e.unsigned, age: undefined } }));
    assert.deepEqual(withoutAge(again.events), withoutAge(b.events));
    // Each response's ages are its own, although the events were read once.
    assert.deepEqual(
      again.events.map((e) => e.unsigned?.['age']),
      b.events.map((e) => (e.unsigned?.['age'] as number) + SHARED_PART_TTL_MS + 1),
    );
  });

  test('members with other ignored users or another filter get a part of their own', async (t) => {
    const { s, alice, bob, carol, timelineOf, send } = await setUp(t, backend.name);
    await call(s, 'PUT', `${V3}/user/${enc(carol.userId)}/account_data/m.ignored_user_list`, carol, { ignored_users: { [alice.userId]: {} } });
    await send(alice, 'txn1', 'from alice');
    await send(bob, 'txn2', 'from bob');

    const b = await timelineOf(bob);
    const c = await timelineOf(carol);
    const onlyTopics = await timelineOf(alice, { room: { timeline: { types: ['m.room.topic'] } } });
    assert.deepEqual(Object.keys(messageTxnIds(b.events)), ['from alice', 'from bob']);
    assert.ok(c.reads > 0, "carol's ignored users make her part her own");
    assert.deepEqual(Object.keys(messageTxnIds(c.events)), ['from bob'], 'carol ignores alice');
    assert.ok(onlyTopics.reads > 0, 'another filter, another part');
    assert.deepEqual(onlyTopics.events, []);
  });
});
