// Typing notifications: in memory only, each with an expiry. The stream position is a counter bumped on every
// change (start, stop, expiry); each room remembers the position of its last change, so an incremental sync
// sends a room's m.typing exactly when it changed since `since`.
import type { JsonObject } from '../protocol/json.ts';
import type { Notifier } from '../notifier.ts';
import type { RoomAccess } from './membership.ts';
import { userDataForbidden } from './errors.ts';
import type { Timers } from './timers.ts';

/** How long a user stays typing when the client gives no timeout (Synapse's default). */
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000;
/** The longest timeout honoured: clients renew typing well within it. */
export const MAX_TYPING_TIMEOUT_MS = 120_000;

interface RoomTyping {
  /** Typing user -> cancels their expiry timer. */
  users: Map<string, () => void>;
  changedAt: number;
}

export class TypingService {
  private readonly rooms = new Map<string, RoomTyping>();
  private readonly notifier: Notifier;
  private readonly clock: Timers;
  private readonly access: RoomAccess;
  private current: number;
  /** Where the counter started: a `since` below it was handed out by an earlier process. */
  private readonly start: number;

  constructor(notifier: Notifier, access: RoomAccess, clock: Timers, initialPosition: number) {
    this.notifier = notifier;
    this.access = access;
    this.clock = clock;
    this.current = initialPosition;
    this.start = initialPosition;
  }

  get position(): number {
    return this.current;
  }

  /** PUT /typing/{userId}: only for yourself, only in a room you are joined to. */
  async set(requester: string, userId: string, roomId: string, typing: boolean, timeoutMs: number | undefined): Promise<void> {
    if (requester !== userId) throw userDataForbidden('Cannot set the typing state of another user');
    await this.access.requireJoined(userId, roomId);
    if (typing) this.startTyping(userId, roomId, Math.min(timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS, MAX_TYPING_TIMEOUT_MS));
    else this.stopTyping(userId, roomId);
  }

  private startTyping(userId: string, roomId: string, timeoutMs: number): void {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = { users: new Map(), changedAt: this.current };
      this.rooms.set(roomId, room);
    }
    const wasTyping = room.users.get(userId);
    wasTyping?.();
    room.users.set(userId, this.clock.setTimer(timeoutMs, () => this.stopTyping(userId, roomId)));
    // Renewing an ongoing notification changes nothing a client sees.
    if (!wasTyping) this.changed(roomId, room);
  }

  private stopTyping(userId: string, roomId: string): void {
    const room = this.rooms.get(roomId);
    const cancel = room?.users.get(userId);
    if (!room || !cancel) return;
    cancel();
    room.users.delete(userId);
    this.changed(roomId, room);
  }

  private changed(roomId: string, room: RoomTyping): void {
    room.changedAt = ++this.current;
    this.notifier.notify({ stream: 'typing', position: this.current, rooms: [roomId] });
  }

  /** Users typing in a room now. */
  typingIn(roomId: string): string[] {
    return [...(this.rooms.get(roomId)?.users.keys() ?? [])];
  }

  /**
   * m.typing per joined room that changed after `since` (its current typists), or where someone types on an initial sync. A `since` from
   * before this process started (or from another process, ahead of this one) is answered as an initial sync.
   */
  collect(since: number | undefined, joinedRoomIds: readonly string[], newlyJoinedRoomIds: readonly string[], ignored: ReadonlySet<string>): Map<string, JsonObject> {
    const initial = since === undefined || since < this.start || since > this.current;
    const fresh = new Set(newlyJoinedRoomIds);
    const out = new Map<string, JsonObject>();
    for (const roomId of joinedRoomIds) {
      const room = this.rooms.get(roomId);
      if (!room) continue;
      const userIds = [...room.users.keys()].filter((u) => !ignored.has(u));
      if (initial || fresh.has(roomId)) {
        if (userIds.length > 0) out.set(roomId, { type: 'm.typing', content: { user_ids: userIds } });
      } else if (room.changedAt > (since as number)) {
        out.set(roomId, { type: 'm.typing', content: { user_ids: userIds } });
      }
    }
    return out;
  }

  close(): void {
    for (const room of this.rooms.values()) for (const cancel of room.users.values()) cancel();
    this.rooms.clear();
  }
}
