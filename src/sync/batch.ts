// Reads asked for within one turn of the event loop, answered by one statement. When a message wakes a thousand
// members of a room, their /sync computations ask the same kinds of question at the same moment (each user's
// memberships, the room's newest events after the same `since`...): one statement for all of them instead of one
// each, and identical questions asked once. Nothing is kept after the answer, so an answer is never older than
// the question.

/** At most this many keys per statement: bounds its parameters and the rows of one answer. */
const MAX_KEYS = 500;

interface Waiting<V> {
  resolve(value: V): void;
  reject(error: unknown): void;
}

export class Batch<V> {
  private readonly load: (keys: string[]) => Promise<Map<string, V>>;
  private readonly missing: () => V;
  private pending = new Map<string, Waiting<V>[]>();
  private scheduled = false;

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
    const all = [...this.pending];
    this.pending = new Map();
    for (let i = 0; i < all.length; i += MAX_KEYS) {
      const part = all.slice(i, i + MAX_KEYS);
      this.load(part.map(([key]) => key)).then(
        (found) => {
          for (const [key, waiting] of part) {
            for (const w of waiting) w.resolve(found.has(key) ? (found.get(key) as V) : this.missing());
          }
        },
        (error: unknown) => {
          for (const [, waiting] of part) for (const w of waiting) w.reject(error);
        },
      );
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
