// Unread counts of users counted at the same moment (the members woken by one message) share their statements: one
// for the push rules of all, one for their unread events, one each for the room facts and for their own member
// events; and each answer is the one the user gets when counted alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnreadCounter, type UnreadCounts } from '../../src/pushRules/unreadCounts.ts';
import type { Queryable } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, invite, join, newUser, suiteServer } from '../rooms/client.ts';
import { setState } from '../sync/client.ts';

forEachBackend('unread counts counted together', (backend) => {
  const server = suiteServer(backend.name);

  test('concurrent counts share statements and match the counts taken one by one', async () => {
    const s = server();
    const [alice, bob, carol, dave, frank] = await Promise.all(['alice', 'bob', 'carol', 'dave', 'frank'].map((name) => newUser(s, name)));
    if (!alice || !bob || !carol || !dave || !frank) throw new Error('users');
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
      query: (sql, params, options) => {
        statements.push(sql);
        return s.running.db.query(sql, params, options);
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
