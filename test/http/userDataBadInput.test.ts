// A corpus of bad requests against every per-user data endpoint, on each backend: each gets a Matrix error (4xx
// with an M_ errcode), never a 500, and none of them stores anything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, createRoom, enc, join, newUser, sendMessage, suiteServer } from '../rooms/client.ts';

interface Endpoint {
  method: string;
  path: (p: { room: string; event: string; user: string }) => string;
  /** A body is expected (object). */
  body: boolean;
  /** A body of the right shape with wrongly typed fields. */
  wrong?: unknown;
  /** A body that would succeed (used with bad path parameters, so that only they are wrong). */
  good?: unknown;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'PUT', path: (p) => `${V3}/user/${p.user}/account_data/org.example.x`, body: true, good: { x: 1 } },
  { method: 'GET', path: (p) => `${V3}/user/${p.user}/account_data/org.example.x`, body: false },
  { method: 'PUT', path: (p) => `${V3}/user/${p.user}/rooms/${p.room}/account_data/org.example.x`, body: true, good: { x: 1 } },
  { method: 'GET', path: (p) => `${V3}/user/${p.user}/rooms/${p.room}/account_data/org.example.x`, body: false },
  { method: 'GET', path: (p) => `${V3}/user/${p.user}/rooms/${p.room}/tags`, body: false },
  { method: 'PUT', path: (p) => `${V3}/user/${p.user}/rooms/${p.room}/tags/u.tag`, body: true, wrong: { order: 'first' }, good: { order: 0.5 } },
  { method: 'DELETE', path: (p) => `${V3}/user/${p.user}/rooms/${p.room}/tags/u.tag`, body: false },
  { method: 'POST', path: (p) => `${V3}/rooms/${p.room}/receipt/m.read/${p.event}`, body: true, wrong: { thread_id: 5 }, good: {} },
  { method: 'POST', path: (p) => `${V3}/rooms/${p.room}/read_markers`, body: true, wrong: { 'm.fully_read': 1, 'm.read': [] }, good: {} },
  { method: 'PUT', path: (p) => `${V3}/rooms/${p.room}/typing/${p.user}`, body: true, wrong: { typing: 'yes', timeout: 'long' }, good: { typing: true } },
  { method: 'PUT', path: (p) => `${V3}/presence/${p.user}/status`, body: true, wrong: { presence: 1, status_msg: [] }, good: { presence: 'online' } },
  { method: 'GET', path: (p) => `${V3}/presence/${p.user}/status`, body: false },
  { method: 'PUT', path: () => `${V3}/sendToDevice/m.x/bad-txn`, body: true, wrong: { messages: 'everyone' } },
];

const NOT_OBJECTS: unknown[] = ['{"unterminated', '[]', '"a string"', '42', 'null'];
const BAD_ROOM_IDS = ['not-a-room', enc('#alias:test.local'), enc('!'), 'room%00id'];
const BAD_USER_IDS = ['not-a-user', enc('@'), enc('@nocolon'), 'user%00id'];
const BAD_EVENT_IDS = ['no-dollar', enc('$'), 'ev%00ent'];

async function counts(s: TestServer): Promise<number[]> {
  const tables = ['account_data', 'receipts', 'to_device_messages', 'to_device_txns', 'presence'];
  return Promise.all(tables.map(async (t) => (await s.running.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]?.n ?? -1));
}

forEachBackend('per-user data endpoints under bad input', (backend) => {
  const server = suiteServer(backend.name);

  test('every endpoint answers bad input with a Matrix error and stores nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const stranger = await newUser(s, 'stranger');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const eventId = await sendMessage(s, alice, roomId, 'keep me');
    const before = await counts(s);

    const check = async (method: string, path: string, user: TestUser | undefined, body: unknown, label: string) => {
      const res = await s.request(method, path, { ...(user ? { token: user.accessToken } : {}), ...(body !== undefined ? { body } : {}) });
      assert.ok(res.status >= 400 && res.status < 500, `${label}: ${method} ${path} gave ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(String((res.body as { errcode?: unknown }).errcode), /^M_[A-Z_]+$/, `${label}: ${method} ${path}`);
    };

    const good = { room: enc(roomId), event: enc(eventId), user: enc(alice.userId) };
    for (const ep of ENDPOINTS) {
      const body = ep.body ? (ep.good ?? {}) : undefined;
      await check(ep.method, ep.path(good), undefined, body, 'no token');
      if (ep.body) for (const bad of NOT_OBJECTS) await check(ep.method, ep.path(good), alice, bad, `bad body ${JSON.stringify(bad)}`);
      if (ep.wrong !== undefined) await check(ep.method, ep.path(good), alice, ep.wrong, 'wrongly typed body');
      const probe = ep.path({ room: 'ROOM@@', event: 'EVENT@@', user: 'USER@@' });
      if (probe.includes('ROOM@@')) for (const room of BAD_ROOM_IDS) await check(ep.method, ep.path({ ...good, room }), alice, body, 'bad room id');
      if (probe.includes('EVENT@@')) for (const event of BAD_EVENT_IDS) await check(ep.method, ep.path({ ...good, event }), alice, body, 'bad event id');
      if (probe.includes('USER@@')) {
        for (const user of BAD_USER_IDS) await check(ep.method, ep.path({ ...good, user }), alice, body, 'bad user id');
        // Someone else's data, typing or presence.
        if (ep.method !== 'GET' || !probe.includes('presence')) {
          await check(ep.method, ep.path({ ...good, user: enc(bob.userId) }), alice, body, 'another user');
        }
      }
      if (probe.includes('ROOM@@') && (probe.includes('receipt') || probe.includes('read_markers') || probe.includes('typing'))) {
        const as = probe.includes('typing') ? { ...good, user: enc(stranger.userId) } : good;
        await check(ep.method, ep.path(as), stranger, probe.includes('read_markers') ? { 'm.read': eventId } : body, 'not a member');
      }
    }
    await check('GET', `${V3}/presence/${enc(alice.userId)}/status`, stranger, undefined, 'presence of a stranger');
    await check('POST', `${V3}/rooms/${enc(roomId)}/receipt/m.unknown/${enc(eventId)}`, alice, {}, 'unknown receipt type');
    await check('POST', `${V3}/rooms/${enc(roomId)}/read_markers`, alice, { 'm.read': '$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, 'unknown event');
    await check('PUT', `${V3}/sendToDevice/m.x/t1`, alice, { messages: { 'not-a-user': {} } }, 'bad target user');
    await check('PUT', `${V3}/sendToDevice/m.x/t1`, alice, { messages: { [bob.userId]: { DEVICE: 'text' } } }, 'bad message content');
    await check('PUT', `${V3}/sendToDevice/a%00b/t1`, alice, { messages: {} }, 'NUL in the event type');
    await check('PUT', `${V3}/user/${enc(alice.userId)}/account_data/m.push_rules`, alice, {}, 'server-controlled type');

    assert.deepEqual(await counts(s), before, 'no bad request stored anything');
    assert.deepEqual(s.running.userData.typing.typingIn(roomId), []);
  });
});
