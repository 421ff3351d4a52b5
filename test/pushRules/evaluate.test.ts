// Push rule evaluation on the spec's examples (conditions, the server-default rules, actions).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../src/protocol/json.ts';
import { conditionMatches, evaluate, type PushContext } from '../../src/pushRules/evaluate.ts';
import type { PushCondition } from '../../src/pushRules/rules.ts';
import { buildRuleset, emptyUserPushRules } from '../../src/pushRules/userRules.ts';

const ME = '@alice:example.org';
const context: PushContext = { userId: ME, displayName: 'Alice Liddell', memberCount: 5, senderPowerLevel: 0 };
const holds = (condition: PushCondition, event: JsonObject, ctx: Partial<PushContext> = {}) => conditionMatches(condition, event, { ...context, ...ctx });

const topic = (value: unknown): JsonObject =>
  ({ type: 'm.room.topic', state_key: '', sender: '@example:example.org', room_id: '!r:example.com', content: { topic: value } }) as JsonObject;
const body = (text: unknown): JsonObject => ({ type: 'm.room.message', sender: '@example:example.org', room_id: '!r:example.com', content: { body: text } }) as JsonObject;

test('event_match: glob on the whole value, case-insensitive, strings only (spec example lunc?*)', () => {
  const c = { kind: 'event_match', key: 'content.topic', pattern: 'lunc?*' };
  assert.ok(holds(c, topic('Lunch plans')));
  assert.ok(holds(c, topic('LUNCH')));
  assert.ok(!holds(c, topic(' lunch')));
  assert.ok(!holds(c, topic('lunc')));
  assert.ok(!holds(c, topic(null)));
  assert.ok(!holds({ kind: 'event_match', key: 'content.absent', pattern: '*' }, topic('x')));
  // Regular expression characters in a pattern are literal.
  assert.ok(holds({ kind: 'event_match', key: 'content.topic', pattern: 'a.b(c)' }, topic('A.B(C)')));
  assert.ok(!holds({ kind: 'event_match', key: 'content.topic', pattern: 'a.b' }, topic('axb')));
  assert.ok(!holds({ kind: 'event_match', key: 'content.topic', pattern: 'a.b' }, topic('a.bc')));
  // Beyond ASCII, case folding still applies: accented capitals, and the Kelvin sign folding to an ASCII k.
  assert.ok(holds({ kind: 'event_match', key: 'content.topic', pattern: 'éclair' }, topic('ÉCLAIR')));
  assert.ok(holds({ kind: 'event_match', key: 'content.topic', pattern: 'k' }, topic('\u212a')));
});

test('event_match on content.body: any substring between word boundaries (spec example ex*ple)', () => {
  const c = { kind: 'event_match', key: 'content.body', pattern: 'ex*ple' };
  assert.ok(holds(c, body('An example event.')));
  assert.ok(holds(c, body('exple')));
  assert.ok(holds(c, body('An exciting triple-whammy')));
  assert.ok(!holds(c, body('An examples event')));
  assert.ok(!holds(c, body('next example_1')));
  assert.ok(holds({ kind: 'event_match', key: 'content.body', pattern: 'cake' }, body('I like CAKE!')));
  assert.ok(!holds({ kind: 'event_match', key: 'content.body', pattern: 'cake' }, body('cupcakes')));
});

test('event_property_is: exact scalar, no casting (spec example content.m\\.federate)', () => {
  const create = (federate: unknown) => ({ type: 'm.room.create', state_key: '', sender: '@e:x', content: { 'm.federate': federate } }) as JsonObject;
  const c = { kind: 'event_property_is', key: 'content.m\\.federate', value: true };
  assert.ok(holds(c, create(true)));
  assert.ok(!holds(c, create('true')));
  assert.ok(!holds(c, create(1)));
  assert.ok(!holds(c, { type: 'm.room.create', content: {} }));
  assert.ok(holds({ kind: 'event_property_is', key: 'content.m\\.federate', value: null }, create(null)));
  assert.ok(!holds({ kind: 'event_property_is', key: 'content.m\\.federate', value: null }, create({})));
});

test('event_property_contains: exact member of an array (spec example alt_aliases)', () => {
  const event = { type: 'm.room.canonical_alias', content: { alt_aliases: ['#somewhere:example.org', '#myroom:example.com'] } } as JsonObject;
  assert.ok(holds({ kind: 'event_property_contains', key: 'content.alt_aliases', value: '#myroom:example.com' }, event));
  assert.ok(!holds({ kind: 'event_property_contains', key: 'content.alt_aliases', value: ':example.com' }, event));
  assert.ok(!holds({ kind: 'event_property_contains', key: 'content.alias', value: '#x' }, { content: { alias: '#x' } }));
});

test('contains_display_name, room_member_count, sender_notification_permission, unknown kinds', () => {
  assert.ok(holds({ kind: 'contains_display_name' }, body('hi alice liddell!')));
  assert.ok(!holds({ kind: 'contains_display_name' }, body('hi Alice Liddells')));
  assert.ok(!holds({ kind: 'contains_display_name' }, body('hi Alice'), { displayName: '' }));
  assert.ok(holds({ kind: 'contains_display_name' }, body('hey a*b'), { displayName: 'a*b' }));
  assert.ok(!holds({ kind: 'contains_display_name' }, body('hey axxb'), { displayName: 'a*b' }));
  const count = (is: string, memberCount: number) => holds({ kind: 'room_member_count', is }, body('x'), { memberCount });
  assert.ok(count('2', 2) && !count('2', 3) && count('==2', 2));
  assert.ok(count('<10', 9) && !count('<10', 10) && count('<=10', 10) && !count('<=10', 11));
  assert.ok(count('>2', 3) && !count('>2', 2) && count('>=2', 2) && !count('>=2', 1));
  assert.ok(!count('two', 2) && !count('=2', 2) && !count('', 0));
  const permission = { kind: 'sender_notification_permission', key: 'room' };
  assert.ok(!holds(permission, body('x'), { senderPowerLevel: 49 }));
  assert.ok(holds(permission, body('x'), { senderPowerLevel: 50 }));
  assert.ok(holds(permission, body('x'), { senderPowerLevel: 10, notificationPowerLevels: { room: 10 } }));
  assert.ok(!holds({ kind: 'org.example.unknown' }, body('x')));
});

const defaults = buildRuleset(ME, emptyUserPushRules());
const from = (event: Partial<JsonObject>): JsonObject => ({ sender: '@bob:example.org', room_id: '!r:example.org', ...event }) as JsonObject;

test('server-default rules: messages notify, mentions highlight, notices, edits, reactions and members do not', () => {
  assert.deepEqual(evaluate(defaults, from({ type: 'm.room.message', content: { msgtype: 'm.text', body: 'hello' } }), context), {
    ruleId: '.m.rule.message',
    kind: 'underride',
    actions: ['notify'],
    notify: true,
    highlight: false,
  });
  const mention = evaluate(defaults, from({ type: 'm.room.message', content: { body: 'hi', 'm.mentions': { user_ids: [ME] } } }), context);
  assert.equal(mention?.ruleId, '.m.rule.is_user_mention');
  assert.ok(mention?.notify && mention.highlight);
  assert.equal(mention?.sound, 'default');
  // A room mention needs the power to notify the room.
  const atRoom = from({ type: 'm.room.message', content: { body: '@room', 'm.mentions': { room: true } } });
  assert.equal(evaluate(defaults, atRoom, context)?.ruleId, '.m.rule.message');
  assert.equal(evaluate(defaults, atRoom, { ...context, senderPowerLevel: 50 })?.ruleId, '.m.rule.is_room_mention');
  // Legacy mentions (v1.17 removed them): the display name alone does not highlight.
  assert.equal(evaluate(defaults, from({ type: 'm.room.message', content: { body: 'Alice Liddell, hi' } }), context)?.highlight, false);
  assert.equal(evaluate(defaults, from({ type: 'm.room.message', content: { msgtype: 'm.notice', body: 'x' } }), context)?.notify, false);
  const edit = from({ type: 'm.room.message', content: { body: '* x', 'm.relates_to': { rel_type: 'm.replace', event_id: '$e' } } });
  assert.equal(evaluate(defaults, edit, context)?.ruleId, '.m.rule.suppress_edits');
  assert.equal(evaluate(defaults, from({ type: 'm.reaction', content: {} }), context)?.notify, false);
  assert.equal(evaluate(defaults, from({ type: 'm.room.member', state_key: '@carol:x', content: { membership: 'join' } }), context)?.notify, false);
  const invite = evaluate(defaults, from({ type: 'm.room.member', state_key: ME, content: { membership: 'invite' } }), context);
  assert.equal(invite?.ruleId, '.m.rule.invite_for_me');
  assert.ok(invite?.notify && !invite.highlight);
  const tombstone = evaluate(defaults, from({ type: 'm.room.tombstone', state_key: '', content: {} }), context);
  assert.ok(tombstone?.highlight);
  // One-to-one rooms and encrypted events; calls ring.
  const dm = evaluate(defaults, from({ type: 'm.room.message', content: { body: 'x' } }), { ...context, memberCount: 2 });
  assert.equal(dm?.ruleId, '.m.rule.room_one_to_one');
  assert.equal(evaluate(defaults, from({ type: 'm.room.encrypted', content: {} }), context)?.ruleId, '.m.rule.encrypted');
  assert.equal(evaluate(defaults, from({ type: 'm.call.invite', content: {} }), context)?.sound, 'ring');
  // Nothing matches a custom event type; the user's own events never notify them.
  assert.equal(evaluate(defaults, from({ type: 'org.example', content: {} }), context), null);
  assert.equal(evaluate(defaults, from({ sender: ME, type: 'm.room.message', content: { body: 'x' } }), context), null);
});

test('user rules and overrides of the defaults: order of kinds, master first, disabled rules skipped', () => {
  const user = emptyUserPushRules();
  user.rules.content.push({ rule_id: 'cake', enabled: true, pattern: 'cake', actions: ['notify', { set_tweak: 'highlight', value: false }] });
  user.rules.room.push({ rule_id: '!quiet:example.org', enabled: true, actions: [] });
  user.rules.sender.push({ rule_id: '@boss:example.org', enabled: true, actions: ['notify', { set_tweak: 'highlight' }] });
  user.rules.override.push({ rule_id: 'off', enabled: false, conditions: [], actions: [] });
  const rules = buildRuleset(ME, user);
  const message = (extra: Partial<JsonObject>, text = 'hello') => from({ type: 'm.room.message', content: { body: text }, ...extra });
  assert.deepEqual(evaluate(rules, message({}, 'cake please'), context)?.ruleId, 'cake');
  assert.equal(evaluate(rules, message({}, 'cake please'), context)?.highlight, false);
  // content comes before room, room before sender.
  assert.equal(evaluate(rules, message({ room_id: '!quiet:example.org' }, 'cake'), context)?.ruleId, 'cake');
  assert.equal(evaluate(rules, message({ room_id: '!quiet:example.org', sender: '@boss:example.org' }), context)?.ruleId, '!quiet:example.org');
  assert.equal(evaluate(rules, message({ sender: '@boss:example.org' }), context)?.highlight, true);
  // The master rule, once enabled, silences everything, user rules included.
  user.defaults['override/.m.rule.master'] = { enabled: true };
  const muted = evaluate(buildRuleset(ME, user), message({}, 'cake'), context);
  assert.equal(muted?.ruleId, '.m.rule.master');
  assert.equal(muted?.notify, false);
});
