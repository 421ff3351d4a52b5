// The room writer and the actor system together, over real HTTP: a user waiting on the notifier wakes when an event
// of a room they are joined to commits, an invitee wakes for their invite, and someone who joined later is routed
// the room's next events (loadRoomsForUser and membershipChanged come from the rooms store).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, createRoom, invite, join, newUser, sendMessage, suiteServer } from './client.ts';

forEachBackend('room events wake waiting users', (backend) => {
  const server = suiteServer(backend.name);

  test('members, invitees and new joiners wake; the token reaches the stored position', async () => {
    const s = server();
    const notifier = s.running.actors.notifier;
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });

    // Alice is joined: a message wakes her.
    const aliceWait = notifier.waitForEvents(alice.userId, notifier.currentToken(), 60_000);
    await sendMessage(s, alice, roomId, 'one');
    const woke = await aliceWait;
    assert.equal(woke.reason, 'advanced');
    const stored = (await s.running.db.query<{ max: number }>('SELECT max(stream_ordering)::int AS max FROM events')).rows[0]?.max;
    assert.equal(woke.token.get('events'), stored);

    // Bob is not in the room: his invite wakes him.
    const bobWait = notifier.waitForEvents(bob.userId, notifier.currentToken(), 60_000);
    await invite(s, alice, roomId, bob.userId);
    assert.equal((await bobWait).reason, 'advanced');

    // Carol starts listening before she joins; once joined, the room's next message wakes her.
    const before = notifier.waitForEvents(carol.userId, notifier.currentToken(), 60_000);
    await join(s, carol, roomId);
    await before;
    const carolWait = notifier.waitForEvents(carol.userId, notifier.currentToken(), 60_000);
    await sendMessage(s, alice, roomId, 'two');
    assert.equal((await carolWait).reason, 'advanced');

    // Someone outside the room is not woken by it.
    const dave = await newUser(s, 'dave');
    // His stream is opened first: one opened while the message is routed would start at the newer position and
    // answer at once, as a stream does for a since from before it existed.
    await notifier.waitForEvents(dave.userId, notifier.currentToken(), 0);
    const controller = new AbortController();
    const daveWait = notifier.waitForEvents(dave.userId, notifier.currentToken(), 60_000, controller.signal);
    const aliceAgain = notifier.waitForEvents(alice.userId, notifier.currentToken(), 60_000);
    await sendMessage(s, alice, roomId, 'three');
    assert.equal((await aliceAgain).reason, 'advanced', 'the message was routed (alice woke) ...');
    const joined = await s.request('GET', `${V3}/joined_rooms`, { token: dave.accessToken });
    assert.deepEqual((joined.body as { joined_rooms: string[] }).joined_rooms, []);
    controller.abort();
    assert.equal((await daveWait).reason, 'aborted', '... and did not wake dave');
  });
});
