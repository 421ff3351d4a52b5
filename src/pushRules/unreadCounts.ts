// /sync's unread_notifications: the user's push rules evaluated over each room's unread events (after their read
// receipt or their join). Room facts (member count, power levels, display name) are taken as they are now, not as
// they were when each event was sent.
import { userPowerLevel } from '../protocol/authRules.ts';
import type { RoomEvent } from '../protocol/events.ts';
import { isJsonObject } from '../protocol/json.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { Queryable } from '../storage/database.ts';
import { PushRulesStore, type UnreadRange } from '../storage/pushRules.ts';
import { evaluate, type PushContext } from './evaluate.ts';
import { MASTER_RULE_ID } from './rules.ts';
import { buildRuleset, parseUserPushRules } from './userRules.ts';

export interface UnreadCounts {
  notifications: number;
  highlights: number;
}

/**
 * Only the newest events of a room are evaluated, so a room with more unread than this reports at most this many:
 * clients show such counts as "99+" anyway, and it bounds the work of each sync.
 */
export const MAX_EVALUATED_PER_ROOM = 500;

export class UnreadCounter {
  private readonly store: PushRulesStore;

  constructor(db: Queryable) {
    this.store = new PushRulesStore(db);
  }

  async count(userId: string, ranges: readonly UnreadRange[], ignored: readonly string[]): Promise<Map<string, UnreadCounts>> {
    const counts = new Map<string, UnreadCounts>();
    const user = parseUserPushRules(await this.store.get(userId));
    const ruleset = buildRuleset(userId, user);
    // With the server-default override rules as they are (the master rule aside), another member's membership change
    // meets .m.rule.member_event and never notifies; such events are most of a busy room's, so they are not read.
    const defaultOverrides = user.rules.override.length === 0 && Object.keys(user.defaults).every((key) => !key.startsWith('override/') || key === `override/${MASTER_RULE_ID}`);
    const unread = await this.store.unreadEvents(userId, ranges, ignored, MAX_EVALUATED_PER_ROOM, !defaultOverrides);
    if (unread.size === 0) return counts;
    const facts = await this.store.roomFacts(userId, [...unread.keys()]);
    for (const [roomId, events] of unread) {
      const room = facts.get(roomId);
      const version = room ? getRoomVersion(room.roomVersion) : undefined;
      if (!room || !version) continue;
      const notifications = isJsonObject(room.powerLevels?.['content']) ? room.powerLevels['content']['notifications'] : undefined;
      const displayName = isJsonObject(room.member?.['content']) ? room.member['content']['displayname'] : undefined;
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
