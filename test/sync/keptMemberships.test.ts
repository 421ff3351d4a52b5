// A user's membership rows and history, and their rooms' history_visibility, are kept between their syncs
// (SyncReads.userRooms) and read again only when the user's rooms version moved: every change of a local user's
// membership (an event of theirs, a room forgotten) and of any room's history_visibility must move it, or a sync would
// answer from rooms as they were. Over real HTTP, counting the statements that read the rows.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { forEachBackend, type BackendName } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';
import { V3, call, createRoom, enc, invite, join, newUsers, sendMessage } from '../rooms/client.ts';
import { bodiesOf, joinedRoom, setState, statementCounter, sync } from './client.ts';

/** The start of the statement that reads users' local membership rows (SyncStore.localMemberships). */
const MEMBERSHIP_ROWS = 'FROM local_memberships m JOIN rooms r';

async function setUp(t: TestContext, backend: BackendName) {
  const counter = statementCounter(MEMBERSHIP_ROWS);
  const s = await startTestServer(t, { backend, wrapDatabase: counter.wrap });
  return { s, reads: counter.count };
}

forEachBackend('membership rows kept between syncs', (backend) => {
  test('read again exactly when the user joins, is invited, leaves or forgets a room, or a history_visibility changes', async (t) => {
    const { s, reads } = await setUp(t, backend.name);
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const first = await createRoom(s, alice, { preset: 'public_chat' });
    const second = await createRoom(s, alice, { preset: 'private_chat' });
    await join(s, bob, first);
    let since = (await sync(s, bob)).next_batch;

    // Nothing of bob's changed: his rows are not read again, and the message still arrives.
    await sendMessage(s, alice, first, 'hello');
    let before = reads();
    let body = await sync(s, bob, { since });
    assert.equal(reads() - before, 0, 'no membership rows read');
    assert.deepEqual(bodiesOf(joinedRoom(body, first).timeline.events), ['hello']);
    since = body.next_batch;

    // Invited to another room: read again, and the invite is there.
    await invite(s, alice, second, bob.userId);
    before = reads();
    body = await sync(s, bob, { since });
    assert.ok(reads() - before > 0, 'rows read after the invite');
    assert.ok(body.rooms.invite[second], 'the invite is in rooms.invite');
    since = body.next_batch;

    // Joins it: the room moves to rooms.join.
    await join(s, bob, second);
    body = await sync(s, bob, { since });
    assert.ok(body.rooms.join[second], 'the joined room is in rooms.join');
    since = body.next_batch;

    // Another history_visibility: read again (it decides what the user may see), and the change is in the state.
    await sendMessage(s, alice, second, 'before');
    body = await sync(s, bob, { since });
    since = body.next_batch;
    await setState(s, alice, second, 'm.room.history_visibility', { history_visibility: 'joined' });
    before = reads();
    body = await sync(s, bob, { since });
    assert.ok(reads() - before > 0, 'rows read after the history_visibility change');
    assert.deepEqual(
      joinedRoom(body, second).timeline.events.map((e) => e.content['history_visibility']),
      ['joined'],
      'the change is in the timeline',
    );
    since = body.next_batch;

    // Leaves the first room: it moves to rooms.leave, and a message after is not his.
    await call(s, 'POST', `${V3}/rooms/${enc(first)}/leave`, bob, {});
    await sendMessage(s, alice, first, 'after bob left');
    body = await sync(s, bob, { since });
    assert.ok(body.rooms.leave[first], 'the left room is in rooms.leave');
    assert.deepEqual(bodiesOf(body.rooms.leave[first]?.timeline.events ?? []), [], 'nothing sent after the leave');
    assert.equal(body.rooms.join[first], undefined);

    // Forgetting writes no event and moves no stream: an archived room still goes from an include_leave sync.
    const includeLeave = { filter: { room: { include_leave: true } } };
    assert.ok((await sync(s, bob, includeLeave)).rooms.leave[first], 'archived before forgetting');
    await call(s, 'POST', `${V3}/rooms/${enc(first)}/forget`, bob, {});
    before = reads();
    assert.equal((await sync(s, bob, includeLeave)).rooms.leave[first], undefined, 'a forgotten room is not archived');
    assert.ok(reads() - before > 0, 'rows read after forgetting');
  });
});
