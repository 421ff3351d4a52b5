// GET /sync over real HTTP on each backend: initial and incremental syncs, the state at the start of the timeline
// (the sync server README's 15-event example), limited and prev_batch, filters, full_state, long polling, leaving,
// invites, rejoins and duplicate joins, visibility and redactions, unread counts, and bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, fails, invite, join, messages, newUser, sendMessage, suiteServer, type ClientEvent } from '../rooms/client.ts';
import { bodiesOf, joinedRoom, setState, sync, typesOf } from '../sync/client.ts';

forEachBackend('sync over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('initial sync: timeline, state, summary and unread counts; incremental sync: only what is new', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { name: 'Sync room', preset: 'public_chat' });
    await join(s, bob, roomId);
    await sendMessage(s, bob, roomId, 'hello');
    await sendMessage(s, alice, roomId, 'hi');

    const first = await sync(s, alice);
    assert.match(first.next_batch, /^s\d+(_\d+)+$/);
    const room = joinedRoom(first, roomId);
    // create, alice's join, power levels, join rules, history visibility, guest access, name, bob's join, 2 messages.
    assert.deepEqual(typesOf(room.timeline.events), [
      'm.room.create',
      'm.room.member',
      'm.room.power_levels',
      'm.room.join_rules',
      'm.room.history_visibility',
      'm.room.guest_access',
      'm.room.name',
      'm.room.member',
      'm.room.message',
      'm.room.message',
    ]);
    assert.equal(room.timeline.limited, false);
    assert.equal(room.state.events.length, 0, 'the whole room is in the timeline, so the state before it is empty');
    assert.equal((room.timeline.events[0] as Record<string, unknown>)['room_id'], undefined, 'events come without room_id');
    assert.deepEqual(room.summary, { 'm.heroes': [bob.userId], 'm.joined_member_count': 2, 'm.invited_member_count': 0 });
    assert.deepEqual(room.unread_notifications, { notification_count: 1, highlight_count: 0 });
    const own = room.timeline.events.find((e) => e.content['body'] === 'hi');
    assert.equal(typeof own?.unsigned?.['transaction_id'], 'string', 'the sender sees their transaction id');

    // Nothing new: an empty response with a usable token.
    const quiet = await sync(s, alice, { since: first.next_batch });
    assert.deepEqual(quiet.rooms.join, {});

    await sendMessage(s, bob, roomId, 'again');
    const next = await sync(s, alice, { since: quiet.next_batch });
    const delta = joinedRoom(next, roomId);
    assert.deepEqual(bodiesOf(delta.timeline.events), ['again']);
    assert.equal(delta.timeline.limited, false);
    assert.deepEqual(delta.state.events, []);
    assert.equal(delta.summary, undefined, 'no membership change, no summary');
    assert.equal(delta.unread_notifications.notification_count, 2);
  });

  test('the 15-event example: since=9, limit=5 gives timeline [5, B\', D\'\'\', D\'\'\'\', 6] and state [D\'\']', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const ids: Record<string, string> = {};
    const state = async (label: string, type: string, value: string) => {
      ids[label] = await setState(s, alice, roomId, type, { value });
    };
    const message = async (label: string) => {
      ids[label] = await sendMessage(s, alice, roomId, label);
    };
    // index: 1  2  3  4  5  6  7  8   9  | 10   11  12  13    14     15
    //        A  B  C  D  1  2  3  D'  4  | D''  5   B'  D'''  D''''  6
    await state('A', 'org.example.a', 'A');
    await state('B', 'org.example.b', 'B');
    await state('C', 'org.example.c', 'C');
    await state('D', 'org.example.d', 'D');
    await message('1');
    await message('2');
    await message('3');
    await state("D'", 'org.example.d', "D'");
    await message('4');
    const since = (await sync(s, alice)).next_batch;
    await state("D''", 'org.example.d', "D''");
    await message('5');
    await state("B'", 'org.example.b', "B'");
    await state("D'''", 'org.example.d', "D'''");
    await state("D''''", 'org.example.d', "D''''");
    await message('6');

    const filter = { room: { timeline: { limit: 5 } } };
    const res = await sync(s, alice, { since, filter });
    const room = joinedRoom(res, roomId);
    const label = (e: ClientEvent) => Object.entries(ids).find(([, id]) => id === e.event_id)?.[0];
    assert.deepEqual(room.timeline.events.map(label), ['5', "B'", "D'''", "D''''", '6']);
    assert.equal(room.timeline.limited, true);
    assert.deepEqual(room.state.events.map(label), ["D''"]);

    // prev_batch continues exactly before the timeline: paging back to `since` gives the skipped event.
    const back = await messages(s, alice, roomId, `dir=b&limit=50&from=${enc(room.timeline.prev_batch)}&to=${enc(since)}`);
    assert.deepEqual((back['chunk'] as ClientEvent[]).map(label), ["D''"]);

    // use_state_after: the state at the END of the timeline instead, under state_after; the stable name and MSC4222's.
    const after = joinedRoom(await sync(s, alice, { since, filter, use_state_after: true }), roomId) as unknown as Record<string, { events: ClientEvent[] }>;
    assert.equal(after['state'], undefined);
    assert.deepEqual(after['state_after']?.events.map(label).sort(), ["B'", "D''''"]);
    const unstable = joinedRoom(await sync(s, alice, { since, filter, 'org.matrix.msc4222.use_state_after': true }), roomId) as unknown as Record<
      string,
      { events: ClientEvent[] }
    >;
    assert.deepEqual(unstable['org.matrix.msc4222.state_after']?.events.map(label).sort(), ["B'", "D''''"]);

    // The same on an initial sync: the full state at the start of the timeline, [A, B, C, D''] plus the room's own.
    const initial = joinedRoom(await sync(s, alice, { filter }), roomId);
    assert.deepEqual(initial.timeline.events.map(label), ['5', "B'", "D'''", "D''''", '6']);
    const custom = initial.state.events.filter((e) => e.type.startsWith('org.example.')).map(label);
    assert.deepEqual(custom.sort(), ['A', 'B', 'C', "D''"]);
    assert.ok(initial.state.events.some((e) => e.type === 'm.room.create'));
  });

  test('limited is true exactly when events were skipped, and prev_batch pages back to exactly them', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const since = (await sync(s, alice)).next_batch;
    for (let i = 1; i <= 5; i++) await sendMessage(s, alice, roomId, `m${i}`);

    const exact = joinedRoom(await sync(s, alice, { since, filter: { room: { timeline: { limit: 5 } } } }), roomId);
    assert.deepEqual(bodiesOf(exact.timeline.events), ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.equal(exact.timeline.limited, false, 'limit 5 and 5 new events: nothing skipped');

    // timeline.limit=1 through a stored filter.
    const created = await call(s, 'POST', `${V3}/user/${enc(alice.userId)}/filter`, alice, { room: { timeline: { limit: 1 } } });
    const one = joinedRoom(await sync(s, alice, { since, filter: created['filter_id'] as string }), roomId);
    assert.deepEqual(bodiesOf(one.timeline.events), ['m5']);
    assert.equal(one.timeline.limited, true);
    const skipped = await messages(s, alice, roomId, `dir=b&limit=50&from=${enc(one.timeline.prev_batch)}&to=${enc(since)}`);
    assert.deepEqual(bodiesOf(skipped['chunk'] as ClientEvent[]), ['m4', 'm3', 'm2', 'm1']);

    // Events hidden by the timeline filter are not "skipped".
    const onlyMessages = joinedRoom(
      await sync(s, alice, { since, filter: { room: { timeline: { limit: 5, types: ['m.room.message'], not_senders: ['@nobody:test.local'] } } } }),
      roomId,
    );
    assert.equal(onlyMessages.timeline.limited, false);
    const noMessages = await sync(s, alice, { since, filter: { room: { timeline: { types: ['org.example.none'] } } } });
    assert.equal(noMessages.rooms.join[roomId], undefined, 'nothing passes the filter: the room is not listed');
  });

  test('full_state: the whole state at the start of the timeline on an incremental sync, answered at once', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice, { name: 'Full' });
    const since = (await sync(s, alice)).next_batch;
    await sendMessage(s, alice, roomId, 'after');
    const started = Date.now();
    const res = await sync(s, alice, { since, full_state: true, timeout: 5000 });
    assert.ok(Date.now() - started < 4000, 'full_state does not wait');
    const room = joinedRoom(res, roomId);
    assert.deepEqual(bodiesOf(room.timeline.events), ['after']);
    const stateTypes = new Set(typesOf(room.state.events));
    for (const type of ['m.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.join_rules', 'm.room.name']) {
      assert.ok(stateTypes.has(type), `${type} in the full state`);
    }
    assert.ok(room.summary, 'the summary comes with full state');
    // Nothing new: full_state still lists the room with its state.
    const again = joinedRoom(await sync(s, alice, { since: res.next_batch, full_state: true }), roomId);
    assert.deepEqual(again.timeline.events, []);
    assert.ok(again.state.events.some((e) => e.type === 'm.room.name'));
  });

  test('long poll: wakes on a send in a joined room, and times out empty otherwise', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const since = (await sync(s, bob)).next_batch;

    const started = Date.now();
    const waiting = sync(s, bob, { since, timeout: 20000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sendMessage(s, alice, roomId, 'wake up');
    const woken = await waiting;
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 10000, `woke after ${elapsed} ms`);
    assert.deepEqual(bodiesOf(joinedRoom(woken, roomId).timeline.events), ['wake up']);

    // A room bob is not in does not wake him.
    const other = await createRoom(s, alice);
    const quietStart = Date.now();
    const quiet = sync(s, bob, { since: woken.next_batch, timeout: 600 });
    await sendMessage(s, alice, other, 'not for bob');
    const timedOut = await quiet;
    assert.ok(Date.now() - quietStart >= 550, 'waited for the timeout');
    assert.deepEqual(timedOut.rooms.join, {});
    assert.deepEqual(timedOut.rooms.invite, {});
  });

  test('leaving moves the room to rooms.leave with the leave event; include_leave lists it on an initial sync', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const since = (await sync(s, bob)).next_batch;
    await sendMessage(s, alice, roomId, 'before leaving');
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, bob, {});
    await sendMessage(s, alice, roomId, 'after leaving');

    const res = await sync(s, bob, { since });
    assert.equal(res.rooms.join[roomId], undefined);
    const left = res.rooms.leave[roomId];
    assert.ok(left, 'the room is in rooms.leave');
    assert.deepEqual(bodiesOf(left.timeline.events), ['before leaving']);
    const last = left.timeline.events.at(-1);
    assert.equal(last?.type, 'm.room.member');
    assert.equal(last?.state_key, bob.userId);
    assert.equal(last?.content['membership'], 'leave');

    const after = await sync(s, bob, { since: res.next_batch });
    assert.deepEqual(after.rooms.leave, {}, 'told once');
    assert.equal((await sync(s, bob)).rooms.leave[roomId], undefined, 'archived rooms only with include_leave');
    const archived = (await sync(s, bob, { filter: { room: { include_leave: true } } })).rooms.leave[roomId];
    assert.ok(archived);
    assert.equal(archived.timeline.events.at(-1)?.content['membership'], 'leave');
    assert.ok(archived.state.events.some((e) => e.type === 'm.room.create') || archived.timeline.events.some((e) => e.type === 'm.room.create'));
    assert.ok(!archived.timeline.events.some((e) => e.content['body'] === 'after leaving'));
  });

  test('invites: invite_state with the stripped state and the invite; accepting moves the room to rooms.join with full state', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { name: 'Secret club', topic: 'Members only' });
    const since = (await sync(s, bob)).next_batch;
    await invite(s, alice, roomId, bob.userId);

    const res = await sync(s, bob, { since });
    const invited = res.rooms.invite[roomId];
    assert.ok(invited, 'the room is in rooms.invite');
    const events = invited.invite_state.events;
    const byType = new Map(events.map((e) => [e.type, e]));
    assert.equal(byType.get('m.room.name')?.content['name'], 'Secret club');
    assert.ok(byType.has('m.room.create'));
    assert.ok(byType.has('m.room.join_rules'));
    assert.equal(byType.get('m.room.topic')?.content['topic'], 'Members only');
    assert.ok(!byType.has('m.room.power_levels'), 'only the stripped state types');
    const member = events.find((e) => e.type === 'm.room.member');
    assert.deepEqual([member?.state_key, member?.sender, member?.content['membership']], [bob.userId, alice.userId, 'invite']);
    assert.ok((await sync(s, bob)).rooms.invite[roomId], 'also on an initial sync');
    assert.deepEqual((await sync(s, bob, { since: res.next_batch })).rooms.invite, {}, 'told once');

    await join(s, bob, roomId);
    const joined = joinedRoom(await sync(s, bob, { since: res.next_batch }), roomId);
    const seen = new Set([...typesOf(joined.state.events), ...typesOf(joined.timeline.events)]);
    for (const type of ['m.room.create', 'm.room.power_levels', 'm.room.name', 'm.room.topic']) assert.ok(seen.has(type), `${type} on joining`);
    assert.ok(joined.summary);
  });

  test('a duplicate join (profile change) does not resend the state; a rejoin does', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const since = (await sync(s, bob)).next_batch;
    await setState(s, bob, roomId, 'm.room.member', { membership: 'join', displayname: 'Bobby' }, bob.userId);
    const dup = joinedRoom(await sync(s, bob, { since }), roomId);
    assert.deepEqual(dup.state.events, []);
    assert.deepEqual(
      dup.timeline.events.map((e) => [e.type, e.content['displayname']]),
      [['m.room.member', 'Bobby']],
    );

    const before = (await sync(s, bob)).next_batch;
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, bob, {});
    await join(s, bob, roomId);
    const rejoined = joinedRoom(await sync(s, bob, { since: before, filter: { room: { timeline: { limit: 2 } } } }), roomId);
    assert.ok(rejoined.state.events.some((e) => e.type === 'm.room.create'), 'a rejoin sends the full state');
  });

  test('history visibility and redactions: a late joiner sees only what the room lets them; redacted events arrive redacted', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await setState(s, alice, roomId, 'm.room.history_visibility', { history_visibility: 'joined' });
    await sendMessage(s, alice, roomId, 'private past');
    await join(s, bob, roomId);
    const secret = await sendMessage(s, alice, roomId, 'to be redacted');
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(secret)}/r1`, alice, { reason: 'oops' });

    const room = joinedRoom(await sync(s, bob), roomId);
    assert.ok(!bodiesOf(room.timeline.events).includes('private past'));
    assert.equal(room.timeline.limited, false, 'invisible events are not skipped ones');
    const redacted = room.timeline.events.find((e) => e.event_id === secret);
    assert.ok(redacted, 'the redacted event is served');
    assert.deepEqual(redacted.content, {});
    assert.equal((redacted.unsigned?.['redacted_because'] as { type?: string })?.type, 'm.room.redaction');
    // Events from before the switch to `joined` were shared: visible to anyone who joined later.
    assert.ok([...room.state.events, ...room.timeline.events].some((e) => e.type === 'm.room.create'));
    assert.ok(room.timeline.events.some((e) => e.type === 'm.room.member' && e.state_key === bob.userId));
  });

  test('filters on sections: rooms/not_rooms, state types, lazy_load_members, event_fields', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const roomA = await createRoom(s, alice, { preset: 'public_chat' });
    const roomB = await createRoom(s, alice);
    await join(s, bob, roomA);
    await join(s, carol, roomA);
    await sendMessage(s, bob, roomA, 'from bob');
    for (let i = 0; i < 3; i++) await sendMessage(s, alice, roomA, `alice ${i}`);

    assert.deepEqual(Object.keys((await sync(s, alice, { filter: { room: { rooms: [roomB] } } })).rooms.join), [roomB]);
    assert.deepEqual(Object.keys((await sync(s, alice, { filter: { room: { not_rooms: [roomB] } } })).rooms.join), [roomA]);

    const lazy = joinedRoom(await sync(s, alice, { filter: { room: { timeline: { limit: 2 }, state: { lazy_load_members: true } } } }), roomA);
    const members = lazy.state.events.filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort();
    // Timeline senders (alice) and the user's own member event, plus heroes (bob, carol) for the summary.
    assert.deepEqual(members, [alice.userId, bob.userId, carol.userId].sort());
    const lazyNoHeroes = joinedRoom(
      await sync(s, alice, { filter: { room: { timeline: { limit: 2 }, state: { lazy_load_members: true, types: ['m.room.member', 'm.room.create'] } } } }),
      roomA,
    );
    assert.deepEqual([...new Set(typesOf(lazyNoHeroes.state.events))].sort(), ['m.room.create', 'm.room.member']);

    // event_fields leaves out keys the schema requires, so this one response is not checked against it.
    const filter = enc(JSON.stringify({ event_fields: ['type', 'content.body'], room: { rooms: [roomA], timeline: { limit: 1 } } }));
    const fields = await s.request('GET', `${V3}/sync?filter=${filter}`, { token: alice.accessToken });
    assert.equal(fields.status, 200);
    const timeline = (fields.body as { rooms: { join: Record<string, { timeline: { events: unknown[] } }> } }).rooms.join[roomA]?.timeline;
    assert.deepEqual(timeline?.events, [{ type: 'm.room.message', content: { body: 'alice 2' } }]);

    // event_format federation: the PDUs as signed (not client events, so not checked against the client schema).
    const federation = enc(JSON.stringify({ event_format: 'federation', room: { rooms: [roomA], timeline: { limit: 1 } } }));
    const pdus = await s.request('GET', `${V3}/sync?filter=${federation}`, { token: alice.accessToken });
    assert.equal(pdus.status, 200);
    const pdu = (pdus.body as { rooms: { join: Record<string, { timeline: { events: Record<string, unknown>[] } }> } }).rooms.join[roomA]?.timeline.events[0];
    assert.equal(pdu?.['room_id'], roomA);
    for (const key of ['auth_events', 'prev_events', 'hashes', 'signatures', 'depth']) assert.ok(pdu && key in pdu, `${key} in the PDU`);
  });

  test('stored filters: create, read back, the same filter keeps its id, others\' filters are forbidden', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const path = `${V3}/user/${enc(alice.userId)}/filter`;
    const filter = { room: { timeline: { limit: 3, types: ['m.room.*'] }, include_leave: true }, event_format: 'client' };
    const a = await call(s, 'POST', path, alice, filter);
    assert.equal(typeof a['filter_id'], 'string');
    assert.ok(!(a['filter_id'] as string).startsWith('{'));
    assert.deepEqual(await call(s, 'GET', `${path}/${enc(a['filter_id'] as string)}`, alice), filter);
    assert.equal((await call(s, 'POST', path, alice, filter))['filter_id'], a['filter_id'], 'the same filter, the same id');
    const b = await call(s, 'POST', path, alice, { presence: { not_types: ['*'] } });
    assert.notEqual(b['filter_id'], a['filter_id']);

    await fails(s, 'GET', `${path}/${enc(a['filter_id'] as string)}`, bob, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', path, bob, filter, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${path}/999999`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${path}/not-a-number`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', path, alice, { room: { timeline: { limit: 'ten' } } }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, { room: { timeline: { limit: 0 } } }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, { event_format: 'xml' }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, { room: { rooms: ['not-a-room'] } }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, [1, 2], 400, 'M_NOT_JSON');
    await fails(s, 'POST', path, alice, '{"room":', 400, 'M_NOT_JSON');
    await fails(s, 'POST', path, undefined, filter, 401, 'M_MISSING_TOKEN');
  });

  test('bad input to /sync: Matrix errors, never a 500', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const base = `${V3}/sync`;
    await fails(s, 'GET', `${base}?filter=${enc('{not json')}`, alice, undefined, 400, 'M_NOT_JSON');
    await fails(s, 'GET', `${base}?filter=${enc('{"room":{"timeline":{"limit":-1}}}')}`, alice, undefined, 400, 'M_BAD_JSON');
    await fails(s, 'GET', `${base}?filter=${enc('{"room":[]}')}`, alice, undefined, 400, 'M_BAD_JSON');
    await fails(s, 'GET', `${base}?filter=12345`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${base}?filter=abc`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${base}?since=garbage`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?since=s1_x`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?timeout=-1`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?timeout=soon`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?full_state=yes`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?set_presence=busy`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?since=s1&since=s2`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', base, undefined, undefined, 401, 'M_MISSING_TOKEN');
    await fails(s, 'POST', base, alice, {}, 405, 'M_UNRECOGNIZED');
    // A token from the future is answered (nothing is newer than it), not refused.
    const future = await sync(s, alice, { since: 's999999999_0_0_0_0_0_0_0' });
    assert.deepEqual(future.rooms.join, {});
  });

  test('unread notifications count messages from others that are not notices', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await sendMessage(s, alice, roomId, 'one');
    await sendMessage(s, alice, roomId, 'two');
    await sendMessage(s, bob, roomId, 'mine');
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/notice1`, alice, { msgtype: 'm.notice', body: 'bot says' });
    await setState(s, alice, roomId, 'm.room.topic', { topic: 'state does not count' });
    const room = joinedRoom(await sync(s, bob), roomId);
    assert.deepEqual(room.unread_notifications, { notification_count: 2, highlight_count: 0 });
  });
});
