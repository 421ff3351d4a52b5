// Dot-separated property paths: the escapes of the spec appendix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitFieldPath } from '../../src/protocol/fieldPath.ts';

test('dotted paths: \\. is a dot inside a key, \\\\ a backslash, a lone backslash stays', () => {
  assert.deepEqual(splitFieldPath('content.body'), ['content', 'body']);
  assert.deepEqual(splitFieldPath('content.m\\.mentions.user_ids'), ['content', 'm.mentions', 'user_ids']);
  assert.deepEqual(splitFieldPath('content.a\\\\.b'), ['content', 'a\\', 'b']);
  assert.deepEqual(splitFieldPath('a\\b'), ['a\\b']);
  assert.deepEqual(splitFieldPath(''), ['']);
});
