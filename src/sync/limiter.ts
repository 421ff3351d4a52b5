// At most `width` computations at a time, the rest waiting in arrival order. /sync answers are several reads each;
// when a thousand waiting clients wake at once, queueing them here bounds the memory and the statements in flight
// (the reads of those running are batched together, ./batch.ts), and no request times out waiting for a connection.
export class Limiter {
  private readonly width: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(width: number) {
    this.width = width;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.width) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // A slot is handed straight to the next waiter, so `running` stays counted for it.
      if (next) next();
      else this.running--;
    }
  }
}
