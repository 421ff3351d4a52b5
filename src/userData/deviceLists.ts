// The device list stream: a user's devices changed (created, renamed, deleted), and those who share a room with
// them learn it through /sync's device_lists.changed (to refetch their keys); users who no longer share any
// room with the requester are listed in device_lists.left.
import type { Database } from '../storage/database.ts';
import { DeviceListStore } from '../storage/deviceLists.ts';
import { membershipChangesBetween, type SharedRoomStore } from '../storage/sharedRooms.ts';
import type { StreamWriter } from './streamWriter.ts';

export class DeviceListService {
  private readonly store: DeviceListStore;
  private readonly writer: StreamWriter;
  private readonly shared: SharedRoomStore;
  private readonly db: Database;

  constructor(db: Database, writer: StreamWriter, shared: SharedRoomStore) {
    this.db = db;
    this.store = new DeviceListStore(db);
    this.writer = writer;
    this.shared = shared;
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
    const sharing = await this.shared.usersSharingRoomWith(userId);
    if (!sharing.includes(userId)) sharing.push(userId);
    const stillShared = new Set(sharing);
    const devicesChanged = new Set(await this.store.changedAmong(sharing, since.deviceLists, to.deviceLists));
    const changed = new Set(devicesChanged);
    const left = new Set<string>();
    for (const u of await this.shared.joinedMembers(request.newlyJoinedRoomIds)) changed.add(u);
    for (const u of await this.shared.joinedMembers(request.newlyLeftRoomIds)) left.add(u);
    for (const m of await membershipChangesBetween(this.db, request.joinedRoomIds, since.events, to.events)) {
      if (m.membership === 'join') changed.add(m.userId);
      else left.add(m.userId);
    }
    // Our own room memberships are no news about our keys; our own devices are, to our other devices.
    if (!devicesChanged.has(userId)) changed.delete(userId);
    const gone = [...left].filter((u) => u !== userId && !stillShared.has(u));
    return { changed: [...changed].filter((u) => stillShared.has(u)).sort(), left: gone.sort() };
  }
}
