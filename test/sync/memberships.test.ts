// Which section of /sync a room goes in, from the user's membership history read at `since` and at `to`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyRoom, mergeHistory } from '../../src/sync/memberships.ts';
import type { LocalMembershipRow, MembershipChange } from '../../src/sync/syncStore.ts';

const row = (membership: string, streamOrdering: number, forgotten = false): LocalMembershipRow => ({
  roomId: '!r:hs',
  roomVersion: '10',
  membership,
  eventId: `$${streamOrdering}`,
  streamOrdering,
  forgotten,
});
const history = (...changes: [number, string][]): MembershipChange[] => changes.map(([o, m]) => ({ streamOrdering: o, membership: m, eventId: `$${o}` }));
const options = (since: number | undefined, upTo: number, extra: { fullState?: boolean; includeLeave?: boolean } = {}) => ({
  since,
  upTo,
  fullState: extra.fullState ?? false,
  includeLeave: extra.includeLeave ?? false,
});

test('joined rooms: initial, continuing, a duplicate join, a rejoin, a join after `to`', () => {
  const joined = history([5, 'join']);
  assert.deepEqual(pick(classifyRoom(row('join', 5), joined, options(undefined, 10))), ['join', true, false]);
  assert.deepEqual(pick(classifyRoom(row('join', 5), joined, options(7, 10))), ['join', false, false]);
  assert.deepEqual(pick(classifyRoom(row('join', 5), joined, options(3, 10))), ['join', true, true], 'joined after since');
  const duplicate = history([5, 'join'], [8, 'join']);
  assert.deepEqual(pick(classifyRoom(row('join', 8), duplicate, options(6, 10))), ['join', false, false], 'a profile change is no new join');
  const rejoin = history([5, 'join'], [7, 'leave'], [8, 'join']);
  assert.deepEqual(pick(classifyRoom(row('join', 8), rejoin, options(6, 10))), ['join', true, true], 'left and came back');
  assert.equal(classifyRoom(row('join', 12), history([12, 'join']), options(6, 10)), null, 'not yet joined at `to`');
  assert.equal(classifyRoom(row('join', 8), duplicate, options(6, 10))?.joinedSince, 5);
});

test('invites and knocks: shown on an initial sync or when new', () => {
  const invited = history([4, 'invite']);
  assert.equal(classifyRoom(row('invite', 4), invited, options(undefined, 10))?.section, 'invite');
  assert.equal(classifyRoom(row('invite', 4), invited, options(2, 10))?.section, 'invite');
  assert.equal(classifyRoom(row('invite', 4), invited, options(6, 10)), null, 'told before');
  assert.equal(classifyRoom(row('invite', 4), invited, options(6, 10, { fullState: true }))?.section, 'invite');
  assert.equal(classifyRoom(row('knock', 4), history([4, 'knock']), options(2, 10))?.section, 'knock');
});

test('left rooms: when it happened after `since`; archived ones only with include_leave; never forgotten ones', () => {
  const left = history([3, 'join'], [6, 'leave']);
  const newly = classifyRoom(row('leave', 6), left, options(4, 10));
  assert.deepEqual([newly?.section, newly?.newlyLeft, newly?.membershipOrdering], ['leave', true, 6]);
  assert.equal(classifyRoom(row('leave', 6), left, options(7, 10)), null);
  assert.equal(classifyRoom(row('leave', 6), left, options(undefined, 10)), null);
  assert.equal(classifyRoom(row('leave', 6), left, options(undefined, 10, { includeLeave: true }))?.full, true);
  assert.equal(classifyRoom(row('leave', 6, true), left, options(undefined, 10, { includeLeave: true })), null);
  assert.equal(classifyRoom(row('ban', 6), history([3, 'join'], [6, 'ban']), options(4, 10))?.section, 'leave');
});

test('mergeHistory adds a membership that has no state history row (an invite received over federation)', () => {
  assert.deepEqual(
    mergeHistory(row('invite', 9), history([3, 'join'], [6, 'leave'])).map((h) => h.streamOrdering),
    [3, 6, 9],
  );
  assert.equal(mergeHistory(row('leave', 6), history([3, 'join'], [6, 'leave'])).length, 2);
});

function pick(room: ReturnType<typeof classifyRoom>): [string | undefined, boolean | undefined, boolean | undefined] {
  return [room?.section, room?.full, room?.newlyJoined];
}
