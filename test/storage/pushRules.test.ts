// PushRulesStore.unreadEvents: the questions of one room and position share one read of its events, in one statement
// for the whole batch; each answer is what the definition gives (checked against every event of the room read back),
// and what the question gets asked alone, while fewer than the cap are involved.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../src/protocol/json.ts';
import type { Queryable } from '../../src/storage/database.ts';
import { PushRulesStore, type UnreadQuestion } from '../../src/storage/pushRules.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, invite, join, newUser, sendMessage, suiteServer } from '../rooms/client.ts';

interface StoredEvent {
  stream_ordering: number | string;
  event_id: string;
  sender: string;
  type: string;
  state_key: string | null;
  redacted_by: string | null;
  pdu: string;
}

/** The definition, over every event of the room: what unreadEvents must answer. */
async function expected(s: TestServer, q: UnreadQuestion, perRoom: number): Promise<JsonObject[]> {
  const { rows } = await s.running.db.query<StoredEvent>(
    'SELECT stream_ordering, event_id, sender, type, state_key, redacted_by, pdu FROM events WHERE room_id = $1 ORDER BY stream_ordering DESC',
    [q.roomId],
  );
  return rows
    .filter((e) => Number(e.stream_ordering) > q.after && Number(e.stream_ordering) <= q.upTo)
    .filter((e) => e.redacted_by === null && e.sender !== q.userId && !q.ignored.includes(e.sender))
    .filter((e) => q.othersMembership || e.type !== 'm.room.member' || e.state_key === q.userId)
    .slice(0, perRoom)
    .map((e) => JSON.parse(e.pdu) as JsonObject);
}

async function ordering(s: TestServer, eventId: string): Promise<number> {
  const { rows } = await s.running.db.query<{ stream_ordering: number | string }>('SELECT stream_ordering FROM events WHERE event_id = $1', [eventId]);
  return Number(rows[0]?.stream_ordering);
}

async function joinOrdering(s: TestServer, roomId: string, user: TestUser): Promise<number> {
  const { rows } = await s.running.db.query<{ stream_ordering: number | string }>(
    `SELECT stream_ordering FROM events WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2 ORDER BY stream_ordering LIMIT 1`,
    [roomId, user.userId],
  );
  return Number(rows[0]?.stream_ordering);
}

function counting(s: TestServer): { db: Queryable; statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    db: {
      query: (sql, params, options) => {
        statements.push(sql);
        return s.running.db.query(sql, params, options);
      },
    },
  };
}

forEachBackend('push rules store: unread events', (backend) => {
  const server = suiteServer(backend.name);

  test('questions of one room share one read, all in one statement, each answered as the definition says', async () => {
    const s = server();
    const [alice, bob, carol, dave, erin, frank] = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].map((name) => newUser(s, name)));
    if (!alice || !bob || !carol || !dave || !erin || !frank) throw new Error('users');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, bob, { preset: 'public_chat' });
    const otherStart = await sendMessage(s, bob, other, 'before');
    await join(s, bob, roomId);
    await sendMessage(s, alice, roomId, 'a1');
    await join(s, carol, roomId);
    await sendMessage(s, bob, roomId, 'b1');
    await join(s, dave, roomId);
    const b2 = await sendMessage(s, bob, roomId, 'b2, redacted');
    const d1 = await sendMessage(s, dave, roomId, 'd1');
    await join(s, erin, roomId);
    const middle = await sendMessage(s, carol, roomId, 'c1');
    await invite(s, alice, roomId, frank.userId);
    await sendMessage(s, dave, roomId, 'd2');
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(b2)}/r1`, bob, {});
    await sendMessage(s, bob, other, 'elsewhere');

    const upTo = Number.MAX_SAFE_INTEGER;
    const questions: UnreadQuestion[] = [
      { userId: alice.userId, roomId, after: 0, upTo, othersMembership: false, ignored: [] },
      { userId: bob.userId, roomId, after: await ordering(s, d1), upTo, othersMembership: false, ignored: [] },
      { userId: carol.userId, roomId, after: await joinOrdering(s, roomId, carol), upTo, othersMembership: false, ignored: [dave.userId] },
      { userId: dave.userId, roomId, after: await joinOrdering(s, roomId, dave), upTo, othersMembership: false, ignored: [] },
      // Invited, not joined: the invite is theirs to count, and only theirs.
      { userId: frank.userId, roomId, after: await joinOrdering(s, roomId, dave), upTo, othersMembership: false, ignored: [] },
      // Rules that read others' membership changes: a read of its own.
      { userId: erin.userId, roomId, after: await joinOrdering(s, roomId, erin), upTo, othersMembership: true, ignored: [] },
      // Another position of the same room: another group.
      { userId: erin.userId, roomId, after: await joinOrdering(s, roomId, bob), upTo: await ordering(s, middle), othersMembership: false, ignored: [] },
      { userId: dave.userId, roomId, after: await joinOrdering(s, roomId, bob), upTo: await ordering(s, middle), othersMembership: false, ignored: [bob.userId] },
      { userId: alice.userId, roomId: other, after: await ordering(s, otherStart), upTo, othersMembership: false, ignored: [] },
    ];
    const { db, statements } = counting(s);
    const found = await new PushRulesStore(db).unreadEvents(questions, 500);
    assert.equal(statements.length, 1, statements.join('\n---\n'));

    for (const [i, q] of questions.entries()) {
      const want = await expected(s, q, 500);
      assert.deepEqual(found[i], want, `question ${i}`);
      const [alone] = await new PushRulesStore(s.running.db).unreadEvents([q], 500);
      assert.deepEqual(found[i], alone, `question ${i} asked alone`);
    }
    const bodies = (events: readonly JsonObject[] | undefined) =>
      (events ?? []).map((e) => (e['type'] === 'm.room.message' ? (e['content'] as JsonObject)['body'] : `${String(e['type'])}:${String(e['state_key'])}`));
    // The answers spelled out, so that the definition above is not the only witness.
    assert.deepEqual(bodies(found[0]), ['m.room.redaction:undefined', 'd2', 'c1', 'd1', 'b1']);
    assert.deepEqual(bodies(found[1]), ['d2', 'c1']);
    assert.deepEqual(bodies(found[2]), ['m.room.redaction:undefined', 'b1']);
    assert.deepEqual(bodies(found[3]), ['m.room.redaction:undefined', 'c1']);
    assert.deepEqual(bodies(found[4]), ['m.room.redaction:undefined', 'd2', `m.room.member:${frank.userId}`, 'c1', 'd1']);
    assert.equal(found[5]?.filter((e) => e['type'] === 'm.room.member').length, 1, 'the invite, under rules that read others\' membership');
    assert.deepEqual(bodies(found[6]), ['c1', 'd1', 'b1', 'a1']);
    assert.deepEqual(bodies(found[7]), ['c1', 'a1']);
    assert.deepEqual(bodies(found[8]), ['elsewhere']);
    // One parse per event for all who count it.
    assert.equal(found[0]?.[2], found[1]?.[1]);
  });

  test('under the cap, a shared read gives each the newest; the bound on what it gives up', async () => {
    const s = server();
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((name) => newUser(s, name)));
    if (!alice || !bob || !carol) throw new Error('users');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, carol, roomId);
    for (const body of ['m1', 'm2', 'm3']) await sendMessage(s, alice, roomId, body);
    for (const body of ['b1', 'b2', 'b3', 'b4', 'b5']) await sendMessage(s, bob, roomId, body);

    const upTo = Number.MAX_SAFE_INTEGER;
    const question = (user: TestUser): UnreadQuestion => ({ userId: user.userId, roomId, after: 0, upTo, othersMembership: false, ignored: [] });
    const questions = [question(alice), question(carol), question(bob)];
    const store = new PushRulesStore(s.running.db);
    const found = await store.unreadEvents(questions, 2);
    const bodies = (events: readonly JsonObject[] | undefined) => (events ?? []).map((e) => (e['content'] as JsonObject)['body']);
    assert.deepEqual(bodies(found[0]), ['b5', 'b4']);
    assert.deepEqual(bodies(found[1]), ['b5', 'b4']);
    assert.deepEqual(found[0], await expected(s, questions[0] as UnreadQuestion, 2));
    // The shared read holds the room's newest 2 x 2 events, all bob's own: he is given none of alice's older ones,
    // which he gets when asked alone (the bound documented on MAX_EVALUATED_PER_ROOM).
    assert.deepEqual(bodies(found[2]), []);
    assert.deepEqual(bodies((await store.unreadEvents([question(bob)], 2))[0]), ['m3', 'm2']);
    // With one more own message than the cap among them, what is left still comes newest first.
    const [, , bobWider] = await store.unreadEvents(questions, 3);
    assert.deepEqual(bodies(bobWider), ['m3']);
  });
});
