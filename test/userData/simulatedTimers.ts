// Timers for the user-data services on a clock the test advances by hand: due timers fire in the order they are due.
import type { Timers } from '../../src/userData/timers.ts';

export class SimulatedTimers implements Timers {
  now = 0;
  private timers: { at: number; fire: () => void; cancelled: boolean }[] = [];
  setTimer(ms: number, fire: () => void): () => void {
    const timer = { at: this.now + ms, fire, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
  advance(ms: number): void {
    this.now += ms;
    const due = this.timers.filter((t) => !t.cancelled && t.at <= this.now).sort((a, b) => a.at - b.at);
    this.timers = this.timers.filter((t) => !due.includes(t));
    for (const t of due) t.fire();
  }
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
