// Timers for the in-memory parts of the per-user data (typing expiry, the presence sweep); tests inject
// simulated ones.
export interface Timers {
  /** Calls `fire` after `ms`; returns a function that cancels it. */
  setTimer(ms: number, fire: () => void): () => void;
}

export const realTimers: Timers = {
  setTimer(ms, fire) {
    const handle = setTimeout(fire, ms);
    // A pending expiry never keeps the process alive.
    handle.unref();
    return () => clearTimeout(handle);
  },
};
