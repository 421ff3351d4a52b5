// Helpers for the per-user data tests: collect() as /sync calls it, from the server's current token.
import type { TestServer, TestUser } from '../helpers/server.ts';
import { StreamToken } from '../../src/streams/token.ts';
import type { UserDataResponse } from '../../src/sync/userData.ts';

export interface Collected {
  data: UserDataResponse;
  /** The token the response was built up to (what next_batch would carry, before `positions`). */
  to: StreamToken;
  /** next_batch: `to` with the positions the response asked for. */
  next: StreamToken;
}

export async function collect(
  server: TestServer,
  user: TestUser,
  options: { since?: StreamToken; newlyJoined?: string[]; newlyLeft?: string[] } = {},
): Promise<Collected> {
  const to = server.running.actors.notifier.currentToken();
  const { rows } = await server.running.db.query<{ room_id: string }>(
    "SELECT room_id FROM local_memberships WHERE user_id = $1 AND membership = 'join'",
    [user.userId],
  );
  const joined = rows.map((r) => r.room_id);
  const data = await server.running.userData.collect({
    userId: user.userId,
    deviceId: user.deviceId,
    ...(options.since ? { since: options.since } : {}),
    to,
    joinedRoomIds: joined,
    newlyJoinedRoomIds: options.since ? (options.newlyJoined ?? []) : joined,
    newlyLeftRoomIds: options.newlyLeft ?? [],
  });
  return { data, to, next: StreamToken.of({ ...to.toRecord(), ...data.positions }) };
}
