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
import { joinedInTurn } from '../pushRules/joinedInTurn.ts';
import { V3, call, createRoom, enc, join, newUsers, sendMessage, suiteServer } from '../rooms/client.ts';

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
      query: (sql, params) => {
        statements.push(sql);
        return s.running.db.query(sql, params);
      },
    },
  };
}

forEachBackend('push rules store: unread events', (backend) => {
  const server = suiteServer(backend.name);

  test('questions of one room share one read, all in one statement, each answered as the definition says', async () => {
    const s = server();
    const [alice, bob, carol, dave, erin, frank] = await newUsers(s, 'alice', 'bob', 'carol', 'dave', 'erin', 'frank');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, bob, { preset: 'public_chat' });
    const otherStart = await sendMessage(s, bob, other, 'before');
    const { d1, c1: middle } = await joinedInTurn(s, roomId, [alice, bob, carol, dave, erin, frank]);
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
      assert.deepEqual(found[i], { events: want, complete: true, changed: false }, `question ${i}`);
      const [alone] = await new PushRulesStore(s.running.db).unreadEvents([q], 500);
      assert.deepEqual(found[i], alone, `question ${i} asked alone`);
    }
    const bodies = (events: readonly JsonObject[] | undefined) =>
      (events ?? []).map((e) => (e['type'] === 'm.room.message' ? (e['content'] as JsonObject)['body'] : `${String(e['type'])}:${String(e['state_key'])}`));
    // The answers spelled out, so that the definition above is not the only witness.
    assert.deepEqual(bodies(found[0]?.events), ['m.room.redaction:undefined', 'd2', 'c1', 'd1', 'b1']);
    assert.deepEqual(bodies(found[1]?.events), ['d2', 'c1']);
    assert.deepEqual(bodies(found[2]?.events), ['m.room.redaction:undefined', 'b1']);
    assert.deepEqual(bodies(found[3]?.events), ['m.room.redaction:undefined', 'c1']);
    assert.deepEqual(bodies(found[4]?.events), ['m.room.redaction:undefined', 'd2', `m.room.member:${frank.userId}`, 'c1', 'd1']);
    assert.equal(found[5]?.events.filter((e) => e['type'] === 'm.room.member').length, 1, 'the invite, under rules that read others\' membership');
    assert.deepEqual(bodies(found[6]?.events), ['c1', 'd1', 'b1', 'a1']);
    assert.deepEqual(bodies(found[7]?.events), ['c1', 'a1']);
    assert.deepEqual(bodies(found[8]?.events), ['elsewhere']);
    // One parse per event for all who count it.
    assert.equal(found[0]?.events[2], found[1]?.events[1]);
  });

  test('under the cap, a shared read gives each the newest; the bound on what it gives up', async () => {
    const s = server();
    const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
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
    assert.deepEqual(bodies(found[0]?.events), ['b5', 'b4']);
    assert.deepEqual(bodies(found[1]?.events), ['b5', 'b4']);
    assert.deepEqual(found[0]?.events, await expected(s, questions[0] as UnreadQuestion, 2));
    // Cut by the cap: more are unread than were given.
    assert.equal(found[0]?.complete, false);
    // The shared read holds the room's newest 2 x 2 events, all bob's own: he is given none of alice's older ones,
    // which he gets when asked alone (the bound documented on MAX_EVALUATED_PER_ROOM), and is told so.
    assert.deepEqual(found[2], { events: [], complete: false, changed: false });
    assert.deepEqual(bodies((await store.unreadEvents([question(bob)], 2))[0]?.events), ['m3', 'm2']);
    // With one more own message than the cap among them, what is left still comes newest first.
    const [, , bobWider] = await store.unreadEvents(questions, 3);
    assert.deepEqual(bodies(bobWider?.events), ['m3']);
    assert.equal(bobWider?.complete, false);
    // Exactly the cap, and nothing more to count: complete.
    const [aliceExact] = await store.unreadEvents([question(alice)], 5);
    assert.equal(aliceExact?.complete, false, 'alone, a read that fills its limit cannot tell whether more remain');
    const [aliceWide] = await store.unreadEvents([question(alice)], 6);
    assert.deepEqual(bodies(aliceWide?.events), ['b5', 'b4', 'b3', 'b2', 'b1']);
    assert.equal(aliceWide?.complete, true);
    const [, carolShared] = await store.unreadEvents([question(alice), question(carol)], 5);
    assert.deepEqual(bodies(carolShared?.events), ['b5', 'b4', 'b3', 'b2', 'b1', 'm3', 'm2', 'm1'].slice(0, 5));
    assert.equal(carolShared?.complete, false);
  });

  test('watching a range: any state change or redaction in it, by anyone, counted or not', async () => {
    const s = server();
    const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const m1 = await sendMessage(s, bob, roomId, 'm1');
    const position = async () => {
      const { rows } = await s.running.db.query<{ max: number | string }>('SELECT max(stream_ordering) AS max FROM events');
      return Number(rows[0]?.max);
    };
    const store = new PushRulesStore(s.running.db);
    const watch = (user: TestUser, after: number, upTo: number, ignored: string[] = []): UnreadQuestion => ({
      userId: user.userId,
      roomId,
      after,
      upTo,
      othersMembership: false,
      ignored,
      watchChanges: true,
    });
    const changedOver = async (after: number, upTo: number) => (await store.unreadEvents([watch(alice, after, upTo)], 500))[0]?.changed;

    // Messages only: nothing changed; the same range unwatched never says so.
    let from = await position();
    await sendMessage(s, bob, roomId, 'm2');
    await sendMessage(s, alice, roomId, 'her own');
    let to = await position();
    assert.deepEqual(await store.unreadEvents([watch(alice, from, to)], 500), [
      { events: await expected(s, watch(alice, from, to), 500), complete: true, changed: false },
    ]);
    assert.equal((await store.unreadEvents([watch(alice, from, to)], 500))[0]?.events.length, 1);

    // A join: a state event nobody counts (another's membership change), and the member count moved.
    from = to;
    await join(s, carol, roomId);
    to = await position();
    const [joined, unwatched] = await store.unreadEvents([watch(alice, from, to), { ...watch(alice, from, to), watchChanges: false }], 500);
    assert.deepEqual(joined, { events: [], complete: true, changed: true });
    assert.equal(unwatched?.changed, false);
    // In another room, or before the range: not this range's change.
    await sendMessage(s, alice, other, 'elsewhere');
    await call(s, 'PUT', `${V3}/rooms/${enc(other)}/state/m.room.topic`, alice, { topic: 'elsewhere' });
    assert.equal(await changedOver(to, await position()), false);

    // The user's own display name change, which only they can see in their count.
    from = await position();
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(alice.userId)}`, alice, { membership: 'join', displayname: 'Alice' });
    assert.equal(await changedOver(from, await position()), true);

    // A redaction, by an ignored sender, of one of the events already counted.
    from = await position();
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(m1)}/r1`, bob, {});
    to = await position();
    assert.deepEqual(await store.unreadEvents([watch(alice, from, to, [bob.userId])], 500), [{ events: [], complete: true, changed: true }]);

    // A state change without a state event (what a federated event's state resolution records): state_history.
    from = await position();
    const plain = await sendMessage(s, bob, roomId, 'a message');
    to = await position();
    assert.equal(await changedOver(from, to), false);
    await s.running.db.query(
      `INSERT INTO state_history (room_id, stream_ordering, type, state_key, event_id) VALUES ($1, $2, 'm.room.power_levels', '', $3)`,
      [roomId, await ordering(s, plain), plain],
    );
    assert.equal(await changedOver(from, to), true);

    // Members sharing a read, watching from different points: each told about its own range only.
    from = await position();
    await sendMessage(s, bob, roomId, 'm3');
    const middle = await position();
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic`, alice, { topic: 'a topic' });
    await sendMessage(s, bob, roomId, 'm4');
    const fromTopic = await position();
    await sendMessage(s, bob, roomId, 'm5');
    const end = await position();
    const shared = await store.unreadEvents([watch(alice, from, end), watch(carol, middle, end), watch(alice, fromTopic, end), { ...watch(carol, from, end), watchChanges: false }], 500);
    assert.deepEqual(
      shared.map((a) => a.changed),
      [true, true, false, false],
    );
    // m3, m4 and m5 (the topic is her own), however far back the others watch.
    assert.equal(shared[0]?.events.length, 3);
  });
});
