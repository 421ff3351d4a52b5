import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidStreamTokenError, StreamToken } from '../../src/streams/token.ts';
import { STREAM_NAMES } from '../../src/streams/names.ts';

describe('StreamToken', () => {
  test('formats as s + positions in STREAM_NAMES order and parses back', () => {
    const t = StreamToken.of({ events: 72, presence: 4, typing: 11, receipts: 0, account_data: 9, push_rules: 3, to_device: 1 });
    assert.equal(t.toString(), 's72_4_11_0_9_3_1_0');
    assert.equal(JSON.stringify({ next_batch: t }), '{"next_batch":"s72_4_11_0_9_3_1_0"}');
    const back = StreamToken.parse('s72_4_11_0_9_3_1_0');
    assert.ok(back.equals(t));
    assert.equal(back.get('typing'), 11);
    assert.equal(back.get('device_lists'), 0);
  });

  test('round-trips any positions', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: STREAM_NAMES.length, maxLength: STREAM_NAMES.length }), (ps) => {
        const t = StreamToken.of(Object.fromEntries(STREAM_NAMES.map((n, i) => [n, ps[i]])));
        assert.ok(StreamToken.parse(t.toString()).equals(t));
      }),
    );
  });

  test('a shorter token from an older release reads missing streams as 0', () => {
    const t = StreamToken.parse('s5_6');
    assert.equal(t.get('events'), 5);
    assert.equal(t.get('presence'), 6);
    assert.equal(t.get('device_lists'), 0);
    assert.equal(t.toString(), 's5_6_0_0_0_0_0_0');
  });

  test('garbage fails with InvalidStreamTokenError', () => {
    const bad = [
      '',
      's',
      't1_2',
      '1_2_3',
      's1__2',
      's1_2_',
      's-1_2',
      's1.5_2',
      's1_x',
      's 1',
      's+1',
      's01_2',
      's1e3',
      's99999999999999999999',
      's1_2_3_4_5_6_7_8_9',
      `s${'1_'.repeat(200)}1`,
      'm1234',
    ];
    for (const text of bad) {
      assert.throws(() => StreamToken.parse(text), InvalidStreamTokenError, text);
      assert.equal(StreamToken.tryParse(text), null, text);
    }
  });

  test('advance copies and moves one stream forward; backwards or equal is the same token', () => {
    const t = StreamToken.of({ events: 10, typing: 2 });
    const u = t.advance('typing', 3);
    assert.notEqual(u, t);
    assert.equal(t.get('typing'), 2, 'the original is unchanged');
    assert.equal(u.get('typing'), 3);
    assert.equal(u.get('events'), 10);
    assert.equal(t.advance('events', 10), t);
    assert.equal(t.advance('events', 9), t);
    assert.throws(() => (t.positions as number[]).push(1), TypeError, 'positions are frozen');
    assert.throws(() => t.advance('events', 10.5), RangeError);
  });

  test('isAfter compares per stream: any stream ahead', () => {
    const since = StreamToken.of({ events: 10, typing: 5 });
    assert.equal(since.isAfter(since), false);
    assert.equal(StreamToken.of({ events: 10, typing: 6 }).isAfter(since), true);
    assert.equal(StreamToken.of({ events: 9, typing: 6 }).isAfter(since), true, 'one stream ahead is enough');
    assert.equal(StreamToken.of({ events: 9, typing: 5 }).isAfter(since), false);
    assert.equal(StreamToken.of({ to_device: 1 }).isAfter(StreamToken.ZERO), true);
  });

  test('max takes the per-stream maximum', () => {
    const a = StreamToken.of({ events: 10, typing: 1 });
    const b = StreamToken.of({ events: 4, typing: 7 });
    assert.equal(a.max(b).toString(), StreamToken.of({ events: 10, typing: 7 }).toString());
    assert.equal(a.max(StreamToken.ZERO), a);
  });
});
