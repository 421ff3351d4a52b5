// A corpus of bad requests against every room endpoint, on each backend: each gets a Matrix error (4xx with an
// M_ errcode), never a 500, and none of them changes the room.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestUser } from '../helpers/server.ts';
import { V3, createRoom, enc, newUser, sendMessage, suiteServer } from '../rooms/client.ts';

interface Endpoint {
  method: string;
  path: (room: string, event: string) => string;
  /** A body is expected (object). */
  body: boolean;
  /** The body has typed fields (not free-form event content), so a wrongly typed object is refused too. */
  typed?: boolean;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: () => `${V3}/createRoom`, body: true, typed: true },
  { method: 'PUT', path: (r) => `${V3}/rooms/${r}/send/m.room.message/bad-txn`, body: true },
  { method: 'PUT', path: (r) => `${V3}/rooms/${r}/state/m.room.topic/`, body: true },
  { method: 'GET', path: (r) => `${V3}/rooms/${r}/state/m.room.topic/`, body: false },
  { method: 'GET', path: (r) => `${V3}/rooms/${r}/state`, body: false },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/join`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/join/${r}`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/knock/${r}`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/invite`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/leave`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/kick`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/ban`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/unban`, body: true, typed: true },
  { method: 'POST', path: (r) => `${V3}/rooms/${r}/forget`, body: true },
  { method: 'PUT', path: (r, e) => `${V3}/rooms/${r}/redact/${e}/bad-txn`, body: true, typed: true },
  { method: 'GET', path: (r, e) => `${V3}/rooms/${r}/event/${e}`, body: false },
  { method: 'GET', path: (r, e) => `${V3}/rooms/${r}/context/${e}`, body: false },
  { method: 'GET', path: (r) => `${V3}/rooms/${r}/members`, body: false },
  { method: 'GET', path: (r) => `${V3}/rooms/${r}/joined_members`, body: false },
  { method: 'GET', path: (r) => `${V3}/rooms/${r}/messages?dir=b`, body: false },
];

const NOT_OBJECTS: unknown[] = ['{"unterminated', '[]', '"a string"', '42', 'null'];
const WRONGLY_TYPED = { user_id: 12, reason: [], name: {}, invite: 'x', preset: 1 };
const BAD_ROOM_IDS = ['not-a-room', enc('#alias:test.local'), enc('!'), enc(`!${'x'.repeat(300)}:test.local`)];

forEachBackend('room endpoints under bad input', (backend) => {
  const server = suiteServer(backend.name);

  test('every endpoint answers bad input with a Matrix error and changes nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const eventId = await sendMessage(s, alice, roomId, 'keep me');
    const count = async () =>
      (await s.running.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE room_id = $1', [roomId])).rows[0]?.n;
    const before = await count();
    const roomsBefore = (await s.running.db.query<{ n: number }>('SELECT count(*)::int AS n FROM rooms')).rows[0]?.n;

    const check = async (method: string, path: string, user: TestUser | undefined, body: unknown, label: string) => {
      const res = await s.request(method, path, { ...(user ? { token: user.accessToken } : {}), ...(body !== undefined ? { body } : {}) });
      assert.ok(res.status >= 400 && res.status < 500, `${label}: ${method} ${path} gave ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(String((res.body as { errcode?: unknown }).errcode), /^M_[A-Z_]+$/, `${label}: ${method} ${path}`);
    };

    for (const ep of ENDPOINTS) {
      const room = enc(roomId);
      const event = enc(eventId);
      await check(ep.method, ep.path(room, event), undefined, ep.body ? {} : undefined, 'no token');
      if (ep.body) for (const body of NOT_OBJECTS) await check(ep.method, ep.path(room, event), alice, body, `bad body ${JSON.stringify(body)}`);
      if (ep.typed) await check(ep.method, ep.path(room, event), alice, WRONGLY_TYPED, 'wrongly typed body');
      if (ep.path('ROOM@@', 'EVENT@@').includes('ROOM@@')) {
        for (const bad of BAD_ROOM_IDS) await check(ep.method, ep.path(bad, event), alice, ep.body ? {} : undefined, 'bad room id');
      }
      if (ep.path('ROOM@@', 'EVENT@@').includes('EVENT@@')) {
        await check(ep.method, ep.path(room, 'no-dollar'), alice, ep.body ? {} : undefined, 'bad event id');
      }
    }
    // Path parameters PostgreSQL could not store.
    const r = enc(roomId);
    for (const [method, path] of [
      ['PUT', `${V3}/rooms/${r}/send/a%00b/t1`],
      ['PUT', `${V3}/rooms/${r}/send/m.room.message/t%002`],
      ['PUT', `${V3}/rooms/${r}/state/x%00y/`],
      ['GET', `${V3}/rooms/${r}/state/x%00y/`],
      ['PUT', `${V3}/rooms/${r}/state/x/k%00`],
      ['GET', `${V3}/rooms/${r}/state/x/k%00`],
      ['PUT', `${V3}/rooms/${r}/redact/${enc(eventId)}/t%003`],
      ['POST', `${V3}/join/${r}%00`],
    ] as const) {
      await check(method, path, alice, method === 'GET' ? undefined : { body: 'x' }, 'NUL in a path parameter');
    }
    // Forbidden actions by a non-member.
    for (const [method, path, body] of [
      ['PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/e1`, { body: 'x' }],
      ['PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'x' }],
      ['POST', `${V3}/rooms/${enc(roomId)}/kick`, { user_id: alice.userId }],
      ['POST', `${V3}/rooms/${enc(roomId)}/ban`, { user_id: alice.userId }],
      ['POST', `${V3}/rooms/${enc(roomId)}/invite`, { user_id: eve.userId }],
      ['PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(eventId)}/e2`, {}],
    ] as const) {
      const res = await s.request(method, path, { token: eve.accessToken, body });
      assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as { errcode?: string }).errcode, 'M_FORBIDDEN');
    }
    // Oversized events on both event-sending endpoints.
    const huge = 'x'.repeat(66_000);
    for (const [method, path] of [
      ['PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/big`],
      ['PUT', `${V3}/rooms/${enc(roomId)}/state/org.example.big/`],
    ] as const) {
      const res = await s.request(method, path, { token: alice.accessToken, body: { body: huge } });
      assert.equal(res.status, 413);
      assert.equal((res.body as { errcode?: string }).errcode, 'M_TOO_LARGE');
    }
    assert.equal(await count(), before, 'no bad request stored an event');
    assert.equal((await s.running.db.query<{ n: number }>('SELECT count(*)::int AS n FROM rooms')).rows[0]?.n, roomsBefore);
  });
});
