// The push rules API over real HTTP (responses checked against the spec), and m.push_rules in /sync.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, enc, fails, newUser, suiteServer } from '../rooms/client.ts';

type Rule = { rule_id: string; default: boolean; enabled: boolean; actions: unknown[]; conditions?: unknown[]; pattern?: string };
type Ruleset = Record<'override' | 'content' | 'room' | 'sender' | 'underride', Rule[]>;

const ids = (rules: Rule[]) => rules.map((r) => r.rule_id);
const RULES = `${V3}/pushrules/global`;

forEachBackend('push rules over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('the server-default rules of v1.19, with the user id substituted', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const all = (await call(s, 'GET', `${V3}/pushrules/`, alice)) as { global: Ruleset };
    const global = (await call(s, 'GET', `${RULES}/`, alice)) as unknown as Ruleset;
    assert.deepEqual(all.global, global);
    assert.deepEqual(ids(global.override), [
      '.m.rule.master',
      '.m.rule.suppress_notices',
      '.m.rule.invite_for_me',
      '.m.rule.member_event',
      '.m.rule.is_user_mention',
      '.m.rule.is_room_mention',
      '.m.rule.tombstone',
      '.m.rule.reaction',
      '.m.rule.room.server_acl',
      '.m.rule.suppress_edits',
    ]);
    assert.deepEqual(global.content, []);
    assert.deepEqual(global.room, []);
    assert.deepEqual(global.sender, []);
    assert.deepEqual(ids(global.underride), ['.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted']);
    const master = global.override[0] as Rule;
    assert.deepEqual(master, { rule_id: '.m.rule.master', default: true, enabled: false, conditions: [], actions: [] });
    const mention = global.override.find((r) => r.rule_id === '.m.rule.is_user_mention') as Rule;
    assert.deepEqual(mention.conditions, [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: alice.userId }]);
    assert.deepEqual(mention.actions, ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }]);
    const invite = global.override.find((r) => r.rule_id === '.m.rule.invite_for_me') as Rule;
    assert.deepEqual(invite.conditions?.[2], { kind: 'event_match', key: 'state_key', pattern: alice.userId });
    assert.ok(global.override.concat(global.underride).every((r) => r.default));
  });

  test('user rules: created enabled and most important, ordered with before/after, replaced in place, deleted', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    await call(s, 'PUT', `${RULES}/content/cake`, alice, { pattern: 'cake', actions: ['notify', { set_tweak: 'sound', value: 'cakealarm.wav' }] });
    assert.deepEqual(await call(s, 'GET', `${RULES}/content/cake`, alice), {
      rule_id: 'cake',
      default: false,
      enabled: true,
      pattern: 'cake',
      actions: ['notify', { set_tweak: 'sound', value: 'cakealarm.wav' }],
    });
    await call(s, 'PUT', `${RULES}/content/lie?before=cake`, alice, { pattern: 'cake*lie', actions: ['notify'] });
    await call(s, 'PUT', `${RULES}/content/tea?after=lie`, alice, { pattern: 'tea', actions: [] });
    await call(s, 'PUT', `${RULES}/content/first`, alice, { pattern: 'first', actions: ['dont_notify'] });
    let global = (await call(s, 'GET', `${RULES}/`, alice)) as unknown as Ruleset;
    assert.deepEqual(ids(global.content), ['first', 'lie', 'tea', 'cake']);
    // dont_notify is historical: stripped.
    assert.deepEqual((global.content[0] as Rule).actions, []);
    // Replacing keeps the place (and a disabled rule stays disabled); before/after moves it.
    await call(s, 'PUT', `${RULES}/content/lie/enabled`, alice, { enabled: false });
    await call(s, 'PUT', `${RULES}/content/lie`, alice, { pattern: 'lies', actions: ['notify'] });
    global = (await call(s, 'GET', `${RULES}/`, alice)) as unknown as Ruleset;
    assert.deepEqual(ids(global.content), ['first', 'lie', 'tea', 'cake']);
    assert.equal((global.content[1] as Rule).pattern, 'lies');
    assert.deepEqual(await call(s, 'GET', `${RULES}/content/lie/enabled`, alice), { enabled: false });
    await call(s, 'PUT', `${RULES}/content/first?after=cake`, alice, { pattern: 'first', actions: [] });
    global = (await call(s, 'GET', `${RULES}/`, alice)) as unknown as Ruleset;
    assert.deepEqual(ids(global.content), ['lie', 'tea', 'cake', 'first']);
    await call(s, 'DELETE', `${RULES}/content/tea`, alice);
    await fails(s, 'GET', `${RULES}/content/tea`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'DELETE', `${RULES}/content/tea`, alice, undefined, 404, 'M_NOT_FOUND');

    // Override rules go after .m.rule.master and before the other server-default ones; room and sender rules.
    const conditions = [{ kind: 'event_match', key: 'content.body', pattern: 'beer' }, { kind: 'room_member_count', is: '<=10' }];
    await call(s, 'PUT', `${RULES}/override/beer`, alice, { conditions, actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }] });
    await call(s, 'PUT', `${RULES}/room/${enc('!dj234r78wl45Gh4D:matrix.org')}`, alice, { actions: [] });
    await call(s, 'PUT', `${RULES}/sender/${enc('@spambot:matrix.org')}`, alice, { actions: [] });
    global = (await call(s, 'GET', `${RULES}/`, alice)) as unknown as Ruleset;
    assert.deepEqual(ids(global.override).slice(0, 3), ['.m.rule.master', 'beer', '.m.rule.suppress_notices']);
    assert.deepEqual((global.override[1] as Rule).conditions, conditions);
    assert.deepEqual(global.room, [{ rule_id: '!dj234r78wl45Gh4D:matrix.org', default: false, enabled: true, actions: [] }]);
    assert.deepEqual(ids(global.sender), ['@spambot:matrix.org']);

    // Another user sees none of it.
    const bob = await newUser(s, 'bob');
    const theirs = (await call(s, 'GET', `${RULES}/`, bob)) as unknown as Ruleset;
    assert.deepEqual([theirs.content, theirs.room, theirs.sender], [[], [], []]);
  });

  test('server-default rules: enabled and actions can change, the rule cannot be replaced, moved or deleted', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    assert.deepEqual(await call(s, 'GET', `${RULES}/override/.m.rule.master/enabled`, alice), { enabled: false });
    await call(s, 'PUT', `${RULES}/override/.m.rule.master/enabled`, alice, { enabled: true });
    assert.deepEqual(await call(s, 'GET', `${RULES}/override/.m.rule.master/enabled`, alice), { enabled: true });
    assert.deepEqual(await call(s, 'GET', `${RULES}/underride/.m.rule.message/actions`, alice), { actions: ['notify'] });
    await call(s, 'PUT', `${RULES}/underride/.m.rule.message/actions`, alice, { actions: ['notify', { set_tweak: 'sound', value: 'bing' }] });
    const message = await call(s, 'GET', `${RULES}/underride/.m.rule.message`, alice);
    assert.deepEqual(message['actions'], ['notify', { set_tweak: 'sound', value: 'bing' }]);
    assert.equal(message['default'], true);
    await fails(s, 'PUT', `${RULES}/override/.m.rule.master`, alice, { actions: [] }, 400, 'M_INVALID_PARAM');
    await fails(s, 'DELETE', `${RULES}/override/.m.rule.master`, alice, undefined, 400, 'M_INVALID_PARAM');
    await call(s, 'PUT', `${RULES}/override/mine`, alice, { actions: [] });
    await fails(s, 'PUT', `${RULES}/override/other?before=.m.rule.suppress_notices`, alice, { actions: [] }, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', `${RULES}/override/other?after=absent`, alice, { actions: [] }, 400, 'M_UNKNOWN');
    await fails(s, 'GET', `${RULES}/override/other`, alice, undefined, 404, 'M_NOT_FOUND');
    // Unknown rules, and default rules under the wrong kind.
    await fails(s, 'GET', `${RULES}/override/.m.rule.message`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'PUT', `${RULES}/override/.m.rule.nope/enabled`, alice, { enabled: true }, 404, 'M_NOT_FOUND');
    await fails(s, 'PUT', `${RULES}/content/nope/actions`, alice, { actions: [] }, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${RULES}/content/nope/actions`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'DELETE', `${RULES}/room/.m.rule.nope`, alice, undefined, 404, 'M_NOT_FOUND');
  });

  test('/sync: m.push_rules on an initial sync, again only after a change', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    type Sync = { next_batch: string; account_data: { events: { type: string; content: { global: Ruleset } }[] } };
    const pushRules = (sync: Sync) => sync.account_data.events.filter((e) => e.type === 'm.push_rules');
    const initial = (await call(s, 'GET', `${V3}/sync?timeout=0`, alice)) as unknown as Sync;
    const [event] = pushRules(initial);
    assert.ok(event, 'an initial sync carries m.push_rules');
    assert.deepEqual(event.content.global, await call(s, 'GET', `${RULES}/`, alice));
    const quiet = (await call(s, 'GET', `${V3}/sync?timeout=0&since=${enc(initial.next_batch)}`, alice)) as unknown as Sync;
    assert.deepEqual(pushRules(quiet), []);
    // A change wakes a waiting sync and arrives in it.
    const waiting = call(s, 'GET', `${V3}/sync?timeout=10000&since=${enc(quiet.next_batch)}`, alice) as unknown as Promise<Sync>;
    await new Promise((resolve) => setTimeout(resolve, 100));
    await call(s, 'PUT', `${RULES}/override/.m.rule.master/enabled`, alice, { enabled: true });
    const woken = await waiting;
    const [changed] = pushRules(woken);
    assert.ok(changed, 'the change is in the next sync');
    assert.equal(changed.content.global.override[0]?.enabled, true);
    // Someone else's change does not reach alice.
    const bob = await newUser(s, 'bob');
    await call(s, 'PUT', `${RULES}/override/.m.rule.master/enabled`, bob, { enabled: true });
    const after = (await call(s, 'GET', `${V3}/sync?timeout=0&since=${enc(woken.next_batch)}`, alice)) as unknown as Sync;
    assert.deepEqual(pushRules(after), []);
  });
});
