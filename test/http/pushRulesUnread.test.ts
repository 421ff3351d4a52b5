// /sync's unread_notifications follow the user's push rules: highlights for mentions, nothing for notices, edits
// and reactions, and the user's own rules (a muted room, a highlighted keyword) change the counts. Members woken
// together by one message share one read of the room's unread events and get what each gets alone.
// A user's next sync carries the counts forward: only the new events are read and evaluated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { MAX_EVALUATED_PER_ROOM } from '../../src/pushRules/unreadCounts.ts';
import { joinedInTurn } from '../pushRules/joinedInTurn.ts';
import { V3, call, createRoom, enc, join, newUser, newUsers, sendMessage, suiteServer } from '../rooms/client.ts';
import { joinedRoom, setState, sync, type SyncBody } from '../sync/client.ts';

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

forEachBackend('unread counts of members woken together', (backend) => {
  const server = suiteServer(backend.name);

  test('members woken by one message share one read of the room and get the counts each gets alone', async () => {
    const s = server();
    const [alice, bob, carol, dave, erin, frank] = await newUsers(s, 'alice', 'bob', 'carol', 'dave', 'erin', 'frank');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    // Joins in turn, so each counts from another point; messages between them. frank's invite is his alone: no joined
    // member counts it.
    const { d1 } = await joinedInTurn(s, roomId, [alice, bob, carol, dave, erin, frank]);
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(d1)}`, bob, {});
    await call(s, 'PUT', `${V3}/user/${enc(carol.userId)}/account_data/m.ignored_user_list`, carol, { ignored_users: { [dave.userId]: {} } });

    const members = [alice, bob, carol, dave, erin];
    // Offline, so that one member's sync sets no presence that wakes the others before the message does.
    const quiet = { set_presence: 'offline' };
    const initial: SyncBody[] = [];
    for (const user of members) initial.push(await sync(s, user, quiet));
    const counts = (bodies: readonly SyncBody[]) => bodies.map((body) => joinedRoom(body, roomId).unread_notifications);
    // alice: b1, d1, c1, d2 (her own, the joins, the invite and the redacted b2 aside; a redaction never notifies).
    // bob: after his receipt on d1: c1, d2. carol: dave ignored, her own c1: b1. dave: c1. erin: c1 (mentions her), d2.
    const before = [
      { notification_count: 4, highlight_count: 0 },
      { notification_count: 2, highlight_count: 0 },
      { notification_count: 1, highlight_count: 0 },
      { notification_count: 1, highlight_count: 0 },
      { notification_count: 2, highlight_count: 1 },
    ];
    assert.deepEqual(counts(initial), before);

    // Everyone waits; one message of alice's wakes them all, and their counts are read together.
    const waiting = members.map((user, i) => sync(s, user, { ...quiet, since: initial[i]?.next_batch ?? '', timeout: 30000 }));
    for (let tries = 0; s.running.actors.userStreams.waitingRequests < members.length; tries++) {
      assert.ok(tries < 500, `${s.running.actors.userStreams.waitingRequests} of ${members.length} syncs waiting`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const db = s.running.db;
    const query = db.query.bind(db);
    const shared: number[] = [];
    db.query = ((sql: string, params?: readonly unknown[]) => {
      // The unread statement's last parameter: how many events each of its reads takes (twice the cap when shared).
      if (sql.includes('g.members')) shared.push(...((params?.at(-1) as number[]) ?? []).filter((limit) => limit > MAX_EVALUATED_PER_ROOM));
      return query(sql, params);
    }) as typeof db.query;
    let woken: SyncBody[];
    try {
      await sendMessage(s, alice, roomId, 'wake up');
      woken = await Promise.all(waiting);
    } finally {
      db.query = query;
    }
    const after = before.map((c, i) => (i === 0 ? c : { ...c, notification_count: c.notification_count + 1 }));
    assert.deepEqual(counts(woken), after);
    assert.ok(shared.length > 0, 'some members were counted together');

    // Each alone, from the start: the same counts.
    const alone: SyncBody[] = [];
    for (const user of members) alone.push(await sync(s, user, quiet));
    assert.deepEqual(counts(alone), after);
  });
});

forEachBackend('unread counts carried from one sync to the next', (backend) => {
  const server = suiteServer(backend.name);

  test('incremental syncs count only the new events, and count afresh after a redaction, a join or a receipt', async () => {
    const s = server();
    const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const first = await sendMessage(s, bob, roomId, 'first');
    const quiet = { set_presence: 'offline' };
    let body = await sync(s, alice, quiet);
    assert.deepEqual(joinedRoom(body, roomId).unread_notifications, { notification_count: 1, highlight_count: 0 });

    const db = s.running.db;
    const query = db.query.bind(db);
    // For each unread statement: whether it read a new range after the counts carried (watched) or all the unread.
    let reads: string[] = [];
    db.query = ((sql: string, params?: readonly unknown[]) => {
      if (sql.includes('g.members')) reads.push(...((params?.[7] as (number | null)[] | undefined) ?? []).map((w) => (w === null ? 'full' : 'incremental')));
      return query(sql, params);
    }) as typeof db.query;
    const next = async () => {
      reads = [];
      body = await sync(s, alice, { ...quiet, since: body.next_batch });
      return { counts: joinedRoom(body, roomId).unread_notifications, reads };
    };
    try {
      await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/t1`, bob, { msgtype: 'm.text', body: 'you', 'm.mentions': { user_ids: [alice.userId] } });
      assert.deepEqual(await next(), { counts: { notification_count: 2, highlight_count: 1 }, reads: ['incremental'] });
      await sendMessage(s, bob, roomId, 'third');
      assert.deepEqual(await next(), { counts: { notification_count: 3, highlight_count: 1 }, reads: ['incremental'] });
      // A redaction of a counted message: it leaves the count.
      await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(first)}/r1`, bob, {});
      assert.deepEqual(await next(), { counts: { notification_count: 2, highlight_count: 1 }, reads: ['incremental', 'full'] });
      // A join changes the member count: counted afresh, to the same counts.
      await join(s, carol, roomId);
      assert.deepEqual(await next(), { counts: { notification_count: 2, highlight_count: 1 }, reads: ['incremental', 'full'] });
      const last = await sendMessage(s, carol, roomId, 'fourth');
      assert.deepEqual(await next(), { counts: { notification_count: 3, highlight_count: 1 }, reads: ['incremental'] });
      // A read receipt: from a new point.
      await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(last)}`, alice, {});
      assert.deepEqual(await next(), { counts: { notification_count: 0, highlight_count: 0 }, reads: ['full'] });
      await sendMessage(s, carol, roomId, 'fifth');
      assert.deepEqual(await next(), { counts: { notification_count: 1, highlight_count: 0 }, reads: ['incremental'] });
    } finally {
      db.query = query;
    }
    // Another device syncing from the start gets the same.
    assert.deepEqual(joinedRoom(await sync(s, alice, quiet), roomId).unread_notifications, { notification_count: 1, highlight_count: 0 });
  });
});
