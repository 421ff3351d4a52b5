// The contract between /sync (src/sync, which owns rooms, timelines and state) and the per-user data streams
// (account data, tags, receipts, typing, presence, to-device, device lists), which own their stores and writers.
// /sync asks once per response for everything those streams hold for the user between two tokens; the streams
// answer unfiltered and /sync applies the client's filter.
import type { JsonObject } from '../protocol/json.ts';
import type { StreamName } from '../streams/names.ts';
import type { StreamToken } from '../streams/token.ts';

export type PresenceState = 'online' | 'offline' | 'unavailable';

export interface UserDataRequest {
  userId: string;
  deviceId: string;
  /** Absent on an initial sync (and treated as absent for `full_state`, except for to-device, see below). */
  since?: StreamToken;
  /** The token this response is built up to (the server's positions when the request started). */
  to: StreamToken;
  /** Rooms in rooms.join of this response. */
  joinedRoomIds: readonly string[];
  /** Rooms the user joined since `since` (all joined rooms on an initial sync). */
  newlyJoinedRoomIds: readonly string[];
  /** Rooms the user left (or was kicked or banned from) since `since`. */
  newlyLeftRoomIds: readonly string[];
  /** Streams the client's filter shows nothing of (presence, typing, receipts): not read at all. */
  hidden?: ReadonlySet<StreamName>;
}

export interface RoomUserData {
  /** m.typing and m.receipt events (client format, without room_id) for rooms.join.*.ephemeral. */
  ephemeral: JsonObject[];
  /** Room account data including m.tag, for rooms.join.*.account_data. */
  accountData: JsonObject[];
}

export interface UserDataResponse {
  accountData: JsonObject[];
  presence: JsonObject[];
  toDevice: JsonObject[];
  deviceLists: { changed: string[]; left: string[] };
  oneTimeKeysCount: Record<string, number>;
  /** Per joined room; rooms with nothing to say may be absent. */
  rooms: Map<string, RoomUserData>;
  /**
   * Positions the response's next_batch must carry instead of `to` (e.g. to-device, which delivers at most a
   * page per response: next_batch points at the last message delivered, so the rest follows next time).
   */
  positions: Partial<Record<StreamName, number>>;
}

export interface SyncUserData {
  /** Called when a /sync request starts, with its `set_presence` (default online). */
  syncing(userId: string, setPresence: PresenceState): Promise<void>;
  collect(request: UserDataRequest): Promise<UserDataResponse>;
  /** Users whose events this user ignores (m.ignored_user_list): never served to them. */
  ignoredUsers(userId: string): Promise<ReadonlySet<string>>;
  /** The stream ordering of the event the user's m.read (or m.read.private) receipt points at, per room. */
  readUpTo(userId: string, roomIds: readonly string[]): Promise<Map<string, number>>;
}
