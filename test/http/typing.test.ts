// PUT /typing over real HTTP: m.typing in every member's collect(), expiry with a short timeout, errors.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, fails, join, newUser, suiteServer } from '../rooms/client.ts';
import { collect } from '../userData/client.ts';

forEachBackend('typing over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('typing reaches the other member, wakes their sync, and expires after its timeout', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const before = await collect(s, bob);
    const waiting = s.running.actors.notifier.waitForEvents(bob.userId, before.to, 5000);
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice, { typing: true, timeout: 300 });
    assert.equal((await waiting).reason, 'advanced');
    const typing = await collect(s, bob, { since: before.to });
    assert.deepEqual(typing.data.rooms.get(roomId)?.ephemeral, [{ type: 'm.typing', content: { user_ids: [alice.userId] } }]);
    const expiry = s.running.actors.notifier.waitForEvents(bob.userId, typing.to, 5000);
    await sleep(350);
    assert.equal((await expiry).reason, 'advanced', 'the expiry wakes the sync');
    const stopped = await collect(s, bob, { since: typing.to });
    assert.deepEqual(stopped.data.rooms.get(roomId)?.ephemeral, [{ type: 'm.typing', content: { user_ids: [] } }]);
    assert.equal((await collect(s, bob, { since: stopped.to })).data.rooms.get(roomId)?.ephemeral.length ?? 0, 0);
  });

  test('typing: false stops at once; errors for others, non-members and bad bodies', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice);
    const url = (userId: string, room = roomId) => `${V3}/rooms/${enc(room)}/typing/${enc(userId)}`;
    await call(s, 'PUT', url(alice.userId), alice, { typing: true });
    assert.deepEqual(s.running.userData.typing.typingIn(roomId), [alice.userId]);
    await call(s, 'PUT', url(alice.userId), alice, { typing: false });
    assert.deepEqual(s.running.userData.typing.typingIn(roomId), []);
    await fails(s, 'PUT', url(bob.userId), alice, { typing: true }, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', url(bob.userId), bob, { typing: true }, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', url(alice.userId), alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url(alice.userId), alice, { typing: 'yes' }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url(alice.userId), alice, { typing: true, timeout: -1 }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', url('nobody'), alice, { typing: true }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', url(alice.userId, 'nope'), alice, { typing: true }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', url(alice.userId), undefined, { typing: true }, 401, 'M_MISSING_TOKEN');
    assert.deepEqual(s.running.userData.typing.typingIn(roomId), []);
  });
});
