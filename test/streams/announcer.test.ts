import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamIdGenerator } from '../../src/streams/idGenerator.ts';
import { StreamAnnouncer } from '../../src/streams/announcer.ts';
import type { StreamNotification } from '../../src/notifier.ts';

describe('StreamAnnouncer', () => {
  test('out-of-order completion: one notification, at the new position, for every fact that became readable', () => {
    const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 1 });
    const sent: StreamNotification[] = [];
    const announcer = new StreamAnnouncer(gen, (n) => sent.push(n));
    const a = gen.reserve();
    const b = gen.reserve();
    announcer.setAudience(b, { rooms: ['!b:hs'] });
    gen.complete(b);
    assert.deepEqual(sent, [], 'nothing readable yet');
    announcer.setAudience(a, { rooms: ['!a:hs'], users: ['@u:hs'] });
    gen.complete(a);
    assert.deepEqual(sent, [{ stream: 'events', position: 3, users: ['@u:hs'], rooms: ['!a:hs', '!b:hs'] }]);
    assert.throws(() => announcer.setAudience(a, { rooms: ['!late:hs'] }));
  });

  test('a rolled-back write has no audience but still lets the position move', async () => {
    const gen = new StreamIdGenerator({ stream: 'to_device', initialPosition: 0 });
    const sent: StreamNotification[] = [];
    const announcer = new StreamAnnouncer(gen, (n) => sent.push(n));
    await assert.rejects(announcer.write(async () => Promise.reject(new Error('rollback'))));
    assert.deepEqual(sent, [{ stream: 'to_device', position: 1 }]);
    const result = await announcer.write(async (id) => ({ result: id, audience: { users: ['@u:hs'] } }));
    assert.equal(result, 2);
    assert.deepEqual(sent.at(-1), { stream: 'to_device', position: 2, users: ['@u:hs'] });
    announcer.close();
    await announcer.write(async () => ({ result: 0, audience: {} }));
    assert.equal(sent.length, 2, 'closed: no more notifications');
  });
});
