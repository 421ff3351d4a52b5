// POST /user_directory/search over real HTTP on each backend: who is visible (shared rooms, public rooms,
// world_readable rooms), case-insensitive matching on user id and display name, limit/limited, bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, invite, join, newUser, suiteServer } from '../rooms/client.ts';

const SEARCH = `${V3}/user_directory/search`;

interface Result {
  user_id: string;
  display_name?: string;
  avatar_url?: string;
}

async function search(s: TestServer, user: TestUser, body: Record<string, unknown>): Promise<{ results: Result[]; limited: boolean }> {
  return (await call(s, 'POST', SEARCH, user, body)) as unknown as { results: Result[]; limited: boolean };
}

async function named(s: TestServer, name: string, displayname?: string, avatar?: string): Promise<TestUser> {
  const user = await newUser(s, name);
  if (displayname !== undefined) await call(s, 'PUT', `${V3}/profile/${enc(user.userId)}/displayname`, user, { displayname });
  if (avatar !== undefined) await call(s, 'PUT', `${V3}/profile/${enc(user.userId)}/avatar_url`, user, { avatar_url: avatar });
  return user;
}

const ids = (r: { results: Result[] }) => r.results.map((x) => x.user_id).sort();

forEachBackend('user directory over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('finds users in shared, public and world_readable rooms, and no one else', async () => {
    const s = server();
    const tag = `q${process.pid}x${Date.now().toString(36)}`;
    const alice = await named(s, 'alice', `Alice ${tag}`);
    const bob = await named(s, 'bob', `Bob ${tag.toUpperCase()}`, 'mxc://test.local/bob');
    const carol = await named(s, 'carol', `Carol ${tag}`);
    const dave = await named(s, 'dave', `Dave ${tag}`);
    const erin = await named(s, 'erin', `Erin ${tag}`);
    const frank = await named(s, 'frank', `Frank ${tag}`);

    const shared = await createRoom(s, alice, {});
    await invite(s, alice, shared, bob.userId);
    await join(s, bob, shared);
    await createRoom(s, carol, { preset: 'public_chat' });
    await createRoom(s, dave, {}); // private, not shared
    await createRoom(s, erin, { initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }] });
    const invitedOnly = await createRoom(s, frank, {});
    await invite(s, frank, invitedOnly, alice.userId); // an invite is not sharing a room

    const found = await search(s, alice, { search_term: tag });
    assert.deepEqual(ids(found), [alice.userId, bob.userId, carol.userId, erin.userId].sort());
    assert.equal(found.limited, false);
    const bobResult = found.results.find((r) => r.user_id === bob.userId);
    assert.deepEqual(bobResult, { user_id: bob.userId, display_name: `Bob ${tag.toUpperCase()}`, avatar_url: 'mxc://test.local/bob' });

    // Dave sees the public and world_readable rooms' members, and himself, not alice's private room.
    assert.deepEqual(ids(await search(s, dave, { search_term: tag })), [carol.userId, dave.userId, erin.userId].sort());

    // Leaving the shared room hides bob from alice (he is in no public room).
    await call(s, 'POST', `${V3}/rooms/${enc(shared)}/leave`, bob, {});
    assert.deepEqual(ids(await search(s, alice, { search_term: tag })), [alice.userId, carol.userId, erin.userId].sort());
  });

  test('matches user ids and display names case-insensitively, ranks exact names first, honours limit', async () => {
    const s = server();
    const tag = `m${process.pid}y${Date.now().toString(36)}`;
    const alice = await named(s, 'alice', 'Plain');
    const room = await createRoom(s, alice, { preset: 'public_chat' });
    const members: TestUser[] = [];
    for (const [i, name] of ['Zed', 'Yan', 'Xu'].entries()) {
      const u = await named(s, `${tag}n${i}`, `${name} ${i}`);
      await join(s, u, room);
      members.push(u);
    }
    const exact = await named(s, 'exact', tag.toUpperCase());
    await join(s, exact, room);

    // By user id (the localpart contains the tag), in upper case.
    const byId = await search(s, alice, { search_term: tag.toUpperCase(), limit: 50 });
    assert.deepEqual(ids(byId), [...members.map((m) => m.userId), exact.userId].sort());
    assert.equal(byId.results[0]?.user_id, exact.userId, 'the exact display name match comes first');
    // By display name, lower case.
    const byName = await search(s, alice, { search_term: 'yan 1' });
    assert.deepEqual(ids(byName), [members[1]?.userId]);

    const limited = await search(s, alice, { search_term: tag, limit: 2 });
    assert.equal(limited.results.length, 2);
    assert.equal(limited.limited, true);
    const exactLimit = await search(s, alice, { search_term: tag, limit: 4 });
    assert.equal(exactLimit.results.length, 4);
    assert.equal(exactLimit.limited, false);
    const zero = await search(s, alice, { search_term: tag, limit: 0 });
    assert.deepEqual(zero, { results: [], limited: true });

    // LIKE's own characters are literal.
    assert.deepEqual((await search(s, alice, { search_term: '%' })).results, []);
    assert.deepEqual((await search(s, alice, { search_term: '_' })).results.filter((r) => !r.user_id.includes('_')), []);
    assert.deepEqual((await search(s, alice, { search_term: '\\' })).results, []);
  });

  test('a member without a local account is shown with the profile of their join event', async () => {
    const s = server();
    const tag = `r${process.pid}z${Date.now().toString(36)}`;
    const alice = await named(s, 'alice');
    const room = await createRoom(s, alice, { preset: 'public_chat' });
    // No federation yet: a remote member's join is written straight into storage, as a received event would be.
    const remote = `@${tag}:remote.example`;
    const eventId = `$${tag}remotejoin`;
    const { rows } = await s.running.db.query<{ max: string }>('SELECT max(stream_ordering)::text AS max FROM events');
    const ordering = Number(rows[0]?.max ?? 0) + 1_000_000;
    const pdu = { type: 'm.room.member', state_key: remote, sender: remote, room_id: room, content: { membership: 'join', displayname: `Far ${tag}`, avatar_url: 'mxc://remote.example/x' } };
    await s.running.db.query(
      `INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts, pdu)
       VALUES ($1, $2, $3, 'm.room.member', $4, $4, 100, 0, $5)`,
      [ordering, eventId, room, remote, JSON.stringify(pdu)],
    );
    await s.running.db.query(
      `INSERT INTO current_state (room_id, type, state_key, event_id, stream_ordering, membership) VALUES ($1, 'm.room.member', $2, $3, $4, 'join')`,
      [room, remote, eventId, ordering],
    );
    const found = await search(s, alice, { search_term: `far ${tag}` });
    assert.deepEqual(found.results, [{ user_id: remote, display_name: `Far ${tag}`, avatar_url: 'mxc://remote.example/x' }]);
  });

  test('bad input: Matrix errors, never a 500', async () => {
    const s = server();
    const alice = await named(s, 'alice');
    await fails(s, 'POST', SEARCH, alice, {}, 400, 'M_BAD_JSON');
    await fails(s, 'POST', SEARCH, alice, { search_term: 7 }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', SEARCH, alice, { search_term: 'a', limit: 'ten' }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', SEARCH, alice, { search_term: 'a', limit: 1.5 }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', SEARCH, alice, { search_term: 'a', limit: -1 }, 400, 'M_INVALID_PARAM');
    await fails(s, 'POST', SEARCH, alice, { search_term: 'a\u0000b' }, 400, 'M_BAD_JSON');
    await fails(s, 'POST', SEARCH, alice, [], 400, 'M_NOT_JSON');
    const notJson = await s.request('POST', SEARCH, { token: alice.accessToken, body: '{nope' });
    assert.equal(notJson.status, 400);
    assert.equal((notJson.body as { errcode: string }).errcode, 'M_NOT_JSON');
    await fails(s, 'POST', SEARCH, undefined, { search_term: 'a' }, 401, 'M_MISSING_TOKEN');
    await fails(s, 'GET', SEARCH, alice, undefined, 405, 'M_UNRECOGNIZED');
    // A huge limit is served, capped.
    const big = await search(s, alice, { search_term: 'zzzz-nobody', limit: 2 ** 40 });
    assert.deepEqual(big, { results: [], limited: false });
  });
});
