// TypingService on a simulated timer: expiry, renewal, stop, and what collect() reports across positions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Notifier, StreamNotification } from '../../src/notifier.ts';
import type { RoomAccess } from '../../src/userData/membership.ts';
import { UserDataError } from '../../src/userData/errors.ts';
import { TypingService } from '../../src/userData/typing.ts';
import { SimulatedTimers } from './simulatedTimers.ts';

const ROOM = '!room:test.local';
const ALICE = '@alice:test.local';
const BOB = '@bob:test.local';

function setup(start = 1000) {
  const notifications: StreamNotification[] = [];
  const notifier = { notify: (n: StreamNotification) => notifications.push(n) } as unknown as Notifier;
  const access = { requireJoined: async (userId: string) => {
    if (userId === '@outsider:test.local') throw new UserDataError(403, 'M_FORBIDDEN', 'not joined');
  } } as unknown as RoomAccess;
  const timers = new SimulatedTimers();
  const typing = new TypingService(notifier, access, timers, start);
  return { typing, timers, notifications };
}

const usersIn = (events: Map<string, Record<string, unknown>>) => (events.get(ROOM)?.['content'] as { user_ids: string[] } | undefined)?.user_ids;

test('typing expires after its timeout and the room is told; collect() reports each change once', async () => {
  const { typing, timers, notifications } = setup();
  const start = typing.position;
  await typing.set(ALICE, ALICE, ROOM, true, 5000);
  assert.deepEqual(notifications, [{ stream: 'typing', position: start + 1, rooms: [ROOM] }]);
  assert.deepEqual(usersIn(typing.collect(start, [ROOM], [], new Set())), [ALICE]);
  const afterStart = typing.position;
  assert.equal(typing.collect(afterStart, [ROOM], [], new Set()).size, 0, 'nothing new since');
  timers.advance(4999);
  assert.deepEqual(typing.typingIn(ROOM), [ALICE]);
  timers.advance(1);
  assert.deepEqual(typing.typingIn(ROOM), []);
  assert.equal(notifications.length, 2);
  assert.deepEqual(usersIn(typing.collect(afterStart, [ROOM], [], new Set())), [], 'the stop is reported');
  assert.equal(timers.pending, 0);
});

test('renewing keeps typing without a new notification; stopping cancels the timer; the default and maximum timeouts', async () => {
  const { typing, timers, notifications } = setup();
  await typing.set(ALICE, ALICE, ROOM, true, 1000);
  timers.advance(900);
  await typing.set(ALICE, ALICE, ROOM, true, 1000);
  assert.equal(notifications.length, 1);
  timers.advance(900);
  assert.deepEqual(typing.typingIn(ROOM), [ALICE], 'renewal pushed the expiry back');
  await typing.set(ALICE, ALICE, ROOM, false, undefined);
  assert.equal(timers.pending, 0);
  assert.deepEqual(typing.typingIn(ROOM), []);
  await typing.set(ALICE, ALICE, ROOM, false, undefined);
  assert.equal(notifications.length, 2, 'stopping twice is one change');
  await typing.set(BOB, BOB, ROOM, true, undefined);
  timers.advance(29_999);
  assert.deepEqual(typing.typingIn(ROOM), [BOB]);
  timers.advance(1);
  assert.deepEqual(typing.typingIn(ROOM), [], 'default 30 s');
  await typing.set(BOB, BOB, ROOM, true, 10 * 60_000);
  timers.advance(120_000);
  assert.deepEqual(typing.typingIn(ROOM), [], 'capped at 120 s');
});

test('only for yourself and only when joined; ignored users are left out', async () => {
  const { typing } = setup();
  await assert.rejects(typing.set(ALICE, BOB, ROOM, true, 1000), (e: UserDataError) => e.errcode === 'M_FORBIDDEN' && e.status === 403);
  await assert.rejects(typing.set('@outsider:test.local', '@outsider:test.local', ROOM, true, 1000), (e: UserDataError) => e.status === 403);
  await typing.set(ALICE, ALICE, ROOM, true, 1000);
  await typing.set(BOB, BOB, ROOM, true, 1000);
  assert.deepEqual(usersIn(typing.collect(undefined, [ROOM], [ROOM], new Set([BOB]))), [ALICE]);
});

test('a since from before a restart, or ahead of the position, is answered as an initial sync', async () => {
  const { typing } = setup(5000);
  assert.equal(typing.collect(4000, [ROOM], [], new Set()).size, 0, 'nobody typing: nothing');
  await typing.set(ALICE, ALICE, ROOM, true, 1000);
  assert.deepEqual(usersIn(typing.collect(4000, [ROOM], [], new Set())), [ALICE]);
  assert.deepEqual(usersIn(typing.collect(999_999, [ROOM], [], new Set())), [ALICE]);
  assert.deepEqual(usersIn(typing.collect(typing.position, [ROOM], [ROOM], new Set())), [ALICE], 'a newly joined room gets the current typists');
});
