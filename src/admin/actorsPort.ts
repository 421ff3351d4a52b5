// The narrow port through which the HTTP layer and metrics see the actor system (DESIGN.md §1, §6).
// Types only: the implementation is actors/adminPort.ts, handed over by src/main.ts.

export type ActorKind = 'supervisor' | 'userStream' | 'destination' | 'appservice' | 'pusher' | 'unknown';

/** One live actor: id (`as:<id>`, `dest:<server>`, `user:<userId>`...), kind, state and key figures. */
export interface ActorListing {
  id: string;
  kind: ActorKind;
  /** The state value as a dotted path, e.g. `down.waiting`. */
  state: string;
  figures: Record<string, number | string | boolean | null>;
}

/** A machine's states and transitions, taken from its definition, for drawing. */
export interface MachineDiagram {
  kind: ActorKind;
  /** The machine's id. */
  id: string;
  states: { id: string; path: string; depth: number; type: string; initial: boolean }[];
  transitions: { source: string; target: string; label: string }[];
}

export type RetryableKind = 'appservice' | 'destination';

export interface ActorsPort {
  /**
   * Every live actor with its figures. `userStreams: false` leaves out the (possibly 100,000) user-stream
   * rows, costing O(other actors); userStreamCounts() summarises them.
   */
  list(options?: { userStreams?: boolean }): ActorListing[];
  /** User streams by record state, and the sync requests waiting on them. */
  userStreamCounts(): { waiting: number; lingering: number; idle: number; waitingRequests: number };
  /**
   * `listener` runs after any actor changed state or context (possibly very often: throttle on your side).
   * Costs nothing while nobody is subscribed. Returns the unsubscribe function.
   */
  subscribe(listener: () => void): () => void;
  /** Ask an appservice or destination to retry now. false when there is no such live actor. */
  retry(kind: RetryableKind, id: string): boolean;
  /** Requests woken because their stream advanced, since start, by stream name. */
  wakeUps(): Record<string, number>;
  /** The diagrams of the machines the system runs. */
  machines(): MachineDiagram[];
}
