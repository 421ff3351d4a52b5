// Profile changes reach member events: a new displayname or avatar_url is sent as a new m.room.member join event
// into every room the user is joined to, and one room failing does not fail the profile request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, invite, join, newUser, suiteServer, type ClientEvent } from '../rooms/client.ts';

async function memberEvent(s: TestServer, viewer: TestUser, roomId: string, userId: string): Promise<Record<string, unknown>> {
  return call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`, viewer);
}

/** The current member event's id (format=event; the spec's oneOf cannot tell its two forms apart, so no schema check). */
async function memberEventId(s: TestServer, viewer: TestUser, roomId: string, userId: string): Promise<string> {
  const res = await s.request('GET', `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}?format=event`, { token: viewer.accessToken });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { event_id: string }).event_id;
}

async function membersOf(s: TestServer, viewer: TestUser, roomId: string): Promise<ClientEvent[]> {
  const res = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/members`, viewer);
  return res['chunk'] as ClientEvent[];
}

async function setProfile(s: TestServer, user: TestUser, field: string, value: string): Promise<void> {
  await call(s, 'PUT', `${V3}/profile/${enc(user.userId)}/${field}`, user, { [field]: value });
}

forEachBackend('profile changes in member events over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('a new displayname and avatar_url are seen by other members in every joined room', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const first = await createRoom(s, alice, { preset: 'public_chat' });
    const second = await createRoom(s, bob, {});
    await invite(s, bob, second, alice.userId);
    await join(s, alice, second);
    await join(s, bob, first);
    const left = await createRoom(s, alice, {});
    await call(s, 'POST', `${V3}/rooms/${enc(left)}/leave`, alice, {});

    await setProfile(s, alice, 'displayname', 'Alice Liddell');
    for (const roomId of [first, second]) {
      const content = await memberEvent(s, bob, roomId, alice.userId);
      assert.equal(content['membership'], 'join');
      assert.equal(content['displayname'], 'Alice Liddell');
      const members = await membersOf(s, bob, roomId);
      assert.equal(members.find((m) => m.state_key === alice.userId)?.content['displayname'], 'Alice Liddell');
    }
    await setProfile(s, alice, 'avatar_url', 'mxc://test.local/rabbit');
    const content = await memberEvent(s, bob, second, alice.userId);
    assert.equal(content['displayname'], 'Alice Liddell');
    assert.equal(content['avatar_url'], 'mxc://test.local/rabbit');
    const joined = await call(s, 'GET', `${V3}/rooms/${enc(first)}/joined_members`, bob);
    assert.deepEqual((joined['joined'] as Record<string, unknown>)[alice.userId], { display_name: 'Alice Liddell', avatar_url: 'mxc://test.local/rabbit' });

    // The room alice left gets no join event from her profile change.
    const leftMember = await memberEvent(s, alice, left, alice.userId);
    assert.equal(leftMember['membership'], 'leave');
    assert.equal(leftMember['displayname'], undefined);
  });

  test('deleting the displayname removes it from the member events; other profile fields send nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await setProfile(s, alice, 'displayname', 'Temporary');
    const before = await memberEventId(s, bob, roomId, alice.userId);
    await call(s, 'PUT', `${V3}/profile/${enc(alice.userId)}/m.tz`, alice, { 'm.tz': 'Europe/London' });
    const unchanged = await memberEventId(s, bob, roomId, alice.userId);
    assert.equal(unchanged, before);

    await call(s, 'DELETE', `${V3}/profile/${enc(alice.userId)}/displayname`, alice);
    const content = await memberEvent(s, bob, roomId, alice.userId);
    assert.equal(content['membership'], 'join');
    assert.equal(content['displayname'], undefined);
    const members = await membersOf(s, bob, roomId);
    assert.equal(members.find((m) => m.state_key === alice.userId)?.content['displayname'], undefined);
  });

  test('a room that refuses the new member event does not fail the profile request nor the other rooms', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    // A joined membership in a room this server does not know: sending into it fails.
    await s.running.db.query(
      `INSERT INTO local_memberships (user_id, room_id, membership, event_id, stream_ordering) VALUES ($1, '!ghost:test.local', 'join', '$ghost', 0)`,
      [alice.userId],
    );
    await setProfile(s, alice, 'displayname', 'Still Alice');
    const content = await memberEvent(s, bob, roomId, alice.userId);
    assert.equal(content['displayname'], 'Still Alice');
    const profile = await call(s, 'GET', `${V3}/profile/${enc(alice.userId)}`, alice);
    assert.equal(profile['displayname'], 'Still Alice');
  });

  test('bad input: a rejected profile change sends no member event', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const before = await memberEventId(s, bob, roomId, alice.userId);
    const bad = await s.request('PUT', `${V3}/profile/${enc(alice.userId)}/displayname`, { token: alice.accessToken, body: { displayname: 42 } });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { errcode: string }).errcode, 'M_BAD_JSON');
    const other = await s.request('PUT', `${V3}/profile/${enc(alice.userId)}/displayname`, { token: bob.accessToken, body: { displayname: 'Mallory' } });
    assert.equal(other.status, 403);
    assert.equal((other.body as { errcode: string }).errcode, 'M_FORBIDDEN');
    const after = await memberEventId(s, bob, roomId, alice.userId);
    assert.equal(after, before);
  });
});
