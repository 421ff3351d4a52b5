// /sync's `filter` parameter through FilterResolver: a filter is parsed (inline) or read (stored) once and then
// served from memory, while what is not a filter is refused every time and never remembered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../src/protocol/json.ts';
import type { FilterStore } from '../../src/storage/filters.ts';
import { FilterResolver } from '../../src/http/routes/client/filter.ts';
import { MatrixError } from '../../src/http/errors.ts';

function countingStore(filters: Record<string, JsonObject>): FilterStore & { reads: number } {
  const store = {
    reads: 0,
    addFilter: async () => 'unused',
    getFilter: async (userId: string, id: string) => {
      store.reads++;
      return userId === '@a:hs' ? (filters[id] ?? null) : null;
    },
  };
  return store;
}

const matrixError = (status: number, errcode: string) => (e: unknown) => e instanceof MatrixError && e.status === status && e.errcode === errcode;

test('a stored filter is read once per user and id, then served from memory', async () => {
  const store = countingStore({ '7': { room: { timeline: { limit: 1 } } } });
  const resolver = new FilterResolver(store);
  const first = await resolver.resolve('@a:hs', '7');
  assert.deepEqual(first, { room: { timeline: { limit: 1 } } });
  assert.equal(await resolver.resolve('@a:hs', '7'), first);
  assert.equal(store.reads, 1);
  // Another user's id space is separate, and an unknown id is asked for again each time (it may be created later).
  await assert.rejects(resolver.resolve('@b:hs', '7'), matrixError(404, 'M_NOT_FOUND'));
  await assert.rejects(resolver.resolve('@b:hs', '7'), matrixError(404, 'M_NOT_FOUND'));
  assert.equal(store.reads, 3);
});

test('an inline filter is parsed once per text; bad JSON and bad filters are refused every time', async () => {
  const resolver = new FilterResolver(countingStore({}));
  const text = JSON.stringify({ presence: { not_types: ['*'] } });
  const first = await resolver.resolve('@a:hs', text);
  assert.deepEqual(first, { presence: { not_types: ['*'] } });
  assert.equal(await resolver.resolve('@b:hs', text), first, 'the same text is the same filter for anyone');
  for (let i = 0; i < 2; i++) {
    await assert.rejects(resolver.resolve('@a:hs', '{"room":'), matrixError(400, 'M_NOT_JSON'));
    await assert.rejects(resolver.resolve('@a:hs', '{"room":{"timeline":{"limit":"x"}}}'), matrixError(400, 'M_BAD_JSON'));
  }
  await assert.rejects(resolver.resolve('@a:hs', ['a', 'b']), matrixError(400, 'M_INVALID_PARAM'));
  assert.deepEqual(await resolver.resolve('@a:hs', undefined), {});
});
