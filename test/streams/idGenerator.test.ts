import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamIdGenerator, createStreamIdGenerators } from '../../src/streams/idGenerator.ts';
import { STREAM_NAMES } from '../../src/streams/names.ts';

describe('StreamIdGenerator', () => {
  test('out-of-order completion never passes an unfinished id', () => {
    const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 1 });
    const seen: number[] = [];
    gen.onAdvance((p) => seen.push(p));
    assert.equal(gen.reserve(), 2);
    assert.equal(gen.reserve(), 3);
    gen.complete(3);
    assert.equal(gen.position, 1, '3 finished but 2 has not');
    gen.complete(2);
    assert.equal(gen.position, 3, 'jumps over both');
    assert.deepEqual(seen, [3], 'listeners hear of the advance once');
  });

  test('starts from the position given (read from storage)', () => {
    const gen = new StreamIdGenerator({ stream: 'receipts', initialPosition: 41 });
    assert.equal(gen.position, 41);
    assert.equal(gen.reserve(), 42);
    assert.throws(() => new StreamIdGenerator({ stream: 'receipts', initialPosition: -1 }), RangeError);
  });

  test('withNextId completes the id when the write fails (rolled back)', async () => {
    const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 0 });
    await assert.rejects(
      gen.withNextId(async (id) => {
        assert.equal(id, 1);
        assert.equal(gen.inFlight, 1);
        throw new Error('rollback');
      }),
      /rollback/,
    );
    assert.equal(gen.inFlight, 0);
    assert.equal(gen.position, 1, 'a rolled-back id does not hold the stream back');
    assert.equal(await gen.withNextId(async (id) => id * 10), 20);
    assert.equal(gen.position, 2);
  });

  test('reserveScoped completes when the scope exits', () => {
    const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 0 });
    {
      using r = gen.reserveScoped();
      assert.equal(r.id, 1);
      assert.equal(gen.position, 0);
    }
    assert.equal(gen.position, 1);
  });

  test('completing an id twice, or one never reserved, is a bug and throws', () => {
    const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 0 });
    const id = gen.reserve();
    gen.complete(id);
    assert.throws(() => gen.complete(id));
    assert.throws(() => gen.complete(99));
  });

  test('several writers: the stream position is the minimum of the writers; an idle writer does not hold it back', () => {
    const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 10 });
    const a1 = gen.reserve('a'); // 11
    const b1 = gen.reserve('b'); // 12
    const a2 = gen.reserve('a'); // 13
    assert.deepEqual([a1, b1, a2], [11, 12, 13]);
    gen.complete(a1);
    assert.equal(gen.positionOf('a'), 12, 'a waits for 13');
    assert.equal(gen.positionOf('b'), 11, 'b waits for 12');
    assert.equal(gen.position, 11);
    gen.complete(a2);
    assert.equal(gen.positionOf('a'), 13, 'a has nothing in flight: caught up with the newest id');
    assert.equal(gen.position, 11, 'b still holds the stream at 11');
    gen.complete(b1);
    assert.equal(gen.position, 13);
    assert.equal(gen.positionOf('never-wrote'), 13);
  });

  test('property: the position is always the largest id with every id up to it complete', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(), fc.constantFrom('a', 'b', 'c')), { maxLength: 200 }), (steps) => {
        const gen = new StreamIdGenerator({ stream: 'events', initialPosition: 0 });
        const pending: number[] = [];
        const completed = new Set<number>();
        let last = 0;
        gen.onAdvance((p) => {
          assert.ok(p > last, 'only forward');
          last = p;
        });
        for (const [reserve, pick, writer] of steps) {
          if (reserve || pending.length === 0) {
            pending.push(gen.reserve(writer));
          } else {
            const [id] = pending.splice(pick % pending.length, 1);
            gen.complete(id as number);
            completed.add(id as number);
          }
          let expected = 0;
          while (completed.has(expected + 1)) expected++;
          assert.equal(gen.position, expected);
          assert.ok(pending.every((id) => id > gen.position), 'no unfinished id at or below the position');
        }
      }),
    );
  });

  test('one generator per named stream', () => {
    const gens = createStreamIdGenerators({ events: 5 });
    assert.deepEqual([...gens.keys()], [...STREAM_NAMES]);
    assert.equal(gens.get('events')?.position, 5);
    assert.equal(gens.get('typing')?.position, 0);
  });
});
