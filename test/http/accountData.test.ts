// Account data (global and per room), tags and the ignored users list over real HTTP, and what collect() hands
// /sync for them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, fails, join, newUser, sendMessage, suiteServer, type ClientEvent } from '../rooms/client.ts';
import { collect } from '../userData/client.ts';

forEachBackend('account data over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('global account data: PUT, GET, replaced, 404 when absent, forbidden for other users', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const path = `${V3}/user/${enc(alice.userId)}/account_data/org.example.settings`;
    await fails(s, 'GET', path, alice, undefined, 404, 'M_NOT_FOUND');
    await call(s, 'PUT', path, alice, { theme: 'dark' });
    assert.deepEqual(await call(s, 'GET', path, alice), { theme: 'dark' });
    await call(s, 'PUT', path, alice, { theme: 'light' });
    assert.deepEqual(await call(s, 'GET', path, alice), { theme: 'light' });
    await fails(s, 'GET', path, bob, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', path, bob, { theme: 'evil' }, 403, 'M_FORBIDDEN');
    assert.deepEqual(await call(s, 'GET', path, alice), { theme: 'light' });
  });

  test('bad input: not an object, server-controlled types, invalid ids, no token', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const base = `${V3}/user/${enc(alice.userId)}`;
    await fails(s, 'PUT', `${base}/account_data/x.y`, alice, '[1]', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', `${base}/account_data/x.y`, alice, 'nope', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', `${base}/account_data/m.push_rules`, alice, {}, 405, 'M_BAD_JSON');
    // Readable, though: the server's push rules.
    const rules = (await call(s, 'GET', `${base}/account_data/m.push_rules`, alice)) as { global?: { override?: { rule_id: string }[] } };
    assert.ok(rules.global?.override?.some((r) => r.rule_id === '.m.rule.master'));
    await fails(s, 'PUT', `${base}/rooms/${enc('!r:test.local')}/account_data/m.fully_read`, alice, { event_id: '$x' }, 405, 'M_BAD_JSON');
    await fails(s, 'PUT', `${base}/rooms/not-a-room/account_data/x.y`, alice, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}/rooms/not-a-room/account_data/x.y`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', `${V3}/user/not-a-user/account_data/x.y`, alice, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', `${base}/account_data/x.y`, undefined, {}, 401, 'M_MISSING_TOKEN');
    await fails(s, 'DELETE', `${base}/account_data/x.y`, alice, undefined, 405, 'M_UNRECOGNIZED');
    await fails(s, 'PUT', `${base}/account_data/m.ignored_user_list`, alice, { ignored_users: ['@x:y'] }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', `${base}/account_data/m.ignored_user_list`, alice, { ignored_users: { 'not-a-user': {} } }, 400, 'M_BAD_JSON');
    await fails(s, 'GET', `${base}/account_data/m.ignored_user_list`, alice, undefined, 404, 'M_NOT_FOUND');
  });

  test('room account data and tags; collect() sends global and room data, then only what changed', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const room = `${V3}/user/${enc(alice.userId)}/rooms/${enc(roomId)}`;
    await call(s, 'PUT', `${room}/account_data/org.example.draft`, alice, { text: 'hi' });
    assert.deepEqual(await call(s, 'GET', `${room}/account_data/org.example.draft`, alice), { text: 'hi' });
    await fails(s, 'GET', `${V3}/user/${enc(alice.userId)}/account_data/org.example.draft`, alice, undefined, 404, 'M_NOT_FOUND');
    assert.deepEqual(await call(s, 'GET', `${room}/tags`, alice), { tags: {} });
    await call(s, 'PUT', `${room}/tags/m.favourite`, alice, { order: 0.25 });
    await call(s, 'PUT', `${room}/tags/u.work`, alice, {});
    assert.deepEqual(await call(s, 'GET', `${room}/tags`, alice), { tags: { 'm.favourite': { order: 0.25 }, 'u.work': {} } });
    await call(s, 'DELETE', `${room}/tags/u.work`, alice);
    await call(s, 'DELETE', `${room}/tags/u.absent`, alice);
    assert.deepEqual(await call(s, 'GET', `${room}/tags`, alice), { tags: { 'm.favourite': { order: 0.25 } } });
    await fails(s, 'PUT', `${room}/tags/m.favourite`, alice, { order: 'first' }, 400, 'M_BAD_JSON');
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/account_data/org.example.global`, alice, { a: 1 });

    const first = await collect(s, alice);
    // An initial sync also carries the push rules the server keeps as account data.
    assert.deepEqual(
      first.data.accountData.filter((e) => e['type'] !== 'm.push_rules'),
      [{ type: 'org.example.global', content: { a: 1 } }],
    );
    assert.ok(first.data.accountData.some((e) => e['type'] === 'm.push_rules'));
    const roomData = first.data.rooms.get(roomId)?.accountData ?? [];
    assert.deepEqual(
      roomData.sort((a, b) => String(a['type']).localeCompare(String(b['type']))),
      [
        { type: 'm.tag', content: { tags: { 'm.favourite': { order: 0.25 } } } },
        { type: 'org.example.draft', content: { text: 'hi' } },
      ],
    );
    const quiet = await collect(s, alice, { since: first.to });
    assert.deepEqual(quiet.data.accountData, []);
    assert.equal(quiet.data.rooms.get(roomId)?.accountData.length ?? 0, 0);
    await call(s, 'PUT', `${room}/tags/m.lowpriority`, alice, {});
    const after = await collect(s, alice, { since: first.to });
    assert.deepEqual(after.data.accountData, []);
    assert.deepEqual(after.data.rooms.get(roomId)?.accountData, [
      { type: 'm.tag', content: { tags: { 'm.favourite': { order: 0.25 }, 'm.lowpriority': {} } } },
    ]);
    assert.ok(after.to.get('account_data') > first.to.get('account_data'));
  });

  test('a write wakes the user\'s waiting sync (the account_data stream advances)', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const since = s.running.actors.notifier.currentToken();
    const waiting = s.running.actors.notifier.waitForEvents(alice.userId, since, 5000);
    await call(s, 'PUT', `${V3}/user/${enc(alice.userId)}/account_data/org.example.x`, alice, { x: 1 });
    const woke = await waiting;
    assert.equal(woke.reason, 'advanced');
    assert.ok(woke.token.get('account_data') > since.get('account_data'));
  });

  test('ignored users: the list is validated, served back, and hides their events from /messages, /context and /event', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const bobsEvent = await sendMessage(s, bob, roomId, 'from bob');
    const alicesEvent = await sendMessage(s, alice, roomId, 'from alice');
    const list = `${V3}/user/${enc(alice.userId)}/account_data/m.ignored_user_list`;
    await call(s, 'PUT', list, alice, { ignored_users: { [bob.userId]: {} } });
    assert.deepEqual(await call(s, 'GET', list, alice), { ignored_users: { [bob.userId]: {} } });
    assert.deepEqual([...(await s.running.userData.ignoredUsers(alice.userId))], [bob.userId]);

    const page = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=50`, alice);
    const senders = (page['chunk'] as ClientEvent[]).filter((e) => e.state_key === undefined).map((e) => e.sender);
    assert.ok(senders.includes(alice.userId));
    assert.ok(!senders.includes(bob.userId), 'no message of the ignored user');
    assert.ok((page['chunk'] as ClientEvent[]).some((e) => e.type === 'm.room.member' && e.sender === bob.userId), 'state events stay');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(bobsEvent)}`, alice, undefined, 404, 'M_NOT_FOUND');
    const context = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/context/${enc(alicesEvent)}?limit=10`, alice);
    const around = [...(context['events_before'] as ClientEvent[]), ...(context['events_after'] as ClientEvent[])];
    assert.ok(around.length > 0);
    assert.ok(!around.some((e) => e.sender === bob.userId && e.state_key === undefined));
    // Bob still sees his own events, and Alice sees them again once she stops ignoring him.
    await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(bobsEvent)}`, bob);
    await call(s, 'PUT', list, alice, { ignored_users: {} });
    assert.equal((await s.running.userData.ignoredUsers(alice.userId)).size, 0);
    await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(bobsEvent)}`, alice);
  });
});
