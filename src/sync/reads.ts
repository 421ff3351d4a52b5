// The reads of /sync that every woken client makes, one user at a time, answered through batches (./batch.ts): a
// thousand members woken by one message cost a handful of statements, not thousands.
import type { StoredEvent } from '../storage/events.ts';
import { Batch, keyOf, partsOf } from './batch.ts';
import type { LocalMembershipRow, MemberAt, MembershipChange, MemberState, RoomRange, SyncStore } from './syncStore.ts';

type HistoryVisibilityRow = { streamOrdering: number; value: string | null };
type HistoryVisibilityRows = Map<string, HistoryVisibilityRow[]>;

/**
 * A user's local membership rows, their membership history per room and the history_visibility changes of those rooms,
 * as read at one version (Notifier.roomsVersion).
 */
export interface UserRoomFacts {
  version: number;
  rows: readonly LocalMembershipRow[];
  histories: ReadonlyMap<string, readonly MembershipChange[]>;
  visibility: ReadonlyMap<string, readonly HistoryVisibilityRow[]>;
}

/** Users whose memberships are kept between their syncs; past this many the kept ones are dropped. */
const MAX_KEPT_USERS = 10_000;

export class SyncReads {
  private readonly memberships: Batch<LocalMembershipRow[]>;
  private readonly histories: Batch<Map<string, MembershipChange[]>>;
  private readonly visibilities: Batch<HistoryVisibilityRows>;
  private readonly newest: Batch<StoredEvent[]>;
  private readonly members: Batch<MemberState | null>;
  private readonly kept = new Map<string, UserRoomFacts>();

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

  /**
   * Every room the user has a local membership row in (with its room version), their membership changes per room
   * (oldest first) and those rooms' history_visibility changes; read again only when `version` (Notifier.roomsVersion,
   * asked before this) is not the one they were last read at. That is safe because every writer of a local user's
   * membership or of a history_visibility calls the notifier, which moves the version, after committing and before
   * the stream position reaches the change: a response up to a position that includes a change finds another version
   * than any read that could have missed it. What is returned is shared between syncs and must not be changed.
   */
  async userRooms(userId: string, version: number): Promise<UserRoomFacts> {
    const known = this.kept.get(userId);
    if (known?.version === version) return known;
    const [rows, histories, hv] = await Promise.all([this.memberships.get(userId), this.histories.get(userId), this.visibilities.get(userId)]);
    // The visibility read answers for all the users asking with this one: only this user's rooms are kept.
    const visibility = new Map(rows.flatMap((r) => (hv.has(r.roomId) ? [[r.roomId, hv.get(r.roomId) ?? []] as const] : [])));
    const read: UserRoomFacts = { version, rows, histories, visibility };
    // A read asked at a later version may have landed first: the newest is kept.
    const kept = this.kept.get(userId);
    if (!kept || kept.version < version) {
      if (!kept && this.kept.size >= MAX_KEPT_USERS) this.kept.clear();
      this.kept.set(userId, read);
    }
    return read;
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
