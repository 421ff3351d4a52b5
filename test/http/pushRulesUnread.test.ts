// /sync's unread_notifications follow the user's push rules: highlights for mentions, nothing for notices, edits
// and reactions, and the user's own rules (a muted room, a highlighted keyword) change the counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, join, newUser, sendMessage, suiteServer } from '../rooms/client.ts';
import { joinedRoom, setState, sync } from '../sync/client.ts';

forEachBackend('unread counts from push rules', (backend) => {
  const server = suiteServer(backend.name);

  test('notification_count and highlight_count', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, carol, roomId);
    const send = (type: string, txn: string, content: Record<string, unknown>) =>
      call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/${type}/${txn}`, bob, content).then((r) => r['event_id'] as string);
    const counts = async () => joinedRoom(await sync(s, alice), roomId).unread_notifications;

    await sendMessage(s, alice, roomId, 'my own message never counts');
    const plain = await send('m.room.message', 't1', { msgtype: 'm.text', body: 'hello' });
    await send('m.room.message', 't2', { msgtype: 'm.text', body: 'hey you', 'm.mentions': { user_ids: [alice.userId] } });
    await send('m.room.message', 't3', { msgtype: 'm.notice', body: 'a bot' });
    await send('m.room.message', 't4', { msgtype: 'm.text', body: '* hello', 'm.new_content': { body: 'hello' }, 'm.relates_to': { rel_type: 'm.replace', event_id: plain } });
    await send('m.reaction', 't5', { 'm.relates_to': { rel_type: 'm.annotation', event_id: plain, key: '👍' } });
    // bob (power level 0) cannot notify the whole room: an ordinary message.
    await send('m.room.message', 't6', { msgtype: 'm.text', body: '@room', 'm.mentions': { room: true } });
    assert.deepEqual(await counts(), { notification_count: 3, highlight_count: 1 });

    // alice lets everyone notify the room: bob's @room now highlights.
    const levels = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels/`, alice);
    await setState(s, alice, roomId, 'm.room.power_levels', { ...levels, notifications: { room: 0 } });
    assert.deepEqual(await counts(), { notification_count: 3, highlight_count: 2 });

    // A keyword rule that highlights, then the room muted by a room rule.
    await call(s, 'PUT', `${V3}/pushrules/global/content/hello`, alice, { pattern: 'hello', actions: ['notify', { set_tweak: 'highlight' }] });
    assert.deepEqual(await counts(), { notification_count: 3, highlight_count: 3 });
    await call(s, 'PUT', `${V3}/pushrules/global/room/${enc(roomId)}`, alice, { actions: [] });
    await send('m.room.message', 't7', { msgtype: 'm.text', body: 'more' });
    // "more" is muted; "hello" still highlights (content rules come before room rules), the mentions are overrides.
    assert.deepEqual(await counts(), { notification_count: 3, highlight_count: 3 });
    await call(s, 'DELETE', `${V3}/pushrules/global/content/hello`, alice);
    assert.deepEqual(await counts(), { notification_count: 2, highlight_count: 2 });
    await call(s, 'DELETE', `${V3}/pushrules/global/room/${enc(roomId)}`, alice);
    assert.deepEqual(await counts(), { notification_count: 4, highlight_count: 2 });

    // The master rule silences everything; a read receipt clears what is before it.
    await call(s, 'PUT', `${V3}/pushrules/global/override/.m.rule.master/enabled`, alice, { enabled: true });
    assert.deepEqual(await counts(), { notification_count: 0, highlight_count: 0 });
    await call(s, 'PUT', `${V3}/pushrules/global/override/.m.rule.master/enabled`, alice, { enabled: false });
    const last = await send('m.room.message', 't8', { msgtype: 'm.text', body: 'last' });
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(last)}`, alice, {});
    await send('m.room.message', 't9', { msgtype: 'm.text', body: 'after', 'm.mentions': { user_ids: [alice.userId] } });
    assert.deepEqual(await counts(), { notification_count: 1, highlight_count: 1 });

    // Joins do not notify, unless a rule of the user's says so.
    await join(s, await newUser(s, 'dave'), roomId);
    assert.deepEqual(await counts(), { notification_count: 1, highlight_count: 1 });
    const joins = { conditions: [{ kind: 'event_match', key: 'content.membership', pattern: 'join' }], actions: ['notify'] };
    await call(s, 'PUT', `${V3}/pushrules/global/override/joins`, alice, joins);
    assert.deepEqual(await counts(), { notification_count: 2, highlight_count: 1 });
    // A highlight without notify is no notification.
    await call(s, 'PUT', `${V3}/pushrules/global/override/joins/actions`, alice, { actions: [{ set_tweak: 'highlight' }] });
    assert.deepEqual(await counts(), { notification_count: 1, highlight_count: 1 });
  });
});
