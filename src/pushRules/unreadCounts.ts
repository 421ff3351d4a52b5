// /sync's unread_notifications: the user's push rules evaluated over each room's unread events (after their read
// receipt or their join). Room facts (member count, power levels, display name) are taken as they are now, not as
// they were when each event was sent. Every read goes through a batch (../sync/batch.ts), so the responses woken
// together by one message share their statements.
import { userPowerLevel } from '../protocol/authRules.ts';
import type { RoomEvent } from '../protocol/events.ts';
import { isJsonObject, type JsonObject } from '../protocol/json.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { Queryable } from '../storage/database.ts';
import { PushRulesStore, type RoomPushFacts, type UnreadRange } from '../storage/pushRules.ts';
import { Batch, keyOf, partsOf } from '../sync/batch.ts';
import { evaluate, type PushContext } from './evaluate.ts';
import { MASTER_RULE_ID } from './rules.ts';
import { buildRuleset, parseUserPushRules } from './userRules.ts';

export interface UnreadCounts {
  notifications: number;
  highlights: number;
}

/**
 * Only the newest events of a room are evaluated, so a room with more unread than this reports at most this many:
 * clients show such counts as "99+" anyway, and it bounds the work of each sync. Members counted together share one
 * read of the room's newest twice this many events they could count (PushRulesStore.unreadEvents), so one of them is
 * evaluated on fewer than this many, although more are unread, when more than this many of that read are not theirs to
 * count: their own messages, an ignored sender's, or another member's invite or kick.
 */
export const MAX_EVALUATED_PER_ROOM = 500;

export class UnreadCounter {
  private readonly rules: Batch<JsonObject | null>;
  private readonly unread: Batch<JsonObject[]>;
  private readonly facts: Batch<RoomPushFacts | null>;
  private readonly members: Batch<JsonObject | null>;

  constructor(db: Queryable) {
    const store = new PushRulesStore(db);
    this.rules = new Batch((userIds) => store.getMany(userIds), () => null);
    this.unread = new Batch(async (keys) => {
      const questions = keys.map((key) => {
        const [userId, roomId, after, upTo, others, ignored] = partsOf(key);
        return {
          userId: userId as string,
          roomId: roomId as string,
          after: Number(after),
          upTo: Number(upTo),
          othersMembership: others === '1',
          ignored: JSON.parse(ignored as string) as string[],
        };
      });
      const found = await store.unreadEvents(questions, MAX_EVALUATED_PER_ROOM);
      return new Map(keys.map((key, i) => [key, found[i] ?? []]));
    }, () => []);
    this.facts = new Batch((roomIds) => store.roomFacts(roomIds), () => null);
    this.members = new Batch(async (keys) => {
      const wanted = keys.map((key) => {
        const [roomId, userId] = partsOf(key);
        return { roomId: roomId as string, userId: userId as string };
      });
      const found = await store.ownMembers(wanted);
      return new Map(keys.map((key, i) => [key, found[i] ?? null]));
    }, () => null);
  }

  async count(userId: string, ranges: readonly UnreadRange[], ignored: readonly string[]): Promise<Map<string, UnreadCounts>> {
    const counts = new Map<string, UnreadCounts>();
    const user = parseUserPushRules(await this.rules.get(userId));
    const ruleset = buildRuleset(userId, user);
    // With the server-default override rules as they are (the master rule aside), another member's membership change
    // meets .m.rule.member_event and never notifies; such events are most of a busy room's, so they are not read.
    const defaultOverrides = user.rules.override.length === 0 && Object.keys(user.defaults).every((key) => !key.startsWith('override/') || key === `override/${MASTER_RULE_ID}`);
    const ignoredKey = JSON.stringify([...ignored].sort());
    const found = await Promise.all(ranges.map((r) => this.unread.get(keyOf(userId, r.roomId, r.after, r.upTo, defaultOverrides ? 0 : 1, ignoredKey))));
    const unread = new Map(ranges.flatMap((r, i) => (found[i]?.length ? [[r.roomId, found[i]] as const] : [])));
    if (unread.size === 0) return counts;
    const roomIds = [...unread.keys()];
    const [facts, members] = await Promise.all([
      Promise.all(roomIds.map((roomId) => this.facts.get(roomId))),
      Promise.all(roomIds.map((roomId) => this.members.get(keyOf(roomId, userId)))),
    ]);
    for (const [i, roomId] of roomIds.entries()) {
      const events = unread.get(roomId) ?? [];
      const room = facts[i];
      const member = members[i];
      const version = room ? getRoomVersion(room.roomVersion) : undefined;
      if (!room || !version) continue;
      const notifications = isJsonObject(room.powerLevels?.['content']) ? room.powerLevels['content']['notifications'] : undefined;
      const displayName = isJsonObject(member?.['content']) ? member['content']['displayname'] : undefined;
      const result: UnreadCounts = { notifications: 0, highlights: 0 };
      for (const event of events) {
        const sender = typeof event['sender'] === 'string' ? event['sender'] : '';
        const context: PushContext = {
          userId,
          displayName: typeof displayName === 'string' ? displayName : null,
          memberCount: room.joinedMembers,
          senderPowerLevel: userPowerLevel(sender, room.create as RoomEvent | undefined, room.powerLevels as RoomEvent | undefined, version),
          ...(isJsonObject(notifications) ? { notificationPowerLevels: notifications } : {}),
        };
        const outcome = evaluate(ruleset, event, context);
        // A highlight tweak without `notify` generates no notification, so it is not an unread highlight either.
        if (outcome?.notify) {
          result.notifications++;
          if (outcome.highlight) result.highlights++;
        }
      }
      counts.set(roomId, result);
    }
    return counts;
  }
}
