import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_RETRY_POLICY,
  JITTER_MAX,
  JITTER_MIN,
  classifyTransactionStatus,
  jitterFrom,
  nextRandom,
  nextRetryInterval,
  seedFrom,
} from '../../machines/policy.ts';

describe('policy', () => {
  test('the PRNG is pure: same state, same value; values in [0, 1); states stay uint32', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (state) => {
        const [a, s1] = nextRandom(state);
        const [b, s2] = nextRandom(state);
        assert.equal(a, b);
        assert.equal(s1, s2);
        assert.ok(a >= 0 && a < 1);
        assert.ok(Number.isInteger(s1) && s1 >= 0 && s1 <= 0xffffffff);
      }),
    );
  });

  test('the PRNG spreads over [0, 1)', () => {
    let state = seedFrom('matrix.org');
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const [v, next] = nextRandom(state);
      state = next;
      buckets[Math.floor(v * 10)]! += 1;
    }
    assert.ok(buckets.every((n) => n > 800 && n < 1200), buckets.join(','));
  });

  test('jitter maps [0, 1) into [0.8, 1.4)', () => {
    assert.equal(jitterFrom(0), JITTER_MIN);
    assert.ok(jitterFrom(0.9999999) < JITTER_MAX);
  });

  test('retry interval: the minimum first, then × multiplier × jitter, capped', () => {
    const p = DEFAULT_RETRY_POLICY;
    assert.equal(p.minRetryIntervalMs, 600_000);
    assert.equal(p.retryMultiplier, 2);
    assert.equal(p.maxRetryIntervalMs, 7 * 24 * 3_600_000);
    assert.equal(nextRetryInterval(0, p, 1.3), 600_000);
    assert.equal(nextRetryInterval(600_000, p, 1), 1_200_000);
    assert.equal(nextRetryInterval(600_000, p, 0.8), 960_000);
    assert.equal(nextRetryInterval(p.maxRetryIntervalMs, p, 1.3), p.maxRetryIntervalMs);
    const custom = { minRetryIntervalMs: 1000, retryMultiplier: 3, maxRetryIntervalMs: 5000 };
    assert.equal(nextRetryInterval(1000, custom, 1), 3000);
    assert.equal(nextRetryInterval(3000, custom, 1), 5000);
    assert.equal(nextRetryInterval(100, { ...custom, retryMultiplier: 1 }, 0.8), 1000, 'never below the minimum');
  });

  test('transaction statuses: 2xx sent, 4xx except 401/429 rejected, everything else failed', () => {
    assert.equal(classifyTransactionStatus(200), 'sent');
    for (const s of [400, 403, 404, 413]) assert.equal(classifyTransactionStatus(s), 'rejected', String(s));
    for (const s of [401, 429, 500, 502, 503, 301, null]) assert.equal(classifyTransactionStatus(s), 'failed', String(s));
  });
});
