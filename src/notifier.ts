// The narrow port the HTTP and sync layers use to wait for and announce stream changes (DESIGN.md §1, §3).
// Types only: the implementation lives in actors/ and is handed over by src/main.ts.
import type { StreamName } from './streams/names.ts';
import type { StreamToken } from './streams/token.ts';

/** Sent by a writer after its fact committed and the stream's position advanced. */
export interface StreamNotification {
  stream: StreamName;
  position: number;
  /** Local users who must hear of it explicitly (to-device, account data, invites...). */
  users?: readonly string[];
  /** Rooms whose local joined members must hear of it. */
  rooms?: readonly string[];
}

export type Membership = 'join' | 'leave' | 'ban' | 'invite' | 'knock';

export interface WaitResult {
  /** `advanced`: the user's token moved past `since`; otherwise nothing concerning the user happened. */
  reason: 'advanced' | 'timeout' | 'aborted';
  /** The user's token when the wait ended (for `advanced`, ahead of `since` on at least one stream). */
  token: StreamToken;
}

export interface Notifier {
  /**
   * Resolves as soon as something concerning `userId` moves past `since` on any stream, after
   * `timeoutMs`, or when `signal` aborts; it never rejects for those, and leaves nothing registered.
   * A wait on a stream nobody listened to before may resolve at once when the server's positions are
   * already past `since` (the caller then finds nothing new and waits again with the newer token).
   * It rejects only if loading the user's rooms (storage) fails when their stream is first opened.
   */
  waitForEvents(userId: string, since: StreamToken, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult>;
  /** For writers: a stream position advanced; wakes exactly the affected users who are waiting. */
  notify(notification: StreamNotification): void;
  /**
   * A local user's membership row in a room changed (join adds routing of that room; anything else removes it).
   * Writers call it after committing and before the stream position reaches the change; a room forgotten, too.
   */
  membershipChanged(roomId: string, userId: string, membership: Membership): void;
  /** A room's m.room.history_visibility changed; called like membershipChanged. */
  historyVisibilityChanged(roomId: string): void;
  /**
   * Moves whenever membershipChanged is called for the user or historyVisibilityChanged for any room: /sync keeps what
   * it read of the user's rooms and what they may see in them while it stays the same.
   */
  roomsVersion(userId: string): number;
  /** The newest position of every stream this notifier has heard of. */
  currentToken(): StreamToken;
}
