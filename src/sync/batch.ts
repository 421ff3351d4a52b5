// Reads asked for within one turn of the event loop, answered by one statement. When a message wakes a thousand
// members of a room, their /sync computations ask the same kinds of question at the same moment (each user's
// memberships, the room's newest events after the same `since`...): one statement for all of them instead of one
// each, and identical questions asked once. Nothing is kept after the answer, so an answer is never older than
// the question.

/** At most this many keys per statement: bounds its parameters and the rows of one answer. */
const MAX_KEYS = 500;
/**
 * At most this many statements of one batch in flight; questions asked meanwhile wait for one to end and then go
 * together. Under load, batches grow by themselves (computations released one at a time by the limiter do not ask in
 * the same turn); alone, a question waits for no one.
 */
const MAX_IN_FLIGHT = 2;

interface Waiting<V> {
  resolve(value: V): void;
  reject(error: unknown): void;
}

export class Batch<V> {
  private readonly load: (keys: string[]) => Promise<Map<string, V>>;
  private readonly missing: () => V;
  private pending = new Map<string, Waiting<V>[]>();
  private scheduled = false;
  private inFlight = 0;

  /** `load` answers for every key it can; a key it leaves out gets `missing()`. */
  constructor(load: (keys: string[]) => Promise<Map<string, V>>, missing: () => V) {
    this.load = load;
    this.missing = missing;
  }

  get(key: string): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const waiting = this.pending.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.size > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const part: [string, Waiting<V>[]][] = [];
      for (const entry of this.pending) {
        part.push(entry);
        if (part.length === MAX_KEYS) break;
      }
      for (const [key] of part) this.pending.delete(key);
      this.inFlight++;
      this.load(part.map(([key]) => key))
        .then(
          (found) => {
            for (const [key, waiting] of part) {
              for (const w of waiting) w.resolve(found.has(key) ? (found.get(key) as V) : this.missing());
            }
          },
          (error: unknown) => {
            for (const [, waiting] of part) for (const w of waiting) w.reject(error);
          },
        )
        .finally(() => {
          this.inFlight--;
          if (this.pending.size > 0 && !this.scheduled) {
            this.scheduled = true;
            setImmediate(() => this.flush());
          }
        });
    }
  }
}

/** A key made of parts (none of which contains NUL), and back. */
export function keyOf(...parts: readonly (string | number)[]): string {
  return parts.join('\u0000');
}

export function partsOf(key: string): string[] {
  return key.split('\u0000');
}
