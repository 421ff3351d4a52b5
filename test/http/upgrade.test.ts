// POST /rooms/{roomId}/upgrade over real HTTP on each backend: the replacement room's create event and copied
// state, the tombstone and restricted power levels in the old room, v12 creators, permissions and bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, invite, join, newUser, sendMessage, suiteServer, type ClientEvent } from '../rooms/client.ts';

async function state(s: TestServer, user: TestUser, roomId: string): Promise<ClientEvent[]> {
  return (await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state`, user)) as unknown as ClientEvent[];
}

const find = (events: ClientEvent[], type: string, key = '') => events.find((e) => e.type === type && e.state_key === key);

async function upgrade(s: TestServer, user: TestUser, roomId: string, body: Record<string, unknown>): Promise<string> {
  const res = await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/upgrade`, user, body);
  assert.equal(typeof res['replacement_room'], 'string');
  return res['replacement_room'] as string;
}

forEachBackend('room upgrades over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('v10 -> v11: predecessor, copied state, tombstone, restricted old power levels', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const old = await createRoom(s, alice, {
      preset: 'public_chat',
      name: 'Tea',
      topic: 'Leaves',
      creation_content: { type: 'org.example.kettle' },
      initial_state: [
        { type: 'm.room.avatar', content: { url: 'mxc://test.local/teapot' } },
        { type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } },
        { type: 'm.room.server_acl', content: { allow: ['*'], deny: ['evil.example'], allow_ip_literals: false } },
        { type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } },
        { type: 'org.example.not_copied', content: { x: 1 } },
      ],
      power_level_content_override: { users: { [alice.userId]: 100 }, users_default: 10, events: { 'm.room.tombstone': 100, 'm.room.power_levels': 100 } },
    });
    await join(s, bob, old);
    const last = await sendMessage(s, bob, old, 'before the upgrade');
    const oldState = await state(s, alice, old);

    const replacement = await upgrade(s, alice, old, { new_version: '11' });
    assert.notEqual(replacement, old);
    const fresh = await state(s, alice, replacement);
    const create = find(fresh, 'm.room.create');
    assert.equal(create?.sender, alice.userId);
    assert.equal(create?.content['room_version'], '11');
    assert.equal(create?.content['creator'], undefined, 'v11 create events have no creator');
    assert.equal(create?.content['type'], 'org.example.kettle');
    assert.deepEqual(create?.content['predecessor'], { room_id: old, event_id: last });
    for (const type of ['m.room.name', 'm.room.topic', 'm.room.avatar', 'm.room.encryption', 'm.room.server_acl', 'm.room.join_rules', 'm.room.history_visibility', 'm.room.guest_access', 'm.room.power_levels']) {
      assert.deepEqual(find(fresh, type)?.content, find(oldState, type)?.content, `${type} is copied`);
    }
    assert.equal(find(fresh, 'org.example.not_copied'), undefined);
    assert.equal(find(fresh, 'm.room.member', alice.userId)?.content['membership'], 'join');
    assert.equal(find(fresh, 'm.room.member', bob.userId), undefined, 'members are not copied');

    const after = await state(s, bob, old);
    assert.deepEqual(find(after, 'm.room.tombstone')?.content, { body: 'This room has been replaced', replacement_room: replacement });
    const pl = find(after, 'm.room.power_levels')?.content ?? {};
    assert.equal(pl['events_default'], 50);
    assert.equal(pl['invite'], 50);
    assert.equal(pl['users_default'], 10);
    // Bob (level 10) can no longer talk in the old room, and can join the new one (public).
    await fails(s, 'PUT', `${V3}/rooms/${enc(old)}/send/m.room.message/late1`, bob, { msgtype: 'm.text', body: 'late' }, 403, 'M_FORBIDDEN');
    await join(s, bob, replacement);
    const joined = await call(s, 'GET', `${V3}/joined_rooms`, alice);
    assert.deepEqual((joined['joined_rooms'] as string[]).sort(), [old, replacement].sort());
  });

  test('local aliases, the canonical alias and the directory listing move to the new room', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const localpart = `tea${process.pid}x${Date.now().toString(36)}`;
    const alias = `#${localpart}:test.local`;
    const extra = `#${localpart}-2:test.local`;
    const old = await createRoom(s, alice, { preset: 'public_chat', visibility: 'public', room_alias_name: localpart });
    await call(s, 'PUT', `${V3}/directory/room/${enc(extra)}`, alice, { room_id: old });
    await call(s, 'PUT', `${V3}/rooms/${enc(old)}/state/m.room.canonical_alias`, alice, { alias, alt_aliases: [extra] });

    const replacement = await upgrade(s, alice, old, { new_version: '11' });
    for (const a of [alias, extra]) {
      const resolved = await call(s, 'GET', `${V3}/directory/room/${enc(a)}`, alice);
      assert.equal(resolved['room_id'], replacement);
    }
    assert.deepEqual(find(await state(s, alice, replacement), 'm.room.canonical_alias')?.content, { alias, alt_aliases: [extra] });
    assert.deepEqual(find(await state(s, alice, old), 'm.room.canonical_alias')?.content, {});
    assert.equal((await call(s, 'GET', `${V3}/directory/list/room/${enc(old)}`, alice))['visibility'], 'private');
    assert.equal((await call(s, 'GET', `${V3}/directory/list/room/${enc(replacement)}`, alice))['visibility'], 'public');
  });

  test('an upgrader below what the copied state needs is raised while copying, and the old levels are restored', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const old = await createRoom(s, alice, {
      preset: 'private_chat',
      invite: [bob.userId],
      power_level_content_override: {
        users: { [alice.userId]: 100, [bob.userId]: 60 },
        events: { 'm.room.tombstone': 60, 'm.room.power_levels': 100, 'm.room.server_acl': 100, 'm.room.name': 50 },
      },
      initial_state: [{ type: 'm.room.server_acl', content: { allow: ['*'], deny: [] } }],
    });
    await join(s, bob, old);
    const oldPl = find(await state(s, alice, old), 'm.room.power_levels')?.content;
    const replacement = await upgrade(s, bob, old, { new_version: '10' });
    const fresh = await state(s, bob, replacement);
    assert.deepEqual(find(fresh, 'm.room.power_levels')?.content, oldPl);
    assert.deepEqual(find(fresh, 'm.room.server_acl')?.content, { allow: ['*'], deny: [] });
    assert.equal(find(fresh, 'm.room.create')?.content['creator'], bob.userId);
    // Bob could not change the old room's power levels (he is below 100): the tombstone is there all the same.
    const after = await state(s, alice, old);
    assert.equal(find(after, 'm.room.tombstone')?.content['replacement_room'], replacement);
    assert.deepEqual(find(after, 'm.room.power_levels')?.content, oldPl);
  });

  test('into v12: additional_creators, creators out of power levels, room id from the create event; v12 -> v12 again', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const old = await createRoom(s, alice, { preset: 'public_chat', name: 'Twelve' });
    await join(s, bob, old);
    await call(s, 'PUT', `${V3}/rooms/${enc(old)}/state/m.room.power_levels`, alice, {
      ...(find(await state(s, alice, old), 'm.room.power_levels')?.content ?? {}),
      users: { [alice.userId]: 100, [bob.userId]: 50 },
    });
    const v12 = await upgrade(s, alice, old, { new_version: '12', additional_creators: [bob.userId] });
    assert.match(v12, /^![A-Za-z0-9_-]{43}$/, 'a v12 room id is the create event reference hash');
    const fresh = await state(s, alice, v12);
    const create = find(fresh, 'm.room.create');
    assert.equal(create?.content['room_version'], '12');
    assert.deepEqual(create?.content['additional_creators'], [bob.userId]);
    assert.equal((create?.content['predecessor'] as Record<string, unknown>)['room_id'], old);
    const users = find(fresh, 'm.room.power_levels')?.content['users'] as Record<string, unknown>;
    assert.equal(users[alice.userId], undefined);
    assert.equal(users[bob.userId], undefined);
    assert.equal(find(fresh, 'm.room.name')?.content['name'], 'Twelve');

    // Bob, an additional creator, can upgrade the v12 room again without any power level entry.
    await join(s, bob, v12);
    const again = await upgrade(s, bob, v12, { new_version: '12' });
    const twice = await state(s, bob, again);
    assert.equal(find(twice, 'm.room.create')?.sender, bob.userId);
    assert.equal(find(twice, 'm.room.create')?.content['additional_creators'], undefined);
    assert.equal(find(await state(s, alice, v12), 'm.room.tombstone')?.content['replacement_room'], again);

    // And back to v11: the upgrader gets a power level entry again.
    const back = await upgrade(s, bob, again, { new_version: '11' });
    const backPl = find(await state(s, bob, back), 'm.room.power_levels')?.content['users'] as Record<string, unknown>;
    assert.ok(typeof backPl[bob.userId] === 'number' && (backPl[bob.userId] as number) >= 100);
  });

  test('the same upgrade requested twice (at once or later) gives one replacement room', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const old = await createRoom(s, alice, {});
    const path = `${V3}/rooms/${enc(old)}/upgrade`;
    const [a, b] = await Promise.all([
      s.request('POST', path, { token: alice.accessToken, body: { new_version: '11' } }),
      s.request('POST', path, { token: alice.accessToken, body: { new_version: '11' } }),
    ]);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(b.status, 200, JSON.stringify(b.body));
    assert.equal((a.body as Record<string, unknown>)['replacement_room'], (b.body as Record<string, unknown>)['replacement_room']);
    const joined = await call(s, 'GET', `${V3}/joined_rooms`, alice);
    assert.equal((joined['joined_rooms'] as string[]).length, 2);
    // Later, the same request is still answered with the same room; another version makes a new one.
    const replacement = (a.body as Record<string, unknown>)['replacement_room'] as string;
    assert.equal(await upgrade(s, alice, old, { new_version: '11' }), replacement);
    const other = await upgrade(s, alice, old, { new_version: '10' });
    assert.notEqual(other, replacement);
    assert.equal(find(await state(s, alice, old), 'm.room.tombstone')?.content['replacement_room'], other);
  });

  test('refusals and bad input change nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const old = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, old);
    const path = `${V3}/rooms/${enc(old)}/upgrade`;
    await fails(s, 'POST', path, bob, { new_version: '11' }, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', path, carol, { new_version: '11' }, 403, 'M_FORBIDDEN');
    await fails(s, 'POST', path, alice, { new_version: '999' }, 400, 'M_UNSUPPORTED_ROOM_VERSION');
    await fails(s, 'POST', path, alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, { new_version: 11 }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, { new_version: '12', additional_creators: 'bob' }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, { new_version: '12', additional_creators: ['not a user'] }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', path, alice, [], 400, 'M_NOT_JSON');
    await fails(s, 'POST', path, undefined, { new_version: '11' }, 401, 'M_MISSING_TOKEN');
    await fails(s, 'POST', `${V3}/rooms/not-a-room/upgrade`, alice, { new_version: '11' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/rooms/${enc('!nowhere:test.local')}/upgrade`, alice, { new_version: '11' }, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', path, alice, undefined, 405, 'M_UNRECOGNIZED');

    assert.equal(find(await state(s, alice, old), 'm.room.tombstone'), undefined);
    const joined = await call(s, 'GET', `${V3}/joined_rooms`, alice);
    assert.deepEqual(joined['joined_rooms'], [old]);
    await invite(s, alice, old, carol.userId);
  });
});
