// The reads of /sync that every woken client makes, one user at a time, answered through batches (./batch.ts): a
// thousand members woken by one message cost a handful of statements, not thousands.
import type { StoredEvent } from '../storage/events.ts';
import { Batch, keyOf, partsOf } from './batch.ts';
import type { LocalMembershipRow, MemberAt, MembershipChange, MemberState, RoomRange, SyncStore } from './syncStore.ts';

type HistoryVisibilityRows = Map<string, { streamOrdering: number; value: string | null }[]>;

export class SyncReads {
  private readonly memberships: Batch<LocalMembershipRow[]>;
  private readonly histories: Batch<Map<string, MembershipChange[]>>;
  private readonly visibilities: Batch<HistoryVisibilityRows>;
  private readonly newest: Batch<StoredEvent[]>;
  private readonly members: Batch<MemberState | null>;

  constructor(store: SyncStore) {
    this.memberships = new Batch((userIds) => store.localMemberships(userIds), () => []);
    this.histories = new Batch((userIds) => store.membershipHistory(userIds), () => new Map());
    // One answer for all the users: each looks up only its own rooms in it.
    this.visibilities = new Batch(async (userIds) => {
      const rows = await store.historyVisibility(userIds);
      return new Map(userIds.map((u) => [u, rows]));
    }, () => new Map());
    this.newest = new Batch(async (keys) => {
      const byLimit = new Map<number, { key: string; range: RoomRange }[]>();
      for (const key of keys) {
        const [limit, roomId, after, upTo] = partsOf(key);
        const list = byLimit.get(Number(limit)) ?? [];
        list.push({ key, range: { roomId: roomId as string, after: Number(after), upTo: Number(upTo) } });
        byLimit.set(Number(limit), list);
      }
      const out = new Map<string, StoredEvent[]>();
      await Promise.all(
        [...byLimit].map(async ([limit, list]) => {
          const found = await store.newestEvents(list.map((l) => l.range), limit);
          for (const l of list) out.set(l.key, found.get(l.range) ?? []);
        }),
      );
      return out;
    }, () => []);
    this.members = new Batch(async (keys) => {
      const wanted = keys.map((key) => {
        const [roomId, at, userId] = partsOf(key);
        return { key, at: { roomId: roomId as string, at: Number(at), userId: userId as string } satisfies MemberAt };
      });
      const found = await store.membersAt(wanted.map((w) => w.at));
      return new Map(wanted.map((w) => [w.key, found.get(w.at) ?? null]));
    }, () => null);
  }

  /** Every room the user has a local membership row in, with its room version. */
  localMemberships(userId: string): Promise<LocalMembershipRow[]> {
    return this.memberships.get(userId);
  }

  /** The user's membership changes per room, oldest first. */
  membershipHistory(userId: string): Promise<Map<string, MembershipChange[]>> {
    return this.histories.get(userId);
  }

  /** m.room.history_visibility changes per room, for (at least) the rooms the user has a membership row in. */
  historyVisibility(userId: string): Promise<HistoryVisibilityRows> {
    return this.visibilities.get(userId);
  }

  /** Up to `limit` newest events of each room in its range, newest first (one range per room). */
  async newestEvents(ranges: readonly RoomRange[], limit: number): Promise<Map<string, StoredEvent[]>> {
    const found = await Promise.all(ranges.map((r) => this.newest.get(keyOf(limit, r.roomId, r.after, r.upTo))));
    return new Map(ranges.map((r, i) => [r.roomId, found[i] ?? []]));
  }

  /** The m.room.member events of the given users in each room, as of each room's position, with the events they replaced. */
  async membersAt(wanted: readonly { roomId: string; at: number; userIds: readonly string[] }[]): Promise<Map<string, MemberState[]>> {
    const keys = wanted.flatMap((w) => w.userIds.map((u) => keyOf(w.roomId, w.at, u)));
    const out = new Map<string, MemberState[]>();
    for (const member of await Promise.all(keys.map((k) => this.members.get(k)))) {
      if (!member) continue;
      const list = out.get(member.event.roomId);
      if (list) list.push(member);
      else out.set(member.event.roomId, [member]);
    }
    return out;
  }
}
