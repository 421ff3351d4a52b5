// Reading and changing a user's push rules (GET/PUT/DELETE /pushrules/global/{kind}/{ruleId}, .../enabled,
// .../actions). Every change rewrites the user's document under a new push_rules stream id, so /sync sends the
// new m.push_rules to each of the user's clients.
import { isJsonObject, type JsonObject } from '../protocol/json.ts';
import { isValidRoomId, isValidUserId } from '../protocol/identifiers.ts';
import type { Database } from '../storage/database.ts';
import { PushRulesStore } from '../storage/pushRules.ts';
import { UserDataError, userDataInvalidParam, userDataNotFound } from '../userData/errors.ts';
import type { StreamWriter } from '../userData/streamWriter.ts';
import { isServerDefaultId, serverDefaultRules, withoutHistoricalActions, type PushAction, type PushCondition, type PushRule, type RuleKind, type Ruleset } from './rules.ts';
import { buildRuleset, defaultKey, parseUserPushRules, type UserPushRules, type UserRule } from './userRules.ts';

export interface RuleBody {
  actions: PushAction[];
  conditions?: PushCondition[];
  pattern?: string;
}

export interface Placement {
  before?: string;
  after?: string;
}

const ACTIONS = new Set(['notify', 'dont_notify', 'coalesce']);

const ruleNotFound = () => userDataNotFound('The push rule was not found.');

export class PushRulesService {
  private readonly db: Database;
  private readonly writer: StreamWriter;

  constructor(db: Database, writer: StreamWriter) {
    this.db = db;
    this.writer = writer;
  }

  async ruleset(userId: string): Promise<Ruleset> {
    return buildRuleset(userId, parseUserPushRules(await new PushRulesStore(this.db).get(userId)));
  }

  /** One rule as served, or 404 M_NOT_FOUND. */
  async rule(userId: string, kind: RuleKind, ruleId: string): Promise<PushRule> {
    const found = (await this.ruleset(userId))[kind].find((r) => r.rule_id === ruleId);
    if (!found) throw ruleNotFound();
    return found;
  }

  /** Creates or replaces a user rule; `placement` moves it relative to another user rule of the kind. */
  async put(userId: string, kind: RuleKind, ruleId: string, body: RuleBody, placement: Placement): Promise<void> {
    checkNewRuleId(kind, ruleId);
    const actions = checkedActions(body.actions);
    if (kind === 'content' && body.pattern === undefined) throw new UserDataError(400, 'M_MISSING_PARAM', 'content rules need a pattern');
    const relative = placement.before ?? placement.after;
    if (relative !== undefined && isServerDefaultId(relative)) {
      throw userDataInvalidParam('a rule cannot be placed relative to a server-default rule');
    }
    await this.change(userId, (user) => {
      const list = user.rules[kind];
      const index = list.findIndex((r) => r.rule_id === ruleId);
      const previous = index >= 0 ? list[index] : undefined;
      const rule: UserRule = {
        rule_id: ruleId,
        // New rules are enabled; replacing a rule's definition keeps whether it was enabled.
        enabled: previous?.enabled ?? true,
        actions,
        ...((kind === 'override' || kind === 'underride') ? { conditions: body.conditions ?? [] } : {}),
        ...(kind === 'content' ? { pattern: body.pattern as string } : {}),
      };
      const others = list.filter((r) => r.rule_id !== ruleId);
      let at: number;
      if (relative !== undefined) {
        const target = others.findIndex((r) => r.rule_id === relative);
        if (target < 0) throw new UserDataError(400, 'M_UNKNOWN', `before/after rule not found: ${relative}`);
        at = placement.before !== undefined ? target : target + 1;
      } else {
        // Without before/after an existing rule keeps its place and a new one becomes the kind's most important.
        at = index >= 0 ? index : 0;
      }
      others.splice(at, 0, rule);
      user.rules[kind] = others;
    });
  }

  async remove(userId: string, kind: RuleKind, ruleId: string): Promise<void> {
    if (isServerDefaultId(ruleId)) {
      if (!isDefaultRule(kind, ruleId)) throw ruleNotFound();
      throw userDataInvalidParam('server-default rules cannot be deleted');
    }
    await this.change(userId, (user) => {
      const list = user.rules[kind];
      if (!list.some((r) => r.rule_id === ruleId)) throw ruleNotFound();
      user.rules[kind] = list.filter((r) => r.rule_id !== ruleId);
    });
  }

  async setEnabled(userId: string, kind: RuleKind, ruleId: string, enabled: boolean): Promise<void> {
    await this.change(userId, (user) => {
      if (isServerDefaultId(ruleId)) changeDefault(user, kind, ruleId).enabled = enabled;
      else userRule(user, kind, ruleId).enabled = enabled;
    });
  }

  async setActions(userId: string, kind: RuleKind, ruleId: string, actions: PushAction[]): Promise<void> {
    const checked = checkedActions(actions);
    await this.change(userId, (user) => {
      if (isServerDefaultId(ruleId)) changeDefault(user, kind, ruleId).actions = checked;
      else userRule(user, kind, ruleId).actions = checked;
    });
  }

  /** Reads, changes (or throws, changing nothing) and writes the user's document in one transaction. */
  private async change(userId: string, apply: (user: UserPushRules) => void): Promise<void> {
    await this.writer.write(async (tx, id) => {
      // Serialises concurrent changes of one user's rules, so none is lost.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1::text))', [`push_rules:${userId}`]);
      const store = new PushRulesStore(tx);
      const user = parseUserPushRules(await store.get(userId));
      apply(user);
      await store.put(userId, user as unknown as JsonObject, id);
      return { result: undefined, audience: { users: [userId] } };
    });
  }
}

function isDefaultRule(kind: RuleKind, ruleId: string): boolean {
  // The defaults' ids and kinds do not depend on the user; any id gives the same list.
  return serverDefaultRules('@x:x')[kind].some((r) => r.rule_id === ruleId);
}

function changeDefault(user: UserPushRules, kind: RuleKind, ruleId: string): { enabled?: boolean; actions?: PushAction[] } {
  if (!isDefaultRule(kind, ruleId)) throw ruleNotFound();
  const key = defaultKey(kind, ruleId);
  user.defaults[key] ??= {};
  return user.defaults[key];
}

function userRule(user: UserPushRules, kind: RuleKind, ruleId: string): UserRule {
  const rule = user.rules[kind].find((r) => r.rule_id === ruleId);
  if (!rule) throw ruleNotFound();
  return rule;
}

/** Rule ids a user may create (spec: no leading dot, no slashes; room and sender rules are named by their id). */
function checkNewRuleId(kind: RuleKind, ruleId: string): void {
  if (ruleId === '') throw userDataInvalidParam('the rule id may not be empty');
  if (isServerDefaultId(ruleId)) throw userDataInvalidParam('rule ids starting with "." are reserved for server-default rules');
  if (ruleId.includes('/') || ruleId.includes('\\')) throw userDataInvalidParam('rule ids may not contain "/" or "\\"');
  if (kind === 'room' && !isValidRoomId(ruleId) && !isValidRoomId(ruleId, true)) throw userDataInvalidParam('the id of a room rule must be a room id');
  if (kind === 'sender' && !isValidUserId(ruleId)) throw userDataInvalidParam('the id of a sender rule must be a user id');
}

function checkedActions(actions: readonly PushAction[]): PushAction[] {
  for (const action of actions) {
    if (typeof action === 'string') {
      if (!ACTIONS.has(action)) throw userDataInvalidParam(`unknown action ${action}`);
    } else if (!isJsonObject(action) || typeof action['set_tweak'] !== 'string') {
      throw userDataInvalidParam('an action object needs a set_tweak string');
    }
  }
  return withoutHistoricalActions(actions);
}
