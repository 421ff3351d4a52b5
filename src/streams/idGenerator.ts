// Stream id generators: reserve an id before writing a fact, complete it after the transaction ends
// (committed or rolled back). The stream's position is the largest id such that every id up to it has
// completed, so readers that read "up to the position" never skip a fact still being written.
//
// Writers. Several writers (later: several processes) can reserve ids from one sequence. Each writer's
// position is (its smallest unfinished id - 1), or, when it has nothing in flight, the newest id
// reserved by anyone: an idle writer cannot complete anything at or below that later, since any id it
// reserves from now on is larger. The stream's position is the minimum of the writers' positions,
// which is exactly "everything up to here has completed" across writers, and an idle writer never
// holds the stream back. (The sequence is in-process here; a PostgreSQL sequence replaces it when
// several processes exist, and remote writers' positions will then be fed in from replication.)
import { STREAM_NAMES } from './names.ts';
import type { StreamName } from './names.ts';

export const DEFAULT_WRITER = 'main';

/** `previous`: the position before; the ids in (previous, position] have just become readable. */
export type AdvanceListener = (position: number, stream: StreamName, previous: number) => void;

export interface StreamIdGeneratorOptions {
  stream: StreamName;
  /** The position read from storage at boot: every id up to it is complete. */
  initialPosition: number;
}

interface WriterState {
  /** Reserved and not yet completed, ascending (reservations are monotonic). */
  readonly pending: number[];
  /** Completed ids still behind an unfinished one. */
  readonly done: Set<number>;
}

export class StreamIdGenerator {
  readonly stream: StreamName;
  private lastReserved: number;
  private current: number;
  private readonly writers = new Map<string, WriterState>();
  private readonly owner = new Map<number, string>();
  private readonly listeners = new Set<AdvanceListener>();

  constructor(options: StreamIdGeneratorOptions) {
    if (!Number.isSafeInteger(options.initialPosition) || options.initialPosition < 0) {
      throw new RangeError(`initial position must be a non-negative integer, got ${options.initialPosition}`);
    }
    this.stream = options.stream;
    this.lastReserved = options.initialPosition;
    this.current = options.initialPosition;
  }

  /** Everything up to this id has completed, across all writers. */
  get position(): number {
    return this.current;
  }

  /** The newest id handed out. */
  get maxReserved(): number {
    return this.lastReserved;
  }

  /** How many ids are reserved and not completed. */
  get inFlight(): number {
    return this.owner.size;
  }

  /** One writer's position (see the rule at the top of this file). */
  positionOf(writer: string): number {
    const w = this.writers.get(writer);
    const first = w?.pending[0];
    return first === undefined ? this.lastReserved : first - 1;
  }

  /**
   * Reserves the next id. Prefer withNextId, which cannot forget to complete it; a reserved id that is
   * never completed holds the stream's position back for good.
   */
  reserve(writer: string = DEFAULT_WRITER): number {
    const id = ++this.lastReserved;
    let w = this.writers.get(writer);
    if (!w) {
      w = { pending: [], done: new Set() };
      this.writers.set(writer, w);
    }
    w.pending.push(id);
    this.owner.set(id, writer);
    return id;
  }

  /** Marks a reserved id finished, whether its transaction committed or rolled back. */
  complete(id: number): void {
    const writer = this.owner.get(id);
    if (writer === undefined) throw new Error(`stream ${this.stream}: id ${id} is not reserved (or completed twice)`);
    this.owner.delete(id);
    const w = this.writers.get(writer);
    if (!w) throw new Error(`stream ${this.stream}: writer ${writer} vanished`);
    w.done.add(id);
    while (w.pending.length > 0 && w.done.has(w.pending[0] as number)) {
      w.done.delete(w.pending.shift() as number);
    }
    this.recompute();
  }

  /** Reserves an id, runs `write(id)` and completes the id however `write` ends. */
  async withNextId<T>(write: (id: number) => Promise<T>, writer: string = DEFAULT_WRITER): Promise<T> {
    const id = this.reserve(writer);
    try {
      return await write(id);
    } finally {
      this.complete(id);
    }
  }

  /** For `using reservation = gen.reserveScoped()`: the id completes when the scope exits. */
  reserveScoped(writer: string = DEFAULT_WRITER): { readonly id: number } & Disposable {
    const id = this.reserve(writer);
    let open = true;
    return {
      id,
      [Symbol.dispose]: () => {
        if (open) {
          open = false;
          this.complete(id);
        }
      },
    };
  }

  /** Called whenever the position moves forward. Returns an unsubscribe function. */
  onAdvance(listener: AdvanceListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private recompute(): void {
    let next = this.lastReserved;
    for (const w of this.writers.values()) {
      const first = w.pending[0];
      if (first !== undefined && first - 1 < next) next = first - 1;
    }
    if (next > this.current) {
      const previous = this.current;
      this.current = next;
      for (const listener of this.listeners) listener(next, this.stream, previous);
    }
  }
}

/** One generator per stream, all starting from positions read from storage. */
export function createStreamIdGenerators(
  initial: Partial<Record<StreamName, number>>,
  names: readonly StreamName[] = STREAM_NAMES,
): Map<StreamName, StreamIdGenerator> {
  return new Map(names.map((stream) => [stream, new StreamIdGenerator({ stream, initialPosition: initial[stream] ?? 0 })]));
}
