// Which push rule an event matches for one user, and what its actions say (spec "Push Rules", "Conditions",
// "Actions"). Pure: the caller gathers the room facts the conditions need.
import { isJsonObject, type JsonObject, type JsonValue } from '../protocol/json.ts';
import { splitFieldPath } from '../protocol/fieldPath.ts';
import { RULE_KINDS, type PushAction, type PushCondition, type PushRule, type RuleKind, type Ruleset } from './rules.ts';

export interface PushContext {
  /** The user whose rules these are. */
  userId: string;
  /** The user's display name in the room (contains_display_name); absent or empty never matches. */
  displayName?: string | null;
  /** Joined members of the room (room_member_count). */
  memberCount: number;
  /** The sender's power level in the room (sender_notification_permission). */
  senderPowerLevel: number;
  /** `content.notifications` of the room's m.room.power_levels, if any. */
  notificationPowerLevels?: JsonObject;
}

export interface PushOutcome {
  ruleId: string;
  kind: RuleKind;
  actions: PushAction[];
  notify: boolean;
  highlight: boolean;
  /** The `sound` tweak, when set. */
  sound?: string;
}

/** The spec's default for `notifications.room`, used for any key the room does not set. */
const DEFAULT_NOTIFICATION_LEVEL = 50;

/**
 * The first enabled rule (override, content, room, sender, underride; each in order) that matches, or null.
 * Events the user sent themselves never notify them, whatever the rules say.
 */
export function evaluate(ruleset: Ruleset, event: JsonObject, context: PushContext): PushOutcome | null {
  if (event['sender'] === context.userId) return null;
  for (const kind of RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (rule.enabled && ruleMatches(kind, rule, event, context)) return outcome(kind, rule);
    }
  }
  return null;
}

function ruleMatches(kind: RuleKind, rule: PushRule, event: JsonObject, context: PushContext): boolean {
  switch (kind) {
    case 'content':
      return typeof rule.pattern === 'string' && globMatches('content.body', rule.pattern, event);
    case 'room':
      return event['room_id'] === rule.rule_id;
    case 'sender':
      return event['sender'] === rule.rule_id;
    default:
      for (const c of rule.conditions ?? []) if (!conditionMatches(c, event, context)) return false;
      return true;
  }
}

export function conditionMatches(condition: PushCondition, event: JsonObject, context: PushContext): boolean {
  switch (condition.kind) {
    case 'event_match':
      return typeof condition.key === 'string' && typeof condition.pattern === 'string' && globMatches(condition.key, condition.pattern, event);
    case 'event_property_is': {
      const value = property(event, condition.key);
      return value !== undefined && isScalar(value) && isScalar(condition.value) && value === condition.value;
    }
    case 'event_property_contains': {
      const value = property(event, condition.key);
      return Array.isArray(value) && isScalar(condition.value) && value.some((v) => isScalar(v) && v === condition.value);
    }
    case 'contains_display_name': {
      const body = property(event, 'content.body');
      const name = context.displayName;
      return typeof body === 'string' && typeof name === 'string' && name !== '' && compiled(namePatterns, name).test(body);
    }
    case 'room_member_count':
      return typeof condition.is === 'string' && memberCountMatches(condition.is, context.memberCount);
    case 'sender_notification_permission': {
      if (typeof condition.key !== 'string') return false;
      const level = context.notificationPowerLevels?.[condition.key];
      const required = typeof level === 'number' && Number.isInteger(level) ? level : DEFAULT_NOTIFICATION_LEVEL;
      return context.senderPowerLevel >= required;
    }
    default:
      // Unrecognised conditions never match (the rule is in effect disabled).
      return false;
  }
}

/** event_match: content.body matches on words anywhere in it; every other key matches the whole value. */
function globMatches(key: string, pattern: string, event: JsonObject): boolean {
  const value = property(event, key);
  return typeof value === 'string' && compiled(key === 'content.body' ? wordPatterns : wholePatterns, pattern).test(value);
}

function property(event: JsonObject, key: string | undefined): JsonValue | undefined {
  if (typeof key !== 'string') return undefined;
  let parts = paths.get(key);
  if (parts === undefined) {
    parts = splitFieldPath(key);
    remember(paths, key, parts);
  }
  let value: JsonValue | undefined = event;
  for (const part of parts) {
    if (!isJsonObject(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

const isScalar = (v: unknown): v is string | number | boolean | null =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v));

/** Glob (`*` any run, `?` one character) as a regular expression body, other characters literal. */
function globSource(pattern: string): string {
  let source = '';
  for (const c of pattern) {
    if (c === '*') source += '.*?';
    else if (c === '?') source += '.';
    else source += escapeRegex(c);
  }
  return source;
}

const escapeRegex = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

const WORD = 'A-Za-z0-9_';
/**
 * Compiled patterns by kind and text, and condition keys split into their parts. Every user brings two patterns of their
 * own (their display name and, through the default content rule, their localpart), so the bound is well above two per
 * member of a big room: a thousand members woken by one message must not compile theirs again each time. The oldest
 * entry goes first.
 */
const CACHED = 10_000;
const paths = new Map<string, readonly string[]>();

/** Patterns of one kind by their text, and how to compile one. */
interface Patterns {
  compiled: Map<string, RegExp>;
  compile(text: string): RegExp;
}

/** `source` matching a substring that starts and ends at word boundaries (the value's ends or a non-word character). */
const atWords = (source: string) => new RegExp(`(?<![${WORD}])${source}(?![${WORD}])`, 'isu');
/** Globs matching a whole value. */
const wholePatterns: Patterns = { compiled: new Map(), compile: (glob) => new RegExp(`^${globSource(glob)}$`, 'isu') };
/** Globs matching words of content.body. */
const wordPatterns: Patterns = { compiled: new Map(), compile: (glob) => atWords(globSource(glob)) };
/** Display names, literally, as words of content.body. */
const namePatterns: Patterns = { compiled: new Map(), compile: (name) => atWords(escapeRegex(name)) };

function compiled(patterns: Patterns, text: string): RegExp {
  let regex = patterns.compiled.get(text);
  if (regex === undefined) {
    regex = patterns.compile(text);
    remember(patterns.compiled, text, regex);
  }
  return regex;
}

/** Keeps `value`, dropping the oldest entry when the cache is full. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHED) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
}

/** room_member_count's `is`, parsed: the comparison and the number, or null when it is not one. */
const memberCountConditions = new Map<string, { op: string | undefined; n: number } | null>();

function memberCountMatches(is: string, count: number): boolean {
  let parsed = memberCountConditions.get(is);
  if (parsed === undefined) {
    const m = /^(==|<=|>=|<|>)?([0-9]+)$/.exec(is);
    parsed = m ? { op: m[1], n: Number(m[2]) } : null;
    remember(memberCountConditions, is, parsed);
  }
  if (!parsed) return false;
  const n = parsed.n;
  switch (parsed.op) {
    case '<':
      return count < n;
    case '>':
      return count > n;
    case '<=':
      return count <= n;
    case '>=':
      return count >= n;
    default:
      return count === n;
  }
}

function outcome(kind: RuleKind, rule: PushRule): PushOutcome {
  let highlight = false;
  let sound: string | undefined;
  for (const action of rule.actions) {
    if (!isJsonObject(action)) continue;
    if (action['set_tweak'] === 'highlight') highlight = action['value'] === undefined || action['value'] === true;
    else if (action['set_tweak'] === 'sound' && typeof action['value'] === 'string') sound = action['value'];
  }
  return {
    ruleId: rule.rule_id,
    kind,
    actions: rule.actions,
    notify: rule.actions.includes('notify'),
    highlight,
    ...(sound !== undefined ? { sound } : {}),
  };
}
