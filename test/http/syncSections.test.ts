// /sync over real HTTP on each backend, the sections beyond the joined rooms' timelines: knocks with knock_state,
// ignored users (their events and invites never reach the user), the per-room ephemeral and account data sections
// and the top-level account data, each under its filter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, invite, join, newUsers, sendMessage, suiteServer } from '../rooms/client.ts';
import { bodiesOf, joinedRoom, setState, sync } from '../sync/client.ts';

forEachBackend('sync sections over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('knocking: the room is in rooms.knock with knock_state; told once', async () => {
    const s = server();
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const roomId = await createRoom(s, alice, { name: 'Knock here' });
    await setState(s, alice, roomId, 'm.room.join_rules', { join_rule: 'knock' });
    const since = (await sync(s, bob)).next_batch;
    await call(s, 'POST', `${V3}/knock/${enc(roomId)}`, bob, { reason: 'let me in' });

    const res = await sync(s, bob, { since });
    const knocked = res.rooms.knock[roomId];
    assert.ok(knocked, 'the room is in rooms.knock');
    const byType = new Map(knocked.knock_state.events.map((e) => [e.type, e]));
    assert.equal(byType.get('m.room.join_rules')?.content['join_rule'], 'knock');
    assert.equal(byType.get('m.room.name')?.content['name'], 'Knock here');
    assert.equal(byType.get('m.room.member')?.content['membership'], 'knock');
    assert.equal(byType.get('m.room.member')?.state_key, bob.userId);
    assert.deepEqual(res.rooms.join, {});
    assert.deepEqual((await sync(s, bob, { since: res.next_batch })).rooms.knock, {});

    // Let in: the room moves to rooms.join.
    await invite(s, alice, roomId, bob.userId);
    await join(s, bob, roomId);
    assert.ok(joinedRoom(await sync(s, bob, { since: res.next_batch }), roomId));
  });

  test('ignored users: their messages and invites never reach the user, nor count as unread', async () => {
    const s = server();
    const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, carol, roomId);
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/account_data/m.ignored_user_list`, alice, { ignored_users: { [bob.userId]: {} } });
    const since = (await sync(s, alice)).next_batch;
    await sendMessage(s, bob, roomId, 'from bob');
    await sendMessage(s, carol, roomId, 'from carol');
    await setState(s, alice, roomId, 'm.room.power_levels', { users: { [alice.userId]: 100, [bob.userId]: 50 }, state_default: 50 });
    await setState(s, bob, roomId, 'm.room.topic', { topic: 'set by bob' });
    const bobsRoom = await createRoom(s, bob);
    await invite(s, bob, bobsRoom, alice.userId);

    const res = await sync(s, alice, { since });
    assert.deepEqual(bodiesOf(joinedRoom(res, roomId).timeline.events), ['from carol']);
    const topic = joinedRoom(res, roomId).timeline.events.find((e) => e.type === 'm.room.topic');
    assert.equal(topic?.content['topic'], 'set by bob', "an ignored user's state event still arrives");
    assert.equal(joinedRoom(res, roomId).unread_notifications.notification_count, 1);
    assert.equal(res.rooms.invite[bobsRoom], undefined, 'an invite from an ignored user is dropped');
    const initial = await sync(s, alice);
    assert.ok(!bodiesOf(joinedRoom(initial, roomId).timeline.events).includes('from bob'));
    assert.equal(initial.rooms.invite[bobsRoom], undefined);
  });

  test('ephemeral, room account data and global account data sections under their filters', async () => {
    const s = server();
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const since = (await sync(s, alice)).next_batch;
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/typing/${enc(bob.userId)}`, bob, { typing: true, timeout: 30000 });
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.room`, alice, { n: 1 });
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/account_data/org.example.global`, alice, { g: true });

    const res = await sync(s, alice, { since });
    const room = joinedRoom(res, roomId);
    const typing = room.ephemeral.events.find((e) => e.type === 'm.typing');
    assert.deepEqual(typing?.content['user_ids'], [bob.userId]);
    assert.ok(room.account_data.events.some((e) => (e as { type: string }).type === 'org.example.room'));
    assert.ok(res.account_data.events.some((e) => e.type === 'org.example.global'));

    const filtered = await sync(s, alice, {
      since,
      filter: { account_data: { not_types: ['org.example.*'] }, room: { ephemeral: { types: ['m.receipt'] }, account_data: { not_rooms: [roomId] } } },
    });
    assert.ok(!filtered.account_data.events.some((e) => e.type.startsWith('org.example.')), 'wildcards in not_types');
    assert.equal(filtered.rooms.join[roomId], undefined, 'nothing left for the room: it is not listed');
  });
});
