// Which section of /sync each of the user's rooms belongs in, from the user's membership history in the room
// (state_history), read at the response's upper position and at `since`:
//   join    joined at `to`. "Newly joined" (full state, timeline not bounded by `since`) when not joined at `since`
//           or when the membership went through anything else in between (a leave and rejoin); a join event while
//           already joined (a profile change) is not a new join.
//   invite / knock   at `to`, shown on an initial sync, with full_state, or when it happened after `since`.
//   leave   left or banned at `to`: on an incremental sync when that happened after `since`; on an initial (or
//           full_state) sync only with the filter's include_leave, and never for a forgotten room.
import type { LocalMembershipRow, MembershipChange } from './syncStore.ts';

export type RoomSection = 'join' | 'invite' | 'knock' | 'leave';

export interface ClassifiedRoom {
  roomId: string;
  roomVersion: string;
  section: RoomSection;
  /** Full state (initial sync, newly joined, full_state, archived): the timeline is not bounded by `since`. */
  full: boolean;
  /** Joined at `to` but not a continuation of a join at `since`. */
  newlyJoined: boolean;
  /** Left or banned after `since`. */
  newlyLeft: boolean;
  /** The user's membership event that put the room in this section (invite, knock, leave/ban). */
  membershipEventId: string;
  /** Its stream ordering; for leave it is the timeline's upper bound. */
  membershipOrdering: number;
  /** The stream ordering of the join that began the current join (joined rooms), for unread counts. */
  joinedSince: number;
  /** The membership history, oldest first. */
  history: MembershipChange[];
}

export interface ClassifyOptions {
  since: number | undefined;
  upTo: number;
  fullState: boolean;
  includeLeave: boolean;
}

/** The user's history in a room including the local membership row (an invite received over federation has none). */
export function mergeHistory(row: LocalMembershipRow, history: readonly MembershipChange[]): MembershipChange[] {
  if (history.some((h) => h.eventId === row.eventId)) return [...history];
  return [...history, { streamOrdering: row.streamOrdering, membership: row.membership, eventId: row.eventId }].sort(
    (a, b) => a.streamOrdering - b.streamOrdering,
  );
}

function lastAtOrBefore(history: readonly MembershipChange[], position: number): MembershipChange | undefined {
  let found: MembershipChange | undefined;
  for (const h of history) {
    if (h.streamOrdering > position) break;
    found = h;
  }
  return found;
}

export function classifyRoom(row: LocalMembershipRow, history: MembershipChange[], options: ClassifyOptions): ClassifiedRoom | null {
  const { since, upTo } = options;
  const now = lastAtOrBefore(history, upTo);
  if (!now || now.membership === null) return null;
  const then = since !== undefined ? lastAtOrBefore(history, since) : undefined;
  const changed = since !== undefined ? history.filter((h) => h.streamOrdering > since && h.streamOrdering <= upTo) : history;
  const base = { roomId: row.roomId, roomVersion: row.roomVersion, history, membershipEventId: now.eventId, membershipOrdering: now.streamOrdering };
  const initial = since === undefined;
  switch (now.membership) {
    case 'join': {
      const newlyJoined = !initial && (then?.membership !== 'join' || changed.some((h) => h.membership !== 'join'));
      let joinedSince = now.streamOrdering;
      for (let i = history.indexOf(now); i >= 0 && history[i]?.membership === 'join'; i--) joinedSince = history[i]?.streamOrdering ?? joinedSince;
      return { ...base, section: 'join', full: initial || newlyJoined || options.fullState, newlyJoined, newlyLeft: false, joinedSince };
    }
    case 'invite':
    case 'knock':
      if (!initial && !options.fullState && changed.length === 0) return null;
      return { ...base, section: now.membership, full: true, newlyJoined: false, newlyLeft: false, joinedSince: 0 };
    case 'leave':
    case 'ban': {
      if (row.forgotten) return null;
      const newlyLeft = !initial && changed.length > 0;
      if (newlyLeft) return { ...base, section: 'leave', full: options.fullState, newlyJoined: false, newlyLeft, joinedSince: 0 };
      if ((initial || options.fullState) && options.includeLeave) {
        return { ...base, section: 'leave', full: true, newlyJoined: false, newlyLeft: false, joinedSince: 0 };
      }
      return null;
    }
    default:
      return null;
  }
}
