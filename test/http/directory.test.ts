// The published room directory over real HTTP on each backend: GET/POST /publicRooms (search, room types, paging,
// other networks) and GET/PUT /directory/list/room/{roomId}.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, join, newUser, suiteServer } from '../rooms/client.ts';

type Chunk = {
  room_id: string;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  avatar_url?: string;
  join_rule?: string;
  room_type?: string;
};

async function publicRooms(s: TestServer, user: TestUser, body: Record<string, unknown>): Promise<{ chunk: Chunk[]; next_batch?: string; prev_batch?: string; total_room_count_estimate?: number }> {
  return (await call(s, 'POST', `${V3}/publicRooms`, user, body)) as never;
}

async function published(s: TestServer): Promise<number> {
  const { rows } = await s.running.db.query<{ n: number }>('SELECT count(*) AS n FROM rooms WHERE is_public');
  return Number(rows[0]?.n);
}

let n = 0;

forEachBackend('published room directory over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('createRoom visibility=public lists the room with the fields the spec names; GET works without a token', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const word = `zebra${++n}x${process.pid}`;
    const aliasName = `dir${n}_${process.pid}`;
    const roomId = await createRoom(s, alice, {
      visibility: 'public',
      preset: 'public_chat',
      name: `The ${word} room`,
      topic: 'Stripes',
      room_alias_name: aliasName,
      initial_state: [
        { type: 'm.room.avatar', content: { url: 'mxc://test.local/zebra' } },
        { type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } },
        { type: 'm.room.guest_access', content: { guest_access: 'can_join' } },
      ],
    });
    await join(s, bob, roomId);
    const privateRoom = await createRoom(s, alice, { name: `The ${word} private room` });

    const res = await call(s, 'GET', `${V3}/publicRooms`, undefined);
    const chunk = (res['chunk'] as Chunk[]).find((c) => c.room_id === roomId);
    assert.deepEqual(chunk, {
      room_id: roomId,
      name: `The ${word} room`,
      topic: 'Stripes',
      canonical_alias: `#${aliasName}:${s.serverName}`,
      num_joined_members: 2,
      world_readable: true,
      guest_can_join: true,
      avatar_url: 'mxc://test.local/zebra',
      join_rule: 'public',
    });
    assert.equal((res['chunk'] as Chunk[]).some((c) => c.room_id === privateRoom), false);
    await call(s, 'GET', `${V3}/directory/list/room/${enc(roomId)}`, undefined).then((v) => assert.deepEqual(v, { visibility: 'public' }));
    await call(s, 'GET', `${V3}/directory/list/room/${enc(privateRoom)}`, undefined).then((v) => assert.deepEqual(v, { visibility: 'private' }));
  });

  test('filter.generic_search_term matches name, topic and alias, case-insensitively; room_types filters by type', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const word = `okapi${++n}y${process.pid}`;
    const byName = await createRoom(s, alice, { visibility: 'public', name: `All about ${word.toUpperCase()}` });
    const byTopic = await createRoom(s, alice, { visibility: 'public', topic: `we discuss ${word} daily` });
    const byAlias = await createRoom(s, alice, { visibility: 'public', room_alias_name: `${word}-alias` });
    const space = await createRoom(s, alice, { visibility: 'public', name: `${word} space`, creation_content: { type: 'm.space' } });
    await createRoom(s, alice, { visibility: 'public', name: 'unrelated' });

    const found = await publicRooms(s, alice, { filter: { generic_search_term: word } });
    assert.deepEqual(found.chunk.map((c) => c.room_id).sort(), [byName, byTopic, byAlias, space].sort());
    assert.equal(found.chunk.find((c) => c.room_id === space)?.room_type, 'm.space');
    const spaces = await publicRooms(s, alice, { filter: { generic_search_term: word, room_types: ['m.space'] } });
    assert.deepEqual(spaces.chunk.map((c) => c.room_id), [space]);
    const plain = await publicRooms(s, alice, { filter: { generic_search_term: word, room_types: [null] } });
    assert.deepEqual(plain.chunk.map((c) => c.room_id).sort(), [byName, byTopic, byAlias].sort());
    const none = await publicRooms(s, alice, { filter: { generic_search_term: `${word}-nothing` } });
    assert.deepEqual(none.chunk, []);
  });

  test('search: LIKE wildcards and quotes are plain text; a redacted name is neither shown nor searched', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const word = `lemur${++n}q${process.pid}`;
    const percent = await createRoom(s, alice, { visibility: 'public', name: `${word} 100% fun` });
    const underscore = await createRoom(s, alice, { visibility: 'public', topic: `${word} snake_case "quoted"` });
    const redacted = await createRoom(s, alice, { visibility: 'public', name: `${word} secret` });
    const ids = async (term: string) => (await publicRooms(s, alice, { filter: { generic_search_term: term } })).chunk.map((c) => c.room_id);
    assert.deepEqual(await ids(`${word} 100%`), [percent]);
    assert.deepEqual(await ids('0% F'), [percent]);
    assert.deepEqual(await ids(`${word} 1_0`), []);
    assert.deepEqual(await ids('snake_case'), [underscore]);
    assert.deepEqual(await ids('e_c'), [underscore]);
    assert.deepEqual(await ids('"QUOTED"'), [underscore]);
    assert.deepEqual(await ids(redacted.slice(1, 8)), [redacted]);

    const nameEvent = await s.request('GET', `${V3}/rooms/${enc(redacted)}/state/m.room.name/?format=event`, { token: alice.accessToken });
    const nameEventId = (nameEvent.body as { event_id: string }).event_id;
    await call(s, 'PUT', `${V3}/rooms/${enc(redacted)}/redact/${enc(nameEventId)}/r${n}`, alice, {});
    assert.deepEqual(await ids(`${word} secret`), []);
    const listed = (await publicRooms(s, alice, { limit: 500 })).chunk.find((c) => c.room_id === redacted);
    assert.equal(listed?.name, undefined);
    assert.equal(listed?.num_joined_members, 1);
  });

  test('pagination: limit, next_batch and prev_batch walk the whole list in a stable order (GET and POST)', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const word = `gnu${++n}z${process.pid}`;
    const rooms: string[] = [];
    for (let i = 0; i < 5; i++) rooms.push(await createRoom(s, alice, { visibility: 'public', name: `${word} ${i}` }));
    // The biggest room comes first.
    const bob = await newUser(s, 'bob');
    const big = rooms[3] as string;
    await call(s, 'POST', `${V3}/rooms/${enc(big)}/invite`, alice, { user_id: bob.userId });
    await join(s, bob, big);

    const seen: string[] = [];
    let page = await publicRooms(s, alice, { limit: 2, filter: { generic_search_term: word } });
    assert.equal(page.prev_batch, undefined);
    assert.equal(page.total_room_count_estimate, 5);
    const pages = [page];
    while (page.next_batch !== undefined) {
      seen.push(...page.chunk.map((c) => c.room_id));
      page = await publicRooms(s, alice, { limit: 2, since: page.next_batch, filter: { generic_search_term: word } });
      pages.push(page);
    }
    seen.push(...page.chunk.map((c) => c.room_id));
    assert.equal(pages.length, 3);
    assert.equal(seen[0], big);
    assert.deepEqual([...seen].sort(), [...rooms].sort());
    // prev_batch goes back one page.
    const back = await publicRooms(s, alice, { limit: 2, since: page.prev_batch as string, filter: { generic_search_term: word } });
    assert.deepEqual(back.chunk, pages[1]?.chunk);

    // GET with limit only (no filter): the same paging over every published room.
    const all = await published(s);
    const first = await call(s, 'GET', `${V3}/publicRooms?limit=1`, alice);
    assert.equal((first['chunk'] as Chunk[]).length, 1);
    if (all > 1) {
      const second = await call(s, 'GET', `${V3}/publicRooms?limit=1&since=${enc(first['next_batch'] as string)}`, undefined);
      assert.notEqual((second['chunk'] as Chunk[])[0]?.room_id, (first['chunk'] as Chunk[])[0]?.room_id);
      assert.equal(typeof second['prev_batch'], 'string');
    }
  });

  test('other networks: include_all_networks lists the local rooms, a third_party_instance_id lists none', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const word = `yak${++n}w${process.pid}`;
    const roomId = await createRoom(s, alice, { visibility: 'public', name: word });
    const all = await publicRooms(s, alice, { include_all_networks: true, filter: { generic_search_term: word } });
    assert.deepEqual(all.chunk.map((c) => c.room_id), [roomId]);
    const irc = await publicRooms(s, alice, { third_party_instance_id: 'irc-example', filter: { generic_search_term: word } });
    assert.deepEqual(irc.chunk, []);
    const ours = await call(s, 'GET', `${V3}/publicRooms?server=${s.serverName}`, alice);
    assert.ok((ours['chunk'] as Chunk[]).some((c) => c.room_id === roomId));
  });

  test('PUT /directory/list/room: room admins publish and unpublish; others get 403; empty rooms are not listed', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const word = `ibex${++n}v${process.pid}`;
    const roomId = await createRoom(s, alice, { preset: 'public_chat', name: word });
    await join(s, bob, roomId);
    const search = async () => (await publicRooms(s, alice, { filter: { generic_search_term: word } })).chunk.map((c) => c.room_id);
    assert.deepEqual(await search(), []);

    await fails(s, 'PUT', `${V3}/directory/list/room/${enc(roomId)}`, bob, { visibility: 'public' }, 403, 'M_FORBIDDEN');
    assert.deepEqual(await call(s, 'GET', `${V3}/directory/list/room/${enc(roomId)}`, bob), { visibility: 'private' });
    // Visibility defaults to public.
    assert.deepEqual(await call(s, 'PUT', `${V3}/directory/list/room/${enc(roomId)}`, alice, {}), {});
    assert.deepEqual(await search(), [roomId]);
    await fails(s, 'PUT', `${V3}/directory/list/room/${enc(roomId)}`, bob, { visibility: 'private' }, 403, 'M_FORBIDDEN');
    assert.deepEqual(await search(), [roomId]);

    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, bob, {});
    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, alice, {});
    assert.deepEqual(await search(), []);
    assert.deepEqual(await call(s, 'GET', `${V3}/directory/list/room/${enc(roomId)}`, bob), { visibility: 'public' });

    const other = await createRoom(s, alice, { visibility: 'public', name: word });
    assert.deepEqual(await search(), [other]);
    await call(s, 'PUT', `${V3}/directory/list/room/${enc(other)}`, alice, { visibility: 'private' });
    assert.deepEqual(await search(), []);
  });

  test('bad input on every directory endpoint gets a Matrix error and changes nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const before = await published(s);
    const list = `${V3}/directory/list/room/${enc(roomId)}`;
    await fails(s, 'PUT', list, alice, { visibility: 'secret' }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', list, alice, { visibility: 1 }, 400, 'M_BAD_JSON');
    await fails(s, 'PUT', list, alice, '[]', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', list, alice, '{oops', 400, 'M_NOT_JSON');
    await fails(s, 'PUT', list, undefined, { visibility: 'public' }, 401, 'M_MISSING_TOKEN');
    await fails(s, 'PUT', `${V3}/directory/list/room/${enc('bad-room')}`, alice, { visibility: 'public' }, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${V3}/directory/list/room/${enc('bad-room')}`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${V3}/directory/list/room/${enc(`!unknown:${s.serverName}`)}`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'PUT', `${V3}/directory/list/room/${enc(`!unknown:${s.serverName}`)}`, alice, { visibility: 'public' }, 404, 'M_NOT_FOUND');
    await fails(s, 'DELETE', list, alice, undefined, 405, 'M_UNRECOGNIZED');

    for (const q of ['limit=-1', 'limit=abc', 'limit=1.5', 'since=garbage', 'since=o-1', 'server=bad%20server', 'server=other.example']) {
      await fails(s, 'GET', `${V3}/publicRooms?${q}`, alice, undefined, 400, 'M_INVALID_PARAM');
    }
    const bad: [unknown, string][] = [
      [{ limit: 'ten' }, 'M_BAD_JSON'],
      [{ limit: -1 }, 'M_BAD_JSON'],
      [{ limit: 1.5 }, 'M_BAD_JSON'],
      [{ since: 4 }, 'M_BAD_JSON'],
      [{ since: 'p7' }, 'M_INVALID_PARAM'],
      [{ filter: 'x' }, 'M_BAD_JSON'],
      [{ filter: { generic_search_term: 3 } }, 'M_BAD_JSON'],
      [{ filter: { room_types: 'm.space' } }, 'M_BAD_JSON'],
      [{ filter: { room_types: [3] } }, 'M_BAD_JSON'],
      [{ include_all_networks: 'yes' }, 'M_BAD_JSON'],
      [{ include_all_networks: true, third_party_instance_id: 'irc' }, 'M_INVALID_PARAM'],
      ['[]', 'M_NOT_JSON'],
    ];
    for (const [body, errcode] of bad) await fails(s, 'POST', `${V3}/publicRooms`, alice, body, 400, errcode);
    await fails(s, 'POST', `${V3}/publicRooms`, undefined, {}, 401, 'M_MISSING_TOKEN');
    await fails(s, 'GET', `${V3}/publicRooms`, { ...alice, accessToken: 'not-a-token' }, undefined, 401, 'M_UNKNOWN_TOKEN');
    await fails(s, 'PUT', `${V3}/publicRooms`, alice, {}, 405, 'M_UNRECOGNIZED');
    assert.equal(await published(s), before);
  });
});
