// Unread counts of users counted at the same moment (the members woken by one message) share their statements: one
// for the push rules of all, one for their unread events, one each for the room facts and for their own member
// events; and each answer is the one the user gets when counted alone. A counter that carries counts from one
// question to the next (same read point, later position) answers what a fresh counter answers after every kind of
// change, reading and evaluating only the new events when nothing else changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnreadCounter, type UnreadCounts } from '../../src/pushRules/unreadCounts.ts';
import type { Queryable } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';
import type { TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, invite, join, newUsers, sendMessage, suiteServer } from '../rooms/client.ts';
import { setState } from '../sync/client.ts';

forEachBackend('unread counts counted together', (backend) => {
  const server = suiteServer(backend.name);

  test('concurrent counts share statements and match the counts taken one by one', async () => {
    const s = server();
    const [alice, bob, carol, dave, frank] = await newUsers(s, 'alice', 'bob', 'carol', 'dave', 'frank');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, bob, { preset: 'public_chat' });
    for (const user of [bob, carol, dave]) await join(s, user, roomId);
    await join(s, carol, other);
    await setState(s, carol, roomId, 'm.room.member', { membership: 'join', displayname: 'Caroline' }, carol.userId);
    // carol highlights her display name (a rule that reads her own member event) and so also reads others' joins.
    const nameRule = { conditions: [{ kind: 'contains_display_name' }], actions: ['notify', { set_tweak: 'highlight' }] };
    await call(s, 'PUT', `${V3}/pushrules/global/override/name`, carol, nameRule);
    const send = (user: typeof bob, room: string, txn: string, content: Record<string, unknown>) =>
      call(s, 'PUT', `${V3}/rooms/${enc(room)}/send/m.room.message/${txn}`, user, content);
    await send(bob, roomId, 'u1', { msgtype: 'm.text', body: 'hello all' });
    await send(bob, roomId, 'u2', { msgtype: 'm.text', body: 'hi Caroline', 'm.mentions': {} });
    await send(dave, roomId, 'u3', { msgtype: 'm.text', body: 'Caroline, from someone ignored', 'm.mentions': {} });
    await send(bob, roomId, 'u4', { msgtype: 'm.text', body: 'alice!', 'm.mentions': { user_ids: [alice.userId] } });
    await send(bob, other, 'u5', { msgtype: 'm.text', body: 'elsewhere' });
    // An invite is a membership change of frank's: it notifies him (.m.rule.invite_for_me), and is nobody else's.
    await invite(s, alice, roomId, frank.userId);

    const statements: string[] = [];
    const db: Queryable = {
      query: (sql, params) => {
        statements.push(sql);
        return s.running.db.query(sql, params);
      },
    };
    const upTo = Number.MAX_SAFE_INTEGER;
    const asked = [
      { userId: alice.userId, ranges: [{ roomId, after: 0, upTo }], ignored: [] as string[] },
      { userId: carol.userId, ranges: [{ roomId, after: 0, upTo }, { roomId: other, after: 0, upTo }], ignored: [dave.userId] },
      { userId: dave.userId, ranges: [{ roomId, after: 0, upTo }], ignored: [] as string[] },
      { userId: frank.userId, ranges: [{ roomId, after: 0, upTo }], ignored: [] as string[] },
    ];
    const counter = new UnreadCounter(db);
    const together = await Promise.all(asked.map((a) => counter.count(a.userId, a.ranges, a.ignored)));
    // Rules, unread events, the room facts (three statements run side by side) and the users' own member events.
    assert.equal(statements.length, 6, statements.join('\n---\n'));

    const alone: Map<string, UnreadCounts>[] = [];
    for (const a of asked) alone.push(await new UnreadCounter(s.running.db).count(a.userId, a.ranges, a.ignored));
    assert.deepEqual(together, alone);

    const plain = (counts: Map<string, UnreadCounts> | undefined) => Object.fromEntries(counts ?? []);
    // alice: bob's and dave's 4 messages in her room (bob's and dave's joins do not count), the mention highlights.
    assert.deepEqual(plain(together[0]), { [roomId]: { notifications: 4, highlights: 1 } });
    // carol: dave is ignored, her display name highlights (others' joins are read under her own override rule, and
    // match nothing that notifies).
    assert.deepEqual(plain(together[1]), {
      [roomId]: { notifications: 3, highlights: 1 },
      [other]: { notifications: 1, highlights: 0 },
    });
    assert.deepEqual(plain(together[2]), { [roomId]: { notifications: 3, highlights: 0 } });
    // frank: the four messages and his invite.
    assert.deepEqual(plain(together[3]), { [roomId]: { notifications: 5, highlights: 0 } });
  });
});

/** The last stream position of the events stream (every event up to it is committed once the writes returned). */
async function position(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ max: number | string }>('SELECT max(stream_ordering) AS max FROM events');
  return Number(rows[0]?.max);
}

interface Recorded {
  sql: string;
  params: readonly unknown[];
  rows: number;
}

/** A Queryable that records every statement, its parameters and how many rows it answered. */
function recording(db: Queryable): { db: Queryable; log: Recorded[] } {
  const log: Recorded[] = [];
  return {
    log,
    db: {
      query: async (sql, params) => {
        const result = await db.query(sql, params);
        log.push({ sql, params: params ?? [], rows: result.rows.length });
        return result;
      },
    } as Queryable,
  };
}

const isUnreadRead = (r: Recorded) => r.sql.includes('g.members');

/**
 * How the counts of `roomId` were found from the statements of one count: 'cached' (no read), 'incremental' (a
 * watched read of the new range), 'full', or 'incremental, full' (the increment could not be added).
 */
function pathOf(log: readonly Recorded[], roomId: string): string {
  const reads: string[] = [];
  for (const r of log.filter(isUnreadRead)) {
    const rooms = r.params[0] as string[];
    const watched = r.params[7] as (number | null)[];
    for (const [i, room] of rooms.entries()) if (room === roomId) reads.push(watched[i] === null ? 'full' : 'incremental');
  }
  return reads.length === 0 ? 'cached' : reads.join(', ');
}

forEachBackend('unread counts carried forward', (backend) => {
  const server = suiteServer(backend.name);

  test('after every kind of change, the carried counts are those a fresh count gives', async () => {
    const s = server();
    const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, bob, other);
    // Rules that read the facts: her display name highlights, and so does any message while the room has two members.
    await call(s, 'PUT', `${V3}/pushrules/global/override/name`, alice, { conditions: [{ kind: 'contains_display_name' }], actions: ['notify', { set_tweak: 'highlight' }] });
    const small = { conditions: [{ kind: 'room_member_count', is: '<=2' }, { kind: 'event_match', key: 'type', pattern: 'm.room.message' }], actions: ['notify', { set_tweak: 'highlight' }] };
    await call(s, 'PUT', `${V3}/pushrules/global/override/small`, alice, small);

    const { db, log } = recording(s.running.db);
    const kept = new UnreadCounter(db);
    let after = 0;
    let ignored: string[] = [];
    const send = (user: TestUser, room: string, txn: string, content: Record<string, unknown>) =>
      call(s, 'PUT', `${V3}/rooms/${enc(room)}/send/m.room.message/${txn}`, user, content).then((r) => r['event_id'] as string);
    /** Counts alice's rooms with the kept counter and a fresh one; answers the room's counts and how they were found. */
    const step = async (label: string) => {
      const upTo = await position(s.running.db);
      const ranges = [{ roomId, after, upTo }, { roomId: other, after: 0, upTo }];
      log.length = 0;
      const carried = await kept.count(alice.userId, ranges, ignored);
      const path = pathOf(log, roomId);
      const fresh = await new UnreadCounter(s.running.db).count(alice.userId, ranges, ignored);
      assert.deepEqual(carried, fresh, label);
      return { counts: carried.get(roomId), path, other: carried.get(other) };
    };

    const m1 = await send(bob, roomId, 'm1', { msgtype: 'm.text', body: 'm1' });
    // bob's join in the other room is read (her override rules may read others' membership) and notifies nothing.
    assert.deepEqual(await step('first'), { counts: { notifications: 1, highlights: 1 }, path: 'full', other: { notifications: 0, highlights: 0 } });
    await send(bob, roomId, 'ping', { msgtype: 'm.text', body: 'ping Alicia', 'm.mentions': {} });
    await send(bob, other, 'o1', { msgtype: 'm.text', body: 'elsewhere' });
    assert.deepEqual(await step('a message in each room'), { counts: { notifications: 2, highlights: 2 }, path: 'incremental', other: { notifications: 1, highlights: 1 } });
    assert.deepEqual(await step('nothing new'), { counts: { notifications: 2, highlights: 2 }, path: 'cached', other: { notifications: 1, highlights: 1 } });

    // Three members: the earlier messages no longer highlight (facts as they are now).
    await join(s, carol, roomId);
    assert.deepEqual((await step('a member joins')), { counts: { notifications: 2, highlights: 0 }, path: 'incremental, full', other: { notifications: 1, highlights: 1 } });
    // Her new display name: "ping Alicia", sent before, now highlights.
    await setState(s, alice, roomId, 'm.room.member', { membership: 'join', displayname: 'Alicia' }, alice.userId);
    assert.deepEqual((await step('display name')).counts, { notifications: 2, highlights: 1 });
    await send(bob, roomId, 'room', { msgtype: 'm.text', body: '@room', 'm.mentions': { room: true } });
    assert.deepEqual(await step('@room from a member who may not'), { counts: { notifications: 3, highlights: 1 }, path: 'incremental', other: { notifications: 1, highlights: 1 } });
    // Everyone may notify the room: the @room counted before now highlights.
    const levels = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels/`, alice);
    await setState(s, alice, roomId, 'm.room.power_levels', { ...levels, notifications: { room: 0 } });
    assert.deepEqual(await step('power levels'), { counts: { notifications: 3, highlights: 2 }, path: 'incremental, full', other: { notifications: 1, highlights: 1 } });
    await send(carol, roomId, 'c1', { msgtype: 'm.text', body: 'c1' });
    assert.deepEqual((await step('carol')).counts, { notifications: 4, highlights: 2 });

    // A counted event redacted: the count drops.
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(m1)}/r1`, bob, {});
    assert.deepEqual(await step('redaction'), { counts: { notifications: 3, highlights: 2 }, path: 'incremental, full', other: { notifications: 1, highlights: 1 } });
    ignored = [carol.userId];
    assert.deepEqual(await step('carol ignored'), { counts: { notifications: 2, highlights: 2 }, path: 'full', other: { notifications: 1, highlights: 1 } });
    await send(carol, roomId, 'c2', { msgtype: 'm.text', body: 'c2 from someone ignored' });
    const m2 = await send(bob, roomId, 'm2', { msgtype: 'm.text', body: 'm2' });
    assert.deepEqual((await step('an ignored sender and another')), { counts: { notifications: 3, highlights: 2 }, path: 'incremental', other: { notifications: 1, highlights: 1 } });

    // Push rule changes: plain messages stop notifying (the name and @room still highlight), then the room is muted.
    await call(s, 'PUT', `${V3}/pushrules/global/underride/.m.rule.message/enabled`, alice, { enabled: false });
    // (In the other room, two members: "small" still highlights.)
    assert.deepEqual(await step('.m.rule.message disabled'), { counts: { notifications: 2, highlights: 2 }, path: 'full', other: { notifications: 1, highlights: 1 } });
    await call(s, 'PUT', `${V3}/pushrules/global/underride/.m.rule.message/enabled`, alice, { enabled: true });
    assert.deepEqual((await step('.m.rule.message enabled')).counts, { notifications: 3, highlights: 2 });
    await call(s, 'PUT', `${V3}/pushrules/global/room/${enc(roomId)}`, alice, { actions: ['dont_notify'] });
    assert.deepEqual((await step('room rule')).counts, { notifications: 2, highlights: 2 });
    await send(bob, roomId, 'm3', { msgtype: 'm.text', body: 'm3, muted' });
    assert.deepEqual((await step('a muted message')), { counts: { notifications: 2, highlights: 2 }, path: 'incremental', other: { notifications: 1, highlights: 1 } });

    // A read receipt moves the read point: only m3 is unread, and it is muted.
    after = await ordering(s.running.db, m2);
    assert.deepEqual((await step('read receipt')), { counts: { notifications: 0, highlights: 0 }, path: 'full', other: { notifications: 1, highlights: 1 } });
    await send(bob, roomId, 'hey', { msgtype: 'm.text', body: 'hey Alicia', 'm.mentions': {} });
    assert.deepEqual((await step('her name after the receipt')), { counts: { notifications: 1, highlights: 1 }, path: 'incremental', other: { notifications: 1, highlights: 1 } });
  });

  test('the steady case reads only the new event, for the members woken together, in one statement', async () => {
    const s = server();
    const [alice, bob, carol, dave] = await newUsers(s, 'alice', 'bob', 'carol', 'dave');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    for (const user of [bob, carol, dave]) await join(s, user, roomId);
    for (const body of ['m1', 'm2', 'm3']) await sendMessage(s, alice, roomId, body);
    const { db, log } = recording(s.running.db);
    const counter = new UnreadCounter(db);
    const members = [bob, carol, dave];
    const countAll = async () => {
      const upTo = await position(s.running.db);
      log.length = 0;
      return Promise.all(members.map((m) => counter.count(m.userId, [{ roomId, after: 0, upTo }], [])));
    };
    const first = await countAll();
    assert.deepEqual(first.map((c) => c.get(roomId)), members.map(() => ({ notifications: 3, highlights: 0 })));
    let previous = await position(s.running.db);

    for (const body of ['m4', 'm5']) {
      await sendMessage(s, alice, roomId, body);
      const now = await position(s.running.db);
      const counts = await countAll();
      const reads = log.filter(isUnreadRead);
      assert.equal(reads.length, 1, 'one statement for the three');
      // One shared read of the new range: one row, the new message, evaluated once per member.
      assert.deepEqual(reads[0]?.params.slice(0, 3), [[roomId], [previous], [now]]);
      assert.equal(reads[0]?.rows, 1);
      // The push rules of the three and the new events: the room's facts and their display names are carried with the
      // counts, as no state changed.
      assert.equal(log.length, 2, log.map((r) => r.sql).join('\n---\n'));
      assert.deepEqual(counts.map((c) => c.get(roomId)), members.map(() => ({ notifications: body === 'm4' ? 4 : 5, highlights: 0 })));
      previous = now;
    }
    // Nothing new: only the push rules are read.
    await countAll();
    assert.equal(log.length, 1, log.map((r) => r.sql).join('\n---\n'));
  });

  test('past the cap the counts are computed afresh, as they were before', async () => {
    const s = server();
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const { db, log } = recording(s.running.db);
    const kept = new UnreadCounter(db, { perRoom: 3 });
    const step = async () => {
      const ranges = [{ roomId, after: 0, upTo: await position(s.running.db) }];
      log.length = 0;
      const carried = await kept.count(alice.userId, ranges, []);
      assert.deepEqual(carried, await new UnreadCounter(s.running.db, { perRoom: 3 }).count(alice.userId, ranges, []));
      return { counts: carried.get(roomId), path: pathOf(log, roomId) };
    };
    await sendMessage(s, bob, roomId, 'm1');
    assert.deepEqual(await step(), { counts: { notifications: 1, highlights: 0 }, path: 'full' });
    await sendMessage(s, bob, roomId, 'm2');
    assert.deepEqual(await step(), { counts: { notifications: 2, highlights: 0 }, path: 'incremental' });
    // 2 + 2 > 3: the newest three, found by a full read.
    await sendMessage(s, bob, roomId, 'm3');
    await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/m4`, bob, { msgtype: 'm.text', body: 'm4', 'm.mentions': { user_ids: [alice.userId] } });
    assert.deepEqual(await step(), { counts: { notifications: 3, highlights: 1 }, path: 'incremental, full' });
    // At the cap, nothing new to count (her own message) still carries; anything new reads afresh.
    await sendMessage(s, alice, roomId, 'her own');
    assert.deepEqual(await step(), { counts: { notifications: 3, highlights: 1 }, path: 'incremental' });
    await sendMessage(s, bob, roomId, 'm5');
    assert.deepEqual(await step(), { counts: { notifications: 3, highlights: 1 }, path: 'incremental, full' });
    // The mention leaves the newest three.
    await sendMessage(s, bob, roomId, 'm6');
    await sendMessage(s, bob, roomId, 'm7');
    assert.deepEqual(await step(), { counts: { notifications: 3, highlights: 0 }, path: 'incremental, full' });
  });

  test('the least recently used entries go first', async () => {
    const s = server();
    const [alice, bob] = await newUsers(s, 'alice', 'bob');
    const rooms = [await createRoom(s, alice, { preset: 'public_chat' }), await createRoom(s, alice, { preset: 'public_chat' })];
    for (const roomId of rooms) {
      await join(s, bob, roomId);
      await sendMessage(s, bob, roomId, 'hello');
    }
    const { db, log } = recording(s.running.db);
    const kept = new UnreadCounter(db, { maxEntries: 1 });
    const upTo = await position(s.running.db);
    const paths = async (roomIds: readonly string[]) => {
      log.length = 0;
      const counts = await kept.count(alice.userId, roomIds.map((roomId) => ({ roomId, after: 0, upTo })), []);
      assert.deepEqual([...counts.values()], roomIds.map(() => ({ notifications: 1, highlights: 0 })));
      return roomIds.map((roomId) => pathOf(log, roomId));
    };
    assert.deepEqual(await paths([rooms[0] as string]), ['full']);
    assert.deepEqual(await paths([rooms[0] as string]), ['cached']);
    assert.deepEqual(await paths([rooms[1] as string]), ['full']);
    assert.deepEqual(await paths([rooms[0] as string]), ['full']);
  });
});

async function ordering(db: Queryable, eventId: string): Promise<number> {
  const { rows } = await db.query<{ stream_ordering: number | string }>('SELECT stream_ordering FROM events WHERE event_id = $1', [eventId]);
  return Number(rows[0]?.stream_ordering);
}
