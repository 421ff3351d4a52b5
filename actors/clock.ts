// The clock the actor system runs on: the shape of XState's Clock (setTimeout/clearTimeout, handed to
// createActor) plus `now()`. Production uses the real one; tests pass xstate's SimulatedClock, which
// has all three, and advance it.
export interface SystemClock {
  setTimeout(fn: (...args: unknown[]) => void, timeoutMs: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

export const realClock: SystemClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};
