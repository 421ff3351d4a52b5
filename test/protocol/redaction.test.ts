import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { JsonObject, JsonValue } from '../../src/protocol/json.ts';
import { keptContentKeys, keptTopLevelKeys, redactEvent } from '../../src/protocol/redaction.ts';
import { ROOM_VERSIONS, getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';

const v = (id: string): RoomVersion => getRoomVersion(id) as RoomVersion;

/** An event with every top-level key any version keeps, some no version keeps, and the given type and content. */
function event(type: string, content: JsonObject): JsonObject {
  return {
    event_id: '$e:example.org',
    type,
    room_id: '!r:example.org',
    sender: '@a:example.org',
    state_key: '',
    content,
    hashes: { sha256: 'h' },
    signatures: { 'example.org': { 'ed25519:1': 's' } },
    depth: 3,
    prev_events: ['$p'],
    prev_state: [],
    auth_events: ['$a'],
    origin: 'example.org',
    origin_server_ts: 1,
    membership: 'join',
    unsigned: { age: 1 },
    age_ts: 1,
    redacts: '$x',
    extra: 'gone',
  };
}

const topLevelUpToV10 = [
  'auth_events',
  'content',
  'depth',
  'event_id',
  'hashes',
  'membership',
  'origin',
  'origin_server_ts',
  'prev_events',
  'prev_state',
  'room_id',
  'sender',
  'signatures',
  'state_key',
  'type',
];
const topLevelV11 = topLevelUpToV10.filter((k) => !['membership', 'origin', 'prev_state'].includes(k));

const powerLevels = {
  ban: 50,
  events: { 'm.room.name': 50 },
  events_default: 0,
  invite: 0,
  kick: 50,
  notifications: { room: 50 },
  redact: 50,
  state_default: 50,
  users: { '@a:example.org': 100 },
  users_default: 0,
};

const keysOf = (o: JsonValue | undefined): string[] => Object.keys(o as JsonObject).sort();
const contentOf = (type: string, content: JsonObject, version: string): JsonObject =>
  redactEvent(event(type, content), v(version))['content'] as JsonObject;

describe('redaction: top-level keys', () => {
  it('v1–v10 keep the full list, including origin, membership and prev_state', () => {
    for (const id of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']) {
      assert.deepEqual(keysOf(redactEvent(event('m.room.message', { body: 'x' }), v(id))), topLevelUpToV10, id);
    }
  });

  it('v11+ drop origin, membership and prev_state', () => {
    for (const id of ['11', '12']) {
      assert.deepEqual(keysOf(redactEvent(event('m.room.message', { body: 'x' }), v(id))), topLevelV11, id);
    }
  });

  it('never keeps unsigned, age_ts, top-level redacts or unknown keys', () => {
    for (const version of ROOM_VERSIONS.values()) {
      const redacted = redactEvent(event('m.room.redaction', { redacts: '$x' }), version);
      for (const key of ['unsigned', 'age_ts', 'redacts', 'extra']) assert.equal(key in redacted, false, `${version.id} ${key}`);
    }
  });
});

describe('redaction: content per version family', () => {
  it('m.room.message loses all content everywhere', () => {
    for (const version of ROOM_VERSIONS.keys()) assert.deepEqual(contentOf('m.room.message', { body: 'x', msgtype: 'm.text' }, version), {});
  });

  it('m.room.member: membership; join_authorised_via_users_server from v9; third_party_invite.signed from v11', () => {
    const content = {
      membership: 'join',
      displayname: 'A',
      join_authorised_via_users_server: '@b:example.org',
      third_party_invite: { display_name: 'x', signed: { mxid: '@a:example.org', token: 't', signatures: {} } },
    };
    for (const id of ['1', '5', '6', '8']) assert.deepEqual(contentOf('m.room.member', content, id), { membership: 'join' }, id);
    for (const id of ['9', '10']) {
      assert.deepEqual(contentOf('m.room.member', content, id), { membership: 'join', join_authorised_via_users_server: '@b:example.org' }, id);
    }
    for (const id of ['11', '12']) {
      assert.deepEqual(
        contentOf('m.room.member', content, id),
        {
          membership: 'join',
          join_authorised_via_users_server: '@b:example.org',
          third_party_invite: { signed: { mxid: '@a:example.org', token: 't', signatures: {} } },
        },
        id,
      );
    }
    // A third_party_invite without `signed` leaves nothing behind.
    assert.deepEqual(contentOf('m.room.member', { membership: 'invite', third_party_invite: { display_name: 'x' } }, '11'), {
      membership: 'invite',
    });
  });

  it('m.room.create: creator before v11, all content from v11', () => {
    const content = { creator: '@a:example.org', room_version: '1', 'm.federate': false, predecessor: { room_id: '!o:x' } };
    for (const id of ['1', '6', '9', '10']) assert.deepEqual(contentOf('m.room.create', content, id), { creator: '@a:example.org' }, id);
    for (const id of ['11', '12']) assert.deepEqual(contentOf('m.room.create', content, id), content, id);
  });

  it('m.room.join_rules: join_rule; allow from v8', () => {
    const content = { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!o:x' }], other: 1 };
    for (const id of ['1', '5', '6', '7']) assert.deepEqual(contentOf('m.room.join_rules', content, id), { join_rule: 'restricted' }, id);
    for (const id of ['8', '9', '10', '11', '12']) {
      assert.deepEqual(contentOf('m.room.join_rules', content, id), { join_rule: 'restricted', allow: content.allow }, id);
    }
  });

  it('m.room.power_levels: the listed keys; invite from v11; notifications never', () => {
    const { invite: _i, notifications: _n, ...upToV10 } = powerLevels;
    const { notifications: _n2, ...v11 } = powerLevels;
    for (const id of ['1', '6', '8', '10']) assert.deepEqual(contentOf('m.room.power_levels', powerLevels, id), upToV10, id);
    for (const id of ['11', '12']) assert.deepEqual(contentOf('m.room.power_levels', powerLevels, id), v11, id);
  });

  it('m.room.history_visibility keeps history_visibility', () => {
    for (const version of ROOM_VERSIONS.keys()) {
      assert.deepEqual(contentOf('m.room.history_visibility', { history_visibility: 'shared', x: 1 }, version), { history_visibility: 'shared' });
    }
  });

  it('m.room.aliases keeps aliases only in v1–v5', () => {
    const content = { aliases: ['#a:example.org'], x: 1 };
    for (const id of ['1', '2', '3', '4', '5']) assert.deepEqual(contentOf('m.room.aliases', content, id), { aliases: ['#a:example.org'] }, id);
    for (const id of ['6', '9', '11', '12']) assert.deepEqual(contentOf('m.room.aliases', content, id), {}, id);
  });

  it('m.room.redaction keeps content.redacts from v11', () => {
    for (const id of ['1', '6', '10']) assert.deepEqual(contentOf('m.room.redaction', { redacts: '$x', reason: 'spam' }, id), {}, id);
    for (const id of ['11', '12']) assert.deepEqual(contentOf('m.room.redaction', { redacts: '$x', reason: 'spam' }, id), { redacts: '$x' }, id);
  });

  it('does not modify the input', () => {
    const input = event('m.room.power_levels', powerLevels);
    const copy = structuredClone(input);
    redactEvent(input, v('11'));
    assert.deepEqual(input, copy);
  });
});

// ---- properties ---------------------------------------------------------------------------------------------

const SPECIAL_TYPES = [
  'm.room.member',
  'm.room.create',
  'm.room.join_rules',
  'm.room.power_levels',
  'm.room.history_visibility',
  'm.room.aliases',
  'm.room.redaction',
  'm.room.message',
];
const CONTENT_KEYS = [
  'membership',
  'join_authorised_via_users_server',
  'third_party_invite',
  'creator',
  'join_rule',
  'allow',
  'ban',
  'events',
  'invite',
  'notifications',
  'history_visibility',
  'aliases',
  'redacts',
  'body',
];
const TOP_KEYS = [...topLevelUpToV10, 'unsigned', 'age_ts', 'redacts', 'extra'];

const valueArb: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.constant(null),
  fc.dictionary(fc.constantFrom('signed', 'x'), fc.string(), { noNullPrototype: true }),
);
const eventArb = fc.record({
  type: fc.oneof(fc.constantFrom(...SPECIAL_TYPES), fc.string()),
  top: fc.dictionary(fc.constantFrom(...TOP_KEYS), valueArb, { noNullPrototype: true }),
  content: fc.dictionary(fc.oneof(fc.constantFrom(...CONTENT_KEYS), fc.string()), valueArb, { noNullPrototype: true }),
});
const versionArb = fc.constantFrom(...ROOM_VERSIONS.values());

describe('redaction properties', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(eventArb, versionArb, ({ type, top, content }, version) => {
        const once = redactEvent({ ...top, type, content }, version);
        assert.deepStrictEqual(redactEvent(once, version), once);
      }),
    );
  });

  it('never removes a key the version keeps, and keeps it unchanged', () => {
    fc.assert(
      fc.property(eventArb, versionArb, ({ type, top, content }, version) => {
        const input: JsonObject = { ...top, type, content };
        const redacted = redactEvent(input, version);
        const keptTop = keptTopLevelKeys(version);
        for (const key of Object.keys(input)) {
          if (keptTop.has(key) && key !== 'content') assert.deepStrictEqual(redacted[key], input[key], key);
          if (!keptTop.has(key)) assert.equal(key in redacted, false, key);
        }
        const kept = keptContentKeys(type, version);
        const out = redacted['content'] as JsonObject;
        for (const key of Object.keys(content)) {
          if (kept === 'all' || kept.has(key)) assert.deepStrictEqual(out[key], content[key], key);
        }
        for (const key of Object.keys(out)) {
          const allowed = kept === 'all' || kept.has(key) || (key === 'third_party_invite' && version.redaction === 'v11');
          assert.ok(allowed, `content.${key} survived in ${version.id}`);
        }
      }),
    );
  });
});
