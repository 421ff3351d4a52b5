// The device list stream: a user's devices changed (created, renamed, deleted), and those who share a room with
// them learn it through /sync's device_lists.changed (to refetch their keys); users who no longer share any
// room with the requester are listed in device_lists.left.
import type { Database } from '../storage/database.ts';
import { DeviceListStore } from '../storage/deviceLists.ts';
import { membershipChangesBetween, type MembershipChangeRow, type SharedRoomStore } from '../storage/sharedRooms.ts';
import { Batch } from '../sync/batch.ts';
import type { StreamWriter } from './streamWriter.ts';

/** No membership changes (a never-changed empty list). */
const NO_CHANGES: Promise<MembershipChangeRow[]> = Promise.resolve([]);

export class DeviceListService {
  private readonly store: DeviceListStore;
  private readonly writer: StreamWriter;
  private readonly shared: SharedRoomStore;
  /**
   * Membership changes in a set of rooms between two positions: the members of a room woken by one event all ask the
   * same question at once, which is then read once.
   */
  private readonly membershipChanges: Batch<MembershipChangeRow[]>;

  constructor(db: Database, writer: StreamWriter, shared: SharedRoomStore) {
    this.store = new DeviceListStore(db);
    this.writer = writer;
    this.shared = shared;
    this.membershipChanges = new Batch(async (keys) => {
      const answers = await Promise.all(
        keys.map((key) => {
          const [roomIds, after, upTo] = JSON.parse(key) as [string[], number, number];
          return membershipChangesBetween(db, roomIds, after, upTo);
        }),
      );
      return new Map(keys.map((key, i) => [key, answers[i] ?? []]));
    }, () => []);
  }

  async changed(userId: string): Promise<void> {
    await this.writer.write(async (tx, id) => {
      await new DeviceListStore(tx).markChanged(userId, id);
      const { rows } = await tx.query<{ room_id: string }>(
        "SELECT room_id FROM local_memberships WHERE user_id = $1 AND membership = 'join'",
        [userId],
      );
      return { result: undefined, audience: { users: [userId], rooms: rows.map((r) => r.room_id) } };
    });
  }

  /**
   * Nothing on an initial sync: the client fetches every key it needs then. Otherwise `changed`: users sharing a
   * room whose devices changed, members of rooms the requester joined and users who joined the requester's rooms
   * (their keys are new to the requester); `left`: users who left with the requester or after, and now share no
   * room with them. Positions are (since, to] on the device_lists and events streams.
   */
  async collect(request: {
    userId: string;
    since?: { deviceLists: number; events: number };
    to: { deviceLists: number; events: number };
    joinedRoomIds: readonly string[];
    newlyJoinedRoomIds: readonly string[];
    newlyLeftRoomIds: readonly string[];
  }): Promise<{ changed: string[]; left: string[] }> {
    const { userId, since, to } = request;
    if (since === undefined) return { changed: [], left: [] };
    const roomsMoved = request.joinedRoomIds.length > 0 && to.events > since.events;
    const membershipChanges = roomsMoved ? this.membershipChanges.get(JSON.stringify([[...request.joinedRoomIds].sort(), since.events, to.events])) : NO_CHANGES;
    // No device changed and no room joined or left: at most the joined rooms' events moved (a message woke the members
    // of a room), which change neither list unless someone's membership changed among them.
    if (to.deviceLists <= since.deviceLists && request.newlyJoinedRoomIds.length === 0 && request.newlyLeftRoomIds.length === 0) {
      if ((await membershipChanges).length === 0) return { changed: [], left: [] };
    }
    // Independent reads, at once. Candidates from membership may have come and gone within (since, to]: checked below.
    const [devicesChanged, joinedIn, leftIn, changes] = await Promise.all([
      this.store.changedForViewer(userId, since.deviceLists, to.deviceLists),
      this.shared.joinedMembers(request.newlyJoinedRoomIds),
      this.shared.joinedMembers(request.newlyLeftRoomIds),
      membershipChanges,
    ]);
    const joined = new Set<string>(joinedIn);
    const left = new Set<string>(leftIn);
    for (const m of changes) {
      if (m.membership === 'join') joined.add(m.userId);
      else left.add(m.userId);
    }
    joined.delete(userId);
    left.delete(userId);
    const shared = await this.shared.sharingAmong(userId, [...new Set([...joined, ...left])]);
    const changed = new Set(devicesChanged);
    for (const u of joined) if (shared.has(u)) changed.add(u);
    const gone = [...left].filter((u) => !shared.has(u));
    return { changed: [...changed].sort(), left: gone.sort() };
  }
}
