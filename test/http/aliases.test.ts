// Room aliases over real HTTP on each backend: /directory/room/{roomAlias}, /rooms/{roomId}/aliases, createRoom's
// room_alias_name, m.room.canonical_alias checks, and joining or knocking by alias.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, join, newUser, suiteServer } from '../rooms/client.ts';

let n = 0;
const uniqueAlias = (s: TestServer, name = 'room') => `#${name}${++n}_${process.pid}:${s.serverName}`;

async function resolve(s: TestServer, alias: string, user?: TestUser): Promise<Record<string, unknown>> {
  return call(s, 'GET', `${V3}/directory/room/${enc(alias)}`, user);
}

async function stateContent(s: TestServer, user: TestUser, roomId: string, type: string): Promise<Record<string, unknown>> {
  return call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/${enc(type)}/`, user);
}

async function aliasCount(s: TestServer): Promise<number> {
  const { rows } = await s.running.db.query<{ n: number }>('SELECT count(*) AS n FROM room_aliases');
  return Number(rows[0]?.n);
}

forEachBackend('room aliases over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('PUT creates an alias, GET resolves it (room_id and servers, without a token), /rooms/{roomId}/aliases lists it', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const alias = uniqueAlias(s);
    assert.deepEqual(await call(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, { room_id: roomId }), {});
    const resolved = await resolve(s, alias);
    assert.equal(resolved['room_id'], roomId);
    assert.deepEqual(resolved['servers'], [s.serverName]);
    const second = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(second)}`, alice, { room_id: roomId });
    const listed = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/aliases`, alice);
    assert.deepEqual(listed['aliases'], [alias, second]);
  });

  test('a taken alias is 409 M_UNKNOWN and keeps pointing where it did', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const first = await createRoom(s, alice);
    const other = await createRoom(s, alice);
    const alias = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, { room_id: first });
    await fails(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, { room_id: other }, 409, 'M_UNKNOWN');
    assert.equal((await resolve(s, alias))['room_id'], first);
  });

  test('PUT refusals: other server 400 M_INVALID_PARAM, unknown room 404, not joined 403, and nothing is stored', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice);
    const before = await aliasCount(s);
    await fails(s, 'PUT', `${V3}/directory/room/${enc('#elsewhere:other.example')}`, alice, { room_id: roomId }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(uniqueAlias(s))}`, alice, { room_id: `!nope:${s.serverName}` }, 404, 'M_NOT_FOUND');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(uniqueAlias(s))}`, bob, { room_id: roomId }, 403, 'M_FORBIDDEN');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(uniqueAlias(s))}`, undefined, { room_id: roomId }, 401, 'M_MISSING_TOKEN');
    assert.equal(await aliasCount(s), before);
  });

  test('bad input on every alias endpoint gets a Matrix error and changes nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const before = await aliasCount(s);
    const put = (alias: string, body: unknown) => s.request('PUT', `${V3}/directory/room/${enc(alias)}`, { token: alice.accessToken, body });
    for (const bad of ['nohash:test.local', '#nocolon', `#:${s.serverName}`, '#a:bad_host!', `#${'x'.repeat(260)}:${s.serverName}`, '#nul\u0000:test.local']) {
      await fails(s, 'PUT', `${V3}/directory/room/${enc(bad)}`, alice, { room_id: roomId }, 400, 'M_INVALID_PARAM');
      await fails(s, 'GET', `${V3}/directory/room/${enc(bad)}`, alice, undefined, 400, 'M_INVALID_PARAM');
      await fails(s, 'DELETE', `${V3}/directory/room/${enc(bad)}`, alice, undefined, 400, 'M_INVALID_PARAM');
      await fails(s, 'POST', `${V3}/join/${enc(bad)}`, alice, {}, 400, 'M_INVALID_PARAM');
    }
    const alias = uniqueAlias(s);
    assert.equal((await put(alias, {})).status, 400);
    await fails(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, { room_id: 7 }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, { room_id: 'not-a-room' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, '[1]', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, '{bad json', 400, 'M_NOT_JSON');
    await fails(s, 'POST', `${V3}/directory/room/${enc(alias)}`, alice, {}, 405, 'M_UNRECOGNIZED');
    await fails(s, 'GET', `${V3}/rooms/${enc('not-a-room')}/aliases`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/aliases`, undefined, undefined, 401, 'M_MISSING_TOKEN');
    assert.equal(await aliasCount(s), before);
  });

  test('unknown and remote aliases are 404 M_NOT_FOUND, for GET, DELETE, join and knock', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const unknown = uniqueAlias(s);
    await fails(s, 'GET', `${V3}/directory/room/${enc(unknown)}`, undefined, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${V3}/directory/room/${enc('#far:remote.example')}`, undefined, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'DELETE', `${V3}/directory/room/${enc(unknown)}`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', `${V3}/join/${enc(unknown)}`, alice, {}, 404, 'M_NOT_FOUND');
    await fails(s, 'POST', `${V3}/knock/${enc(unknown)}`, alice, {}, 404, 'M_NOT_FOUND');
  });

  test('DELETE: the creator or a room moderator may delete; others get 403; the canonical alias stops listing it', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, carol, roomId);
    const mine = uniqueAlias(s);
    const bobs = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(mine)}`, alice, { room_id: roomId });
    await call(s, 'PUT', `${V3}/directory/room/${enc(bobs)}`, bob, { room_id: roomId });
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.canonical_alias/`, alice, { alias: mine, alt_aliases: [bobs] });

    // carol (power 0) neither created it nor may change the canonical alias.
    await fails(s, 'DELETE', `${V3}/directory/room/${enc(mine)}`, carol, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'DELETE', `${V3}/directory/room/${enc(mine)}`, undefined, undefined, 401, 'M_MISSING_TOKEN');
    assert.equal((await resolve(s, mine))['room_id'], roomId);
    // bob may delete the one he created; alice (power 100) may delete anyone's.
    const bobsOther = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(bobsOther)}`, bob, { room_id: roomId });
    assert.deepEqual(await call(s, 'DELETE', `${V3}/directory/room/${enc(bobs)}`, bob), {});
    await call(s, 'DELETE', `${V3}/directory/room/${enc(bobsOther)}`, alice);
    await call(s, 'DELETE', `${V3}/directory/room/${enc(mine)}`, alice);
    await fails(s, 'GET', `${V3}/directory/room/${enc(mine)}`, undefined, undefined, 404, 'M_NOT_FOUND');
    const listed = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/aliases`, alice);
    assert.deepEqual(listed['aliases'], []);
    // bob (power 0) may not change the canonical alias event, so it still lists his alias; alice's is gone from it.
    assert.deepEqual(await stateContent(s, alice, roomId, 'm.room.canonical_alias'), { alt_aliases: [bobs] });
  });

  test('GET /rooms/{roomId}/aliases: members only, unless the room is world_readable', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice);
    const alias = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(alias)}`, alice, { room_id: roomId });
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/aliases`, bob, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${V3}/rooms/${enc(`!unknown:${s.serverName}`)}/aliases`, bob, undefined, 403, 'M_FORBIDDEN');
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.history_visibility/`, alice, { history_visibility: 'world_readable' });
    assert.deepEqual((await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/aliases`, bob))['aliases'], [alias]);
  });

  test('createRoom room_alias_name: the alias maps to the room and is its canonical alias; taken is 400 M_ROOM_IN_USE', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const name = `tea${++n}_${process.pid}`;
    const roomId = await createRoom(s, alice, { room_alias_name: name });
    const alias = `#${name}:${s.serverName}`;
    assert.equal((await resolve(s, alias))['room_id'], roomId);
    assert.equal((await stateContent(s, alice, roomId, 'm.room.canonical_alias'))['alias'], alias);

    const roomsBefore = (await s.running.db.query<{ n: number }>('SELECT count(*) AS n FROM rooms')).rows[0]?.n;
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_alias_name: name }, 400, 'M_ROOM_IN_USE');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_alias_name: 'a:b' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_alias_name: '' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_alias_name: 'x'.repeat(300) }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', `${V3}/createRoom`, alice, { room_alias_name: 5 }, 400, 'M_BAD_JSON');
    const roomsAfter = (await s.running.db.query<{ n: number }>('SELECT count(*) AS n FROM rooms')).rows[0]?.n;
    assert.equal(roomsAfter, roomsBefore);
  });

  test('m.room.canonical_alias: new aliases must be valid (M_INVALID_PARAM) and point to the room (M_BAD_ALIAS)', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    const other = await createRoom(s, alice);
    const ours = uniqueAlias(s);
    const theirs = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(ours)}`, alice, { room_id: roomId });
    await call(s, 'PUT', `${V3}/directory/room/${enc(theirs)}`, alice, { room_id: other });
    const path = `${V3}/rooms/${enc(roomId)}/state/m.room.canonical_alias/`;
    await fails(s, 'PUT', path, alice, { alias: theirs }, 400, 'M_BAD_ALIAS');
    await fails(s, 'PUT', path, alice, { alias: ours, alt_aliases: [theirs] }, 400, 'M_BAD_ALIAS');
    await fails(s, 'PUT', path, alice, { alias: uniqueAlias(s) }, 400, 'M_BAD_ALIAS');
    await fails(s, 'PUT', path, alice, { alias: '#far:remote.example' }, 400, 'M_BAD_ALIAS');
    await fails(s, 'PUT', path, alice, { alias: 'not an alias' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', path, alice, { alt_aliases: 'nope' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', path, alice, { alias: 12 }, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', path, alice, undefined, 404, 'M_NOT_FOUND');
    await call(s, 'PUT', path, alice, { alias: ours, alt_aliases: [ours] });
    // Deleting the alias takes it out of the event (alice may change it); adding it back is then a new, bad alias.
    await call(s, 'DELETE', `${V3}/directory/room/${enc(ours)}`, alice);
    assert.deepEqual(await stateContent(s, alice, roomId, 'm.room.canonical_alias'), { alt_aliases: [] });
    await fails(s, 'PUT', path, alice, { alias: ours }, 400, 'M_BAD_ALIAS');
    await call(s, 'PUT', path, alice, {});
  });

  test('m.room.canonical_alias: aliases already in the event are not checked again', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const bobs = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(bobs)}`, bob, { room_id: roomId });
    const path = `${V3}/rooms/${enc(roomId)}/state/m.room.canonical_alias/`;
    await call(s, 'PUT', path, alice, { alias: bobs });
    // bob may delete his alias but not change the event, so it still names the alias, which no longer exists.
    await call(s, 'DELETE', `${V3}/directory/room/${enc(bobs)}`, bob);
    assert.equal((await stateContent(s, alice, roomId, 'm.room.canonical_alias'))['alias'], bobs);
    await call(s, 'PUT', path, alice, { alias: bobs, alt_aliases: [bobs] });
  });

  test('moveAliases (for room upgrades) points every alias of one room at another', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const oldRoom = await createRoom(s, alice);
    const newRoom = await createRoom(s, alice);
    const a = uniqueAlias(s);
    const b = uniqueAlias(s);
    await call(s, 'PUT', `${V3}/directory/room/${enc(a)}`, alice, { room_id: oldRoom });
    await call(s, 'PUT', `${V3}/directory/room/${enc(b)}`, alice, { room_id: oldRoom });
    const { PostgresRoomAliasStore } = await import('../../src/storage/aliases.ts');
    const moved = await new PostgresRoomAliasStore(s.running.db).moveAliases(oldRoom, newRoom);
    assert.deepEqual(moved, [a, b].sort());
    assert.equal((await resolve(s, a))['room_id'], newRoom);
    assert.deepEqual((await call(s, 'GET', `${V3}/rooms/${enc(oldRoom)}/aliases`, alice))['aliases'], []);
  });

  test('joining and knocking by a local alias', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const pub = await createRoom(s, alice, { preset: 'public_chat', room_alias_name: `pub${++n}_${process.pid}` });
    const pubAlias = `#pub${n}_${process.pid}:${s.serverName}`;
    const joined = await call(s, 'POST', `${V3}/join/${enc(pubAlias)}`, bob, {});
    assert.equal(joined['room_id'], pub);
    assert.deepEqual((await call(s, 'GET', `${V3}/joined_rooms`, bob))['joined_rooms'], [pub]);

    const knockable = await createRoom(s, alice, {
      room_version: '10',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }],
    });
    const knockAlias = uniqueAlias(s, 'knock');
    await call(s, 'PUT', `${V3}/directory/room/${enc(knockAlias)}`, alice, { room_id: knockable });
    const knocked = await call(s, 'POST', `${V3}/knock/${enc(knockAlias)}`, carol, { reason: 'let me in' });
    assert.equal(knocked['room_id'], knockable);
    const member = await call(s, 'GET', `${V3}/rooms/${enc(knockable)}/state/m.room.member/${enc(carol.userId)}`, alice);
    assert.equal(member['membership'], 'knock');
    // A bad body after a good alias changes nothing.
    await fails(s, 'POST', `${V3}/join/${enc(knockAlias)}`, carol, { reason: 5 }, 400, 'M_BAD_JSON');
  });
});
