// The room of the shared-read unread tests (storage and /sync): members who join one after another, so that each
// counts from another point, with messages between, another's invite and a redaction.
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, enc, invite, join, sendMessage } from '../rooms/client.ts';

/**
 * In alice's `roomId`: bob joins, a1 (alice), carol joins, b1 (bob), dave joins, b2 (bob), d1 (dave), erin joins,
 * c1 (carol, mentioning erin), frank invited by alice, d2 (dave), bob redacts b2. The event ids of d1 and c1.
 */
export async function joinedInTurn(
  s: TestServer,
  roomId: string,
  [alice, bob, carol, dave, erin, frank]: readonly [TestUser, TestUser, TestUser, TestUser, TestUser, TestUser],
): Promise<{ d1: string; c1: string }> {
  await join(s, bob, roomId);
  await sendMessage(s, alice, roomId, 'a1');
  await join(s, carol, roomId);
  await sendMessage(s, bob, roomId, 'b1');
  await join(s, dave, roomId);
  const b2 = await sendMessage(s, bob, roomId, 'b2, to be redacted');
  const d1 = await sendMessage(s, dave, roomId, 'd1');
  await join(s, erin, roomId);
  const c1 = await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/c1`, carol, { msgtype: 'm.text', body: 'c1', 'm.mentions': { user_ids: [erin.userId] } });
  await invite(s, alice, roomId, frank.userId);
  await sendMessage(s, dave, roomId, 'd2');
  await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(b2)}/r1`, bob, {});
  return { d1, c1: c1['event_id'] as string };
}
