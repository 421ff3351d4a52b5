import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { getShortestPaths } from '@xstate/graph';
import { userStreamMachine } from '../../machines/userStream.ts';

describe('userStream machine', () => {
  test('syncing until LISTENERS_LAPSED, then done with the user id as output', () => {
    const actor = createActor(userStreamMachine, { input: { userId: '@a:hs' } }).start();
    assert.equal(actor.getSnapshot().value, 'syncing');
    actor.send({ type: 'LISTENERS_LAPSED' });
    assert.equal(actor.getSnapshot().status, 'done');
    assert.deepEqual(actor.getSnapshot().output, { userId: '@a:hs' });
    assert.deepEqual(JSON.parse(JSON.stringify(actor.getSnapshot().context)), { userId: '@a:hs' });
  });

  test('every state is reachable (@xstate/graph)', () => {
    const paths = getShortestPaths(userStreamMachine, { events: [{ type: 'LISTENERS_LAPSED' }], input: { userId: '@a:hs' } });
    assert.deepEqual(paths.map((p) => p.state.value).sort(), ['lapsed', 'syncing']);
  });
});
