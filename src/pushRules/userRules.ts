// A user's push rules as stored: their own rules per kind (most important first) and their changes to the
// server-default rules. Merged with the defaults into the ruleset clients see.
import { isJsonObject, type JsonObject } from '../protocol/json.ts';
import { MASTER_RULE_ID, RULE_KINDS, serverDefaultRules, type PushAction, type PushCondition, type PushRule, type RuleKind, type Ruleset } from './rules.ts';

export interface UserRule {
  rule_id: string;
  enabled: boolean;
  actions: PushAction[];
  conditions?: PushCondition[];
  pattern?: string;
}

/** What the user changed on a server-default rule. */
export interface DefaultRuleChange {
  enabled?: boolean;
  actions?: PushAction[];
}

export interface UserPushRules {
  rules: Record<RuleKind, UserRule[]>;
  /** Keyed by `${kind}/${rule_id}` (server-default ids contain no slash). */
  defaults: Record<string, DefaultRuleChange>;
}

export function emptyUserPushRules(): UserPushRules {
  return { rules: { override: [], content: [], room: [], sender: [], underride: [] }, defaults: {} };
}

/** Reads the stored document; anything missing or malformed in it counts as "nothing changed". */
export function parseUserPushRules(stored: JsonObject | null): UserPushRules {
  const result = emptyUserPushRules();
  if (!stored) return result;
  const rules = stored['rules'];
  if (isJsonObject(rules)) {
    for (const kind of RULE_KINDS) {
      const list = rules[kind];
      if (Array.isArray(list)) result.rules[kind] = list.filter(isJsonObject) as unknown as UserRule[];
    }
  }
  const defaults = stored['defaults'];
  if (isJsonObject(defaults)) {
    for (const [key, change] of Object.entries(defaults)) {
      if (isJsonObject(change)) result.defaults[key] = change as DefaultRuleChange;
    }
  }
  return result;
}

export const defaultKey = (kind: RuleKind, ruleId: string): string => `${kind}/${ruleId}`;

/** A user rule in its kind's served form: room and sender rules have no conditions, only content rules a pattern. */
export function servedUserRule(kind: RuleKind, rule: UserRule): PushRule {
  return {
    rule_id: rule.rule_id,
    default: false,
    enabled: rule.enabled,
    actions: rule.actions,
    ...((kind === 'override' || kind === 'underride') ? { conditions: rule.conditions ?? [] } : {}),
    ...(kind === 'content' && rule.pattern !== undefined ? { pattern: rule.pattern } : {}),
  };
}

/**
 * The ruleset in evaluation order: per kind the user's rules before the server-default ones, except
 * .m.rule.master, which comes before everything.
 */
export function buildRuleset(userId: string, user: UserPushRules): Ruleset {
  const defaults = serverDefaultRules(userId);
  const ruleset = {} as Ruleset;
  for (const kind of RULE_KINDS) {
    const served = defaults[kind].map((rule): PushRule => {
      const change = user.defaults[defaultKey(kind, rule.rule_id)];
      return {
        ...rule,
        ...(change?.enabled !== undefined ? { enabled: change.enabled } : {}),
        ...(change?.actions !== undefined ? { actions: change.actions } : {}),
      };
    });
    const master = served.filter((r) => r.rule_id === MASTER_RULE_ID);
    const rest = served.filter((r) => r.rule_id !== MASTER_RULE_ID);
    ruleset[kind] = [...master, ...user.rules[kind].map((r) => servedUserRule(kind, r)), ...rest];
  }
  return ruleset;
}

/** The `content` of the m.push_rules account data event. */
export function pushRulesContent(ruleset: Ruleset): JsonObject {
  return { global: ruleset as unknown as JsonObject };
}
