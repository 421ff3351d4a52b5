// A token bucket per key (e.g. a client's address), as Synapse's rc_* settings describe: `burstCount` requests at
// once, refilled at `perSecond`. In memory: limits are per process, and buckets that have refilled are forgotten.
import type { RateLimit } from '../config/config.ts';
import { MatrixError } from './errors.ts';

const MAX_KEYS = 100_000;

export class RateLimiter {
  readonly #limit: RateLimit;
  /** key -> when the bucket is full again (ms); a request adds 1000/perSecond ms to it. */
  readonly #fullAt = new Map<string, number>();

  constructor(limit: RateLimit) {
    this.#limit = limit;
  }

  /** Counts a request; throws 429 M_LIMIT_EXCEEDED (with retry_after_ms) when the key has no request left. */
  take(key: string, now: number): void {
    const { perSecond, burstCount } = this.#limit;
    if (perSecond <= 0) return; // no refill configured: unlimited, as Synapse treats it
    const cost = 1000 / perSecond;
    const fullAt = Math.max(this.#fullAt.get(key) ?? now, now);
    // The bucket holds burstCount requests: a request is allowed while its cost still fits in the window.
    const next = fullAt + cost;
    if (next - now > burstCount * cost) {
      throw new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too many requests', { retry_after_ms: Math.ceil(next - now - burstCount * cost) });
    }
    this.#fullAt.delete(key);
    this.#fullAt.set(key, next);
    if (this.#fullAt.size > MAX_KEYS) this.#forgetFull(now);
  }

  #forgetFull(now: number): void {
    for (const [key, fullAt] of this.#fullAt) if (fullAt <= now) this.#fullAt.delete(key);
    // Still too many: the oldest entries go (they are the closest to full).
    for (const key of this.#fullAt.keys()) {
      if (this.#fullAt.size <= MAX_KEYS) break;
      this.#fullAt.delete(key);
    }
  }
}
