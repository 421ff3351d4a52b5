// Work that responses woken together can share. A message wakes every member of its room at once, and each member's
// response holds the same part for that room (the same events after the same `since`): it is computed for the first
// of them and handed to the others. An entry is kept for a short while only (what it describes may still be redacted
// later, which the clients then learn from the redaction event), and a failed computation is not kept.

/** How long a computed part is handed out: the burst of responses one wake-up starts. */
export const SHARED_PART_TTL_MS = 2_000;
/** Entries kept at most; the oldest go first. */
export const MAX_SHARED_PARTS = 10_000;

export class SharedParts<V> {
  private readonly entries = new Map<string, { value: V; madeAt: number }>();
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly max: number;

  constructor(now: () => number, options: { ttlMs?: number; max?: number } = {}) {
    this.now = now;
    this.ttlMs = options.ttlMs ?? SHARED_PART_TTL_MS;
    this.max = options.max ?? MAX_SHARED_PARTS;
  }

  /** The value made for `key` within the last TTL, or `make()`'s; `settled` are its promises, which drop it on failure. */
  get(key: string, make: () => V, settled: (value: V) => readonly Promise<unknown>[]): V {
    const now = this.now();
    const found = this.entries.get(key);
    if (found && now - found.madeAt <= this.ttlMs) return found.value;
    if (found) this.entries.delete(key);
    const entry = { value: make(), madeAt: now };
    this.entries.set(key, entry);
    for (const p of settled(entry.value)) {
      p.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
    }
    for (const [oldest, e] of this.entries) {
      if (this.entries.size <= this.max && now - e.madeAt <= this.ttlMs) break;
      this.entries.delete(oldest);
    }
    return entry.value;
  }
}
