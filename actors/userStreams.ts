// The user streams' compact records, the room -> users index and the waiting requests: the data the
// supervisor's provided actions work on (see machines/userStream.ts for why it is not in contexts).
//
// Lifecycle of a record:
//   opened (rooms loaded) -> waiting (>= 1 request; an actor `user:<id>` exists)
//   -> lingering (no request; kept for USER_STREAM_RELISTEN_GRACE_MS, the actor is told LISTENERS_LAPSED after)
//   -> idle (compact record only) -> ended USER_STREAM_IDLE_EXPIRY_MS after the last listener left,
//      together with its index entries.
// `lingering` and `idle` are FIFO maps: entries are (re)inserted when a listener leaves, so they are
// ordered by that time and each sweep stops at the first entry not yet due.
import type { Membership, StreamNotification, WaitResult } from '../src/notifier.ts';
import { STREAM_NAMES, streamIndex } from '../src/streams/names.ts';
import { StreamToken } from '../src/streams/token.ts';
import { USER_STREAM_IDLE_EXPIRY_MS, USER_STREAM_RELISTEN_GRACE_MS } from '../machines/supervisor.ts';
import type { SystemClock } from './clock.ts';
import type { AnyActorRef } from 'xstate';

const MAX_TIMER_MS = 2 ** 31 - 1;

export type LoadRoomsForUser = (userId: string) => Promise<readonly string[]>;

interface Waiter {
  readonly since: StreamToken;
  readonly resolve: (result: WaitResult) => void;
  timer: unknown;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** One syncing user's stream. Kept small: an idle one is this object, its token and its room list. */
export class UserStream {
  readonly userId: string;
  token: StreamToken;
  /** Joined rooms, as entered in the index. */
  rooms: string[];
  waiters: Waiter[] | null = null;
  /** When the last listener left (or the stream was opened or answered without waiting). */
  lastListenedAt: number;
  /** The `user:<id>` actor while the user is actively syncing (waiting or lingering). */
  actor: AnyActorRef | null = null;
  /** Routing pass that last delivered to this stream (dedupes a user reached through several rooms). */
  seen = 0;

  constructor(userId: string, token: StreamToken, rooms: string[], now: number) {
    this.userId = userId;
    this.token = token;
    this.rooms = rooms;
    this.lastListenedAt = now;
  }

  get state(): 'waiting' | 'lingering' | 'idle' {
    return this.waiters ? 'waiting' : this.actor ? 'lingering' : 'idle';
  }
}

/** What the registry asks of the supervisor actor. */
export interface RegistryHooks {
  /** Creates and starts the user-stream actor. */
  activate(userId: string): AnyActorRef;
  /** Tells it LISTENERS_LAPSED (it ends). */
  lapse(actor: AnyActorRef): void;
  scheduleDemotion(inMs: number | null): void;
  scheduleExpiry(inMs: number | null): void;
}

export class UserStreamRegistry {
  readonly clock: SystemClock;
  private readonly loadRoomsForUser: LoadRoomsForUser;
  private hooks: RegistryHooks | null = null;
  private current: StreamToken;
  private readonly streams = new Map<string, UserStream>();
  private readonly index = new Map<string, Set<UserStream>>();
  private readonly lingering = new Map<string, UserStream>();
  private readonly idle = new Map<string, UserStream>();
  private readonly loading = new Map<string, { promise: Promise<UserStream>; journal: Array<[string, boolean]> }>();
  private epoch = 0;
  private demotionArmed = false;
  private expiryArmed = false;
  private waiting = 0;
  /** Requests woken because their stream advanced, since start (for metrics). */
  wakeUps = 0;
  /** The same, by stream (indexed like STREAM_NAMES). */
  readonly wakeUpsByStream: number[] = STREAM_NAMES.map(() => 0);

  constructor(options: { clock: SystemClock; loadRoomsForUser: LoadRoomsForUser; initialToken?: StreamToken }) {
    this.clock = options.clock;
    this.loadRoomsForUser = options.loadRoomsForUser;
    this.current = options.initialToken ?? StreamToken.ZERO;
  }

  attach(hooks: RegistryHooks): void {
    this.hooks = hooks;
  }

  currentToken(): StreamToken {
    return this.current;
  }

  get(userId: string): UserStream | undefined {
    return this.streams.get(userId);
  }

  all(): IterableIterator<UserStream> {
    return this.streams.values();
  }

  /** Figures for the listing and metrics. */
  counts(): { streams: number; waitingStreams: number; waitingRequests: number; lingering: number; idle: number; indexedRooms: number } {
    let waitingStreams = 0;
    for (const s of this.streams.values()) if (s.waiters) waitingStreams++;
    return {
      streams: this.streams.size,
      waitingStreams,
      waitingRequests: this.waiting,
      lingering: this.lingering.size,
      idle: this.idle.size,
      indexedRooms: this.index.size,
    };
  }

  /** Number of requests waiting (all users). */
  get waitingRequests(): number {
    return this.waiting;
  }

  /** Users with a stream who are joined to `roomId` (for tests and the admin page). */
  membersOf(roomId: string): string[] {
    return [...(this.index.get(roomId) ?? [])].map((s) => s.userId);
  }

  async wait(userId: string, since: StreamToken, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> {
    if (signal?.aborted) return { reason: 'aborted', token: this.streams.get(userId)?.token ?? this.current };
    const stream = this.streams.get(userId) ?? (await this.open(userId));
    if (signal?.aborted) {
      this.touch(stream);
      return { reason: 'aborted', token: stream.token };
    }
    if (stream.token.isAfter(since)) {
      this.touch(stream);
      return { reason: 'advanced', token: stream.token };
    }
    if (!(timeoutMs > 0)) {
      this.touch(stream);
      return { reason: 'timeout', token: stream.token };
    }
    return new Promise<WaitResult>((resolve) => {
      const waiter: Waiter = { since, resolve, timer: undefined, signal, onAbort: undefined };
      // Node timers overflow past 2^31-1 ms (and then fire at once); no sync timeout is that long.
      waiter.timer = this.clock.setTimeout(() => this.finish(stream, waiter, 'timeout'), Math.min(timeoutMs, MAX_TIMER_MS));
      if (signal) {
        waiter.onAbort = () => this.finish(stream, waiter, 'aborted');
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      if (stream.waiters) {
        stream.waiters.push(waiter);
      } else {
        stream.waiters = [waiter];
        this.lingering.delete(userId);
        this.idle.delete(userId);
        if (!stream.actor && this.hooks) stream.actor = this.hooks.activate(userId);
      }
      this.waiting++;
    });
  }

  /** Routes one STREAM_TOKEN: advances the tokens of exactly the affected streams and wakes their waiters. */
  route(n: Pick<StreamNotification, 'stream' | 'position' | 'users' | 'rooms'>): void {
    this.current = this.current.advance(n.stream, n.position);
    const epoch = ++this.epoch;
    const i = streamIndex(n.stream);
    if (n.rooms) {
      for (const roomId of n.rooms) {
        const members = this.index.get(roomId);
        if (!members) continue;
        for (const s of members) {
          if (s.seen === epoch) continue;
          s.seen = epoch;
          this.deliver(s, n.stream, i, n.position);
        }
      }
    }
    if (n.users) {
      for (const userId of n.users) {
        const s = this.streams.get(userId);
        if (!s || s.seen === epoch) continue;
        s.seen = epoch;
        this.deliver(s, n.stream, i, n.position);
      }
    }
  }

  membershipChanged(roomId: string, userId: string, membership: Membership): void {
    const joined = membership === 'join';
    const pending = this.loading.get(userId);
    if (pending) pending.journal.push([roomId, joined]);
    const s = this.streams.get(userId);
    if (!s) return;
    if (joined) this.joinIndex(s, roomId);
    else this.leaveIndex(s, roomId);
  }

  /** Demotion sweep: streams nobody re-listened to within the grace lose their actor and turn idle. */
  demoteLapsed(): void {
    const now = this.clock.now();
    for (const s of this.lingering.values()) {
      if (s.lastListenedAt + USER_STREAM_RELISTEN_GRACE_MS > now) break;
      this.lingering.delete(s.userId);
      if (s.actor) {
        const actor = s.actor;
        s.actor = null;
        this.hooks?.lapse(actor);
      }
      const wasEmpty = this.idle.size === 0;
      this.idle.set(s.userId, s);
      if (wasEmpty && !this.expiryArmed) this.armExpiry(now);
    }
    this.demotionArmed = false;
    this.armDemotion(now);
  }

  /** Expiry sweep: streams nobody listened to for USER_STREAM_IDLE_EXPIRY_MS end. */
  expireIdle(): void {
    const now = this.clock.now();
    for (const s of this.idle.values()) {
      if (s.lastListenedAt + USER_STREAM_IDLE_EXPIRY_MS > now) break;
      this.end(s);
    }
    this.expiryArmed = false;
    this.armExpiry(now);
  }

  /** Ends every stream (system shutdown): waiters resolve as timed out. */
  closeAll(): void {
    for (const s of [...this.streams.values()]) {
      for (const w of s.waiters ?? []) this.finish(s, w, 'timeout');
      this.end(s);
    }
  }

  private deliver(s: UserStream, stream: StreamNotification['stream'], i: number, position: number): void {
    const token = s.token.advance(stream, position);
    if (token === s.token) return;
    s.token = token;
    const waiters = s.waiters;
    if (!waiters) return;
    if (waiters.length === 1) {
      const w = waiters[0] as Waiter;
      if (position > (w.since.positions[i] ?? 0)) {
        this.wakeUps++;
        this.wakeUpsByStream[i] = (this.wakeUpsByStream[i] ?? 0) + 1;
        this.finish(s, w, 'advanced');
      }
      return;
    }
    for (const w of waiters.slice()) {
      if (position > (w.since.positions[i] ?? 0)) {
        this.wakeUps++;
        this.wakeUpsByStream[i] = (this.wakeUpsByStream[i] ?? 0) + 1;
        this.finish(s, w, 'advanced');
      }
    }
  }

  private finish(s: UserStream, w: Waiter, reason: WaitResult['reason']): void {
    const waiters = s.waiters;
    if (!waiters) return;
    const at = waiters.indexOf(w);
    if (at < 0) return;
    if (waiters.length === 1) s.waiters = null;
    else waiters.splice(at, 1);
    this.waiting--;
    this.clock.clearTimeout(w.timer);
    if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
    w.resolve({ reason, token: s.token });
    if (!s.waiters) this.touch(s, true);
  }

  /** A listener just left (or the stream answered without waiting): restart its grace and expiry. */
  private touch(s: UserStream, wasWaiting = false): void {
    if (s.waiters || !this.streams.has(s.userId)) return;
    const now = this.clock.now();
    s.lastListenedAt = now;
    // A stream that was waiting is in neither FIFO; otherwise move it to the end of lingering.
    if (!wasWaiting) {
      this.idle.delete(s.userId);
      this.lingering.delete(s.userId);
    }
    this.lingering.set(s.userId, s);
    if (!this.demotionArmed) this.armDemotion(now);
  }

  private armDemotion(now: number): void {
    const first = this.lingering.values().next();
    const inMs = first.done ? null : Math.max(0, first.value.lastListenedAt + USER_STREAM_RELISTEN_GRACE_MS - now);
    this.demotionArmed = inMs !== null;
    this.hooks?.scheduleDemotion(inMs);
  }

  private armExpiry(now: number): void {
    const first = this.idle.values().next();
    const inMs = first.done ? null : Math.max(0, first.value.lastListenedAt + USER_STREAM_IDLE_EXPIRY_MS - now);
    this.expiryArmed = inMs !== null;
    this.hooks?.scheduleExpiry(inMs);
  }

  private async open(userId: string): Promise<UserStream> {
    const pending = this.loading.get(userId);
    if (pending) return pending.promise;
    const journal: Array<[string, boolean]> = [];
    const promise = (async () => {
      try {
        const loaded = await this.loadRoomsForUser(userId);
        const existing = this.streams.get(userId);
        if (existing) return existing;
        const rooms = new Set(loaded);
        // Membership changes that arrived while loading win over the (possibly older) loaded list.
        for (const [roomId, joined] of journal) {
          if (joined) rooms.add(roomId);
          else rooms.delete(roomId);
        }
        // A new stream starts at the server's current positions: anything before was for the caller's
        // own storage read; anything after reaches it through routing.
        // Sized exactly (pushing one by one would over-allocate the array of every idle stream).
        const s = new UserStream(userId, this.current, [...rooms], this.clock.now());
        this.streams.set(userId, s);
        for (const roomId of s.rooms) this.addToIndex(s, roomId);
        this.touch(s);
        return s;
      } finally {
        this.loading.delete(userId);
      }
    })();
    this.loading.set(userId, { promise, journal });
    return promise;
  }

  private end(s: UserStream): void {
    if (this.streams.get(s.userId) !== s) return;
    this.streams.delete(s.userId);
    this.idle.delete(s.userId);
    this.lingering.delete(s.userId);
    for (const roomId of s.rooms) {
      const members = this.index.get(roomId);
      if (!members) continue;
      members.delete(s);
      if (members.size === 0) this.index.delete(roomId);
    }
    s.rooms = [];
    if (s.actor) {
      const actor = s.actor;
      s.actor = null;
      this.hooks?.lapse(actor);
    }
  }

  private joinIndex(s: UserStream, roomId: string): void {
    if (s.rooms.includes(roomId)) return;
    s.rooms.push(roomId);
    this.addToIndex(s, roomId);
  }

  private addToIndex(s: UserStream, roomId: string): void {
    let members = this.index.get(roomId);
    if (!members) {
      members = new Set();
      this.index.set(roomId, members);
    }
    members.add(s);
  }

  private leaveIndex(s: UserStream, roomId: string): void {
    const at = s.rooms.indexOf(roomId);
    if (at < 0) return;
    s.rooms.splice(at, 1);
    const members = this.index.get(roomId);
    if (!members) return;
    members.delete(s);
    if (members.size === 0) this.index.delete(roomId);
  }
}
