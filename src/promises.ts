// Small helpers for promises that are started early and awaited later.

/** A promise awaited later, after awaits that may throw first: its rejection is not reported as unhandled meanwhile. */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
