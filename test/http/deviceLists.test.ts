// The device list stream over real HTTP: logins, renames and deletions reach users who share a room (changed);
// joins add the new room-mates, leaves list users who no longer share any room (left).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, join, newUser, suiteServer } from '../rooms/client.ts';
import { collect } from '../userData/client.ts';

forEachBackend('device lists over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('a new login, a rename and a deletion reach room-mates and the user, not strangers', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const stranger = await newUser(s, 'stranger');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const bobBefore = await collect(s, bob);
    const aliceBefore = await collect(s, alice);
    const strangerBefore = await collect(s, stranger);
    assert.deepEqual(bobBefore.data.deviceLists, { changed: [], left: [] }, 'nothing on an initial sync');
    assert.deepEqual(bobBefore.data.oneTimeKeysCount, { signed_curve25519: 0 });

    const waiting = s.running.actors.notifier.waitForEvents(bob.userId, bobBefore.to, 5000);
    const login = await call(s, 'POST', `${V3}/login`, undefined, {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: alice.userId },
      password: alice.password,
    });
    assert.equal((await waiting).reason, 'advanced');
    assert.deepEqual((await collect(s, bob, { since: bobBefore.to })).data.deviceLists, { changed: [alice.userId], left: [] });
    assert.deepEqual((await collect(s, alice, { since: aliceBefore.to })).data.deviceLists.changed, [alice.userId], 'own devices too');
    assert.deepEqual((await collect(s, stranger, { since: strangerBefore.to })).data.deviceLists, { changed: [], left: [] });

    const renamed = await collect(s, bob);
    const newDevice = login['device_id'] as string;
    await call(s, 'PUT', `${V3}/devices/${enc(newDevice)}`, alice, { display_name: 'Phone' });
    assert.deepEqual((await collect(s, bob, { since: renamed.to })).data.deviceLists.changed, [alice.userId]);

    const deleted = await collect(s, bob);
    await call(s, 'POST', `${V3}/logout`, { ...alice, accessToken: login['access_token'] as string }, {});
    assert.deepEqual((await collect(s, bob, { since: deleted.to })).data.deviceLists.changed, [alice.userId]);
  });

  test('joining lists the new room-mates as changed; leaving lists those who share no room any more as left', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, bob, other);
    const aliceBefore = await collect(s, alice);
    const carolBefore = await collect(s, carol);

    await join(s, carol, roomId);
    assert.deepEqual((await collect(s, alice, { since: aliceBefore.to })).data.deviceLists, { changed: [carol.userId], left: [] });
    const carolJoined = await collect(s, carol, { since: carolBefore.to, newlyJoined: [roomId] });
    assert.deepEqual(carolJoined.data.deviceLists, { changed: [alice.userId, bob.userId].sort(), left: [] });

    // Bob leaves one room but still shares the other with alice: not left. Carol leaves: left, for alice and bob.
    const aliceMid = await collect(s, alice);
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, bob, {});
    assert.deepEqual((await collect(s, alice, { since: aliceMid.to })).data.deviceLists, { changed: [], left: [] });
    const carolMid = await collect(s, carol);
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, carol, {});
    assert.deepEqual((await collect(s, alice, { since: carolMid.to })).data.deviceLists.left, [carol.userId]);
    const carolLeft = await collect(s, carol, { since: carolMid.to, newlyLeft: [roomId] });
    assert.deepEqual(carolLeft.data.deviceLists, { changed: [], left: [alice.userId] });
  });
});
