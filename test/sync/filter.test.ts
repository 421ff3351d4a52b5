// The filter module: the spec's Filter schema, wildcard matching, the order of the include/exclude rules, limits and
// event_fields paths with escaped dots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  InvalidFilterError,
  excludesEveryEvent,
  filterJsonEvents,
  matchesEventFilter,
  matchesPattern,
  parseFilter,
  pickEventFields,
} from '../../src/sync/filter.ts';

test('parseFilter accepts the spec example and unknown keys, refuses wrong types with the path', () => {
  const example = {
    room: {
      state: { types: ['m.room.*'], not_rooms: ['!726s6s6q:example.com'] },
      timeline: { limit: 10, types: ['m.room.message'], not_rooms: ['!726s6s6q:example.com'], not_senders: ['@spam:example.com'] },
      ephemeral: { types: ['m.receipt', 'm.typing'], not_rooms: ['!726s6s6q:example.com'], not_senders: ['@spam:example.com'] },
    },
    presence: { types: ['m.presence'], not_senders: ['@alice:example.com'] },
    event_format: 'client',
    event_fields: ['type', 'content', 'sender'],
    org_example_extension: true,
  };
  assert.deepEqual(parseFilter(example), example);
  assert.deepEqual(parseFilter({}), {});
  const refuses = (value: unknown, path: RegExp) => assert.throws(() => parseFilter(value), (e: unknown) => e instanceof InvalidFilterError && path.test(e.message));
  refuses([], /JSON object/);
  refuses({ room: { timeline: { limit: 0 } } }, /room\.timeline\.limit/);
  refuses({ room: { timeline: { limit: 2.5 } } }, /room\.timeline\.limit/);
  refuses({ room: { state: { types: 'm.room.name' } } }, /room\.state\.types/);
  refuses({ room: { rooms: ['#alias:example.com'] } }, /room\.rooms\[0\]/);
  refuses({ presence: { senders: ['alice'] } }, /presence\.senders\[0\]/);
  refuses({ room: { include_leave: 'yes' } }, /room\.include_leave/);
  refuses({ event_format: 'raw' }, /event_format/);
  refuses({ room: { state: { lazy_load_members: 1 } } }, /lazy_load_members/);
});

test('wildcards match any sequence of characters, anywhere; other characters literally', () => {
  assert.ok(matchesPattern('m.room.*', 'm.room.message'));
  assert.ok(matchesPattern('m.room.*', 'm.room.'));
  assert.ok(!matchesPattern('m.room.*', 'm.roomy'));
  assert.ok(matchesPattern('*', ''));
  assert.ok(matchesPattern('m.*.member', 'm.room.member'));
  assert.ok(!matchesPattern('m.room.message', 'm_room_message'), 'a dot is not a regular expression wildcard');
  assert.ok(!matchesPattern('m.(room)', 'm.room'));
  assert.ok(matchesPattern('a+b*', 'a+bc'));
});

test('exclusions win over inclusions; senders only apply to events that have one; contains_url both ways', () => {
  const event = { type: 'm.room.message', sender: '@a:hs', roomId: '!r:hs', content: { url: 'mxc://hs/x' } };
  assert.ok(matchesEventFilter(undefined, event));
  assert.ok(!matchesEventFilter({ types: ['m.room.*'], not_types: ['m.room.message'] }, event));
  assert.ok(!matchesEventFilter({ senders: ['@a:hs'], not_senders: ['@a:hs'] }, event));
  assert.ok(!matchesEventFilter({ rooms: ['!r:hs'], not_rooms: ['!r:hs'] }, event));
  assert.ok(!matchesEventFilter({ rooms: ['!other:hs'] }, event));
  assert.ok(matchesEventFilter({ senders: ['@b:hs'] }, { type: 'm.typing' }), 'no sender: senders do not apply');
  assert.ok(matchesEventFilter({ contains_url: true }, event));
  assert.ok(!matchesEventFilter({ contains_url: false }, event));
  assert.ok(matchesEventFilter({ contains_url: false }, { ...event, content: { body: 'no url' } }));
  assert.ok(!matchesEventFilter({ contains_url: true }, { ...event, content: { url: 42 } }));
});

test('limits keep the newest events that pass', () => {
  const events = [1, 2, 3, 4, 5].map((n) => ({ type: n % 2 === 0 ? 'even' : 'odd', content: { n } }));
  assert.deepEqual(
    filterJsonEvents({ types: ['odd'], limit: 2 }, events).map((e) => (e['content'] as { n: number }).n),
    [3, 5],
  );
  assert.equal(filterJsonEvents(undefined, events).length, 5);
});

test('event_fields: dot-separated paths, escaped dots and backslashes, missing fields left out', () => {
  const event = { type: 'm.room.message', sender: '@a:hs', content: { body: 'hi', 'm.relates_to': { rel_type: 'm.thread' }, msgtype: 'm.text' } };
  assert.deepEqual(pickEventFields(event, ['type', 'content.body', 'content.m\\.relates_to.rel_type', 'unsigned.age']), {
    type: 'm.room.message',
    content: { body: 'hi', 'm.relates_to': { rel_type: 'm.thread' } },
  });
  assert.equal(pickEventFields(event, undefined), event);
  assert.equal(pickEventFields(event, []), event);
});

test('excludesEveryEvent: only filters that let no event at all through', () => {
  for (const filter of [{ not_types: ['*'] }, { not_types: ['m.presence', '**'] }, { types: [] }, { limit: 0 }, { rooms: [] }]) {
    assert.equal(excludesEveryEvent(filter), true, JSON.stringify(filter));
    assert.deepEqual(filterJsonEvents(filter, [{ type: 'm.presence', sender: '@a:hs', content: {} }, { type: 'x', content: {} }], '!r:hs'), []);
  }
  for (const filter of [undefined, {}, { not_types: ['m.*'] }, { types: ['*'] }, { limit: 1 }, { senders: [] }, { not_rooms: ['!r:hs'] }]) {
    assert.equal(excludesEveryEvent(filter), false, JSON.stringify(filter));
  }
});
