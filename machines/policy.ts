// Pure maths for the machines: a seeded PRNG (so jitter is reproducible and lives in context) and the
// destination retry schedule. No clocks, no Math.random.

/** mulberry32 step: returns a float in [0, 1) and the next state. The state is a uint32, JSON-safe. */
export function nextRandom(state: number): [value: number, nextState: number] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  const value = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return [value, next];
}

/** Seeds a PRNG state from any string (e.g. the server name), FNV-1a. */
export function seedFrom(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export interface RetryPolicy {
  /** destination_min_retry_interval, ms: the wait after the first failure. */
  minRetryIntervalMs: number;
  /** destination_retry_multiplier: growth per further failure (before jitter). */
  retryMultiplier: number;
  /** destination_max_retry_interval, ms: the wait never grows past this. */
  maxRetryIntervalMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  minRetryIntervalMs: 10 * 60_000,
  retryMultiplier: 2,
  maxRetryIntervalMs: 7 * 24 * 60 * 60_000,
};

export const JITTER_MIN = 0.8;
export const JITTER_MAX = 1.4;

/** Maps a PRNG value in [0, 1) into the jitter band [0.8, 1.4). */
export function jitterFrom(random: number): number {
  return JITTER_MIN + (JITTER_MAX - JITTER_MIN) * random;
}

/**
 * The wait after one more failure. `previousMs` is 0 when the destination was healthy (first failure:
 * the minimum); otherwise previous × multiplier × jitter, never below the minimum, never above the maximum.
 */
export function nextRetryInterval(previousMs: number, policy: RetryPolicy, jitter: number): number {
  if (previousMs <= 0) return Math.min(policy.minRetryIntervalMs, policy.maxRetryIntervalMs);
  const grown = Math.round(previousMs * policy.retryMultiplier * jitter);
  return Math.min(policy.maxRetryIntervalMs, Math.max(policy.minRetryIntervalMs, grown));
}

/** Kinds of transaction outcome: a null status is a network failure (no HTTP answer). */
export type TransactionVerdict = 'sent' | 'rejected' | 'failed';

/**
 * 2xx: sent. A 4xx other than 401/429 means the remote is up and refused this transaction for good:
 * rejected, no back-off. Anything else (network error, 401, 429, 5xx, odd codes): failed, back off.
 */
export function classifyTransactionStatus(status: number | null): TransactionVerdict {
  if (status === null) return 'failed';
  if (status >= 200 && status < 300) return 'sent';
  if (status >= 400 && status < 500 && status !== 401 && status !== 429) return 'rejected';
  return 'failed';
}
