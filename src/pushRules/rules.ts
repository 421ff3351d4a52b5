// Push rules (Client-Server API "Push Rules"): the kinds in the order they are checked, and the server-default
// rules of Matrix v1.19. v1.17 removed the legacy mention rules (.m.rule.contains_display_name, .m.rule.roomnotif,
// .m.rule.contains_user_name, MSC4210), so mentions come only from m.mentions.
import type { JsonObject, JsonValue } from '../protocol/json.ts';

export const RULE_KINDS = ['override', 'content', 'room', 'sender', 'underride'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export function isRuleKind(value: string): value is RuleKind {
  return (RULE_KINDS as readonly string[]).includes(value);
}

/** A string action (`notify`) or an object one (`{ "set_tweak": "sound", "value": "default" }`). */
export type PushAction = string | JsonObject;

export interface PushCondition {
  kind: string;
  key?: string;
  pattern?: string;
  is?: string;
  value?: JsonValue;
  [extra: string]: JsonValue | undefined;
}

export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: PushAction[];
  /** override and underride rules only. */
  conditions?: PushCondition[];
  /** content rules only. */
  pattern?: string;
}

export type Ruleset = Record<RuleKind, PushRule[]>;

const SOUND = { set_tweak: 'sound', value: 'default' };
const HIGHLIGHT = { set_tweak: 'highlight' };
const match = (key: string, pattern: string): PushCondition => ({ kind: 'event_match', key, pattern });

function rule(rule_id: string, conditions: PushCondition[], actions: PushAction[], enabled = true): PushRule {
  return { rule_id, default: true, enabled, conditions, actions };
}

/** The server-default rules for `userId`, in priority order within each kind (fresh objects on each call). */
export function serverDefaultRules(userId: string): Ruleset {
  return {
    override: [
      rule('.m.rule.master', [], [], false),
      rule('.m.rule.suppress_notices', [match('content.msgtype', 'm.notice')], []),
      rule(
        '.m.rule.invite_for_me',
        [match('type', 'm.room.member'), match('content.membership', 'invite'), match('state_key', userId)],
        ['notify', { ...SOUND }],
      ),
      rule('.m.rule.member_event', [match('type', 'm.room.member')], []),
      rule(
        '.m.rule.is_user_mention',
        [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: userId }],
        ['notify', { ...SOUND }, { ...HIGHLIGHT }],
      ),
      rule(
        '.m.rule.is_room_mention',
        [
          { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
          { kind: 'sender_notification_permission', key: 'room' },
        ],
        ['notify', { ...HIGHLIGHT }],
      ),
      rule('.m.rule.tombstone', [match('type', 'm.room.tombstone'), match('state_key', '')], ['notify', { ...HIGHLIGHT }]),
      rule('.m.rule.reaction', [match('type', 'm.reaction')], []),
      rule('.m.rule.room.server_acl', [match('type', 'm.room.server_acl'), match('state_key', '')], []),
      rule('.m.rule.suppress_edits', [{ kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' }], []),
    ],
    content: [],
    room: [],
    sender: [],
    underride: [
      rule('.m.rule.call', [match('type', 'm.call.invite')], ['notify', { set_tweak: 'sound', value: 'ring' }]),
      rule('.m.rule.encrypted_room_one_to_one', [{ kind: 'room_member_count', is: '2' }, match('type', 'm.room.encrypted')], ['notify', { ...SOUND }]),
      rule('.m.rule.room_one_to_one', [{ kind: 'room_member_count', is: '2' }, match('type', 'm.room.message')], ['notify', { ...SOUND }]),
      rule('.m.rule.message', [match('type', 'm.room.message')], ['notify']),
      rule('.m.rule.encrypted', [match('type', 'm.room.encrypted')], ['notify']),
    ],
  };
}

/** Server-default rule ids start with a dot; users may not create such ids. */
export const isServerDefaultId = (ruleId: string): boolean => ruleId.startsWith('.');

/** The rule whose priority is above every other, user rules included. */
export const MASTER_RULE_ID = '.m.rule.master';

/** `dont_notify` and `coalesce` are historical: ignored wherever they are met (spec "Historical Actions"). */
export function withoutHistoricalActions(actions: readonly PushAction[]): PushAction[] {
  return actions.filter((a) => a !== 'dont_notify' && a !== 'coalesce');
}
