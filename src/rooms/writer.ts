// The room writer: every event this server creates goes through here. Per room, requests queue up and are taken
// in batches: each event is built in the room version's format (prev_events = the forward extremities, auth events
// chosen by authTypesForEvent over the current state, depth), checked with checkAuth against the current state
// (which includes the earlier events of the same batch), hashed and signed; then the whole batch is stored in one
// transaction with its state and stream positions, and only then are the callers answered and the supervisor told.
//
// One room's events are created strictly one after another (the queue), different rooms in parallel, with no global
// lock. Batching is what makes one busy room fast: while a batch commits, the requests that arrive are built on top
// of it (its state changes and its last event as their base) into the next batch, which goes to the database the
// moment the first has committed; if the first fails instead, what was built on it is void and built again. At most
// one batch of a room is in the database at a time, so each is written on committed extremities. The current state
// of a room is cached in memory after first use; the cache is only changed after a commit and dropped when a batch
// fails. (This assumes a single writer process per room.)
import { randomBytes } from 'node:crypto';
import { authTypesForEvent, checkAuth } from '../protocol/authRules.ts';
import { encodeBase64 } from '../protocol/base64.ts';
import { CanonicalJsonError } from '../protocol/canonicalJson.ts';
import { MAX_PDU_BYTES, sizeLimitProblem } from '../protocol/eventFormat.ts';
import { eventIdFromReferenceHash } from '../protocol/eventIds.ts';
import type { RoomEvent, StateKey } from '../protocol/events.ts';
import { stateKey } from '../protocol/events.ts';
import { computeReferenceHash } from '../protocol/hashes.ts';
import type { JsonObject, JsonValue } from '../protocol/json.ts';
import { signNewEvent, toRoomEvent } from '../protocol/pdu.ts';
import type { RoomVersion } from '../protocol/roomVersions.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { SigningKey } from '../protocol/signing.ts';
import { domainOf } from '../protocol/identifiers.ts';
import type { Database } from '../storage/database.ts';
import { DuplicateTxnError, EventStore, persistEventBatch, type EventToPersist, type StoredEvent } from '../storage/events.ts';
import type { Membership, Notifier } from '../notifier.ts';
import type { StreamIdGenerator } from '../streams/idGenerator.ts';
import { StreamAnnouncer, type Audience } from '../streams/announcer.ts';
import { RoomError, eventTooLarge, roomBadJson, roomForbidden } from './errors.ts';

/** What a caller asks for; the writer fills in everything else. */
export interface EventDraft {
  type: string;
  sender: string;
  stateKey?: string;
  content: JsonObject;
  /** m.room.redaction: the event redacted (top level before v11, in content from v11). */
  redacts?: string;
  /** origin_server_ts instead of now: an application service's `ts` query parameter. */
  originServerTs?: number;
  /** The sending device's transaction id: the same (user, device, txnId) gives the same event. */
  txn?: { deviceId: string; txnId: string };
}

export interface PersistedEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  pdu: JsonObject;
  /** True when the txn id had been used already and this is the earlier event. */
  deduplicated: boolean;
}

export interface NewRoom {
  /** Absent for v12+, where the create event's hash names the room. */
  roomId?: string;
  version: RoomVersion;
  creator: string;
  isPublic: boolean;
}

interface RoomCache {
  version: RoomVersion;
  state: Map<StateKey, RoomEvent>;
  extremities: RoomEvent[];
  /** Reference hashes of events a v1–v2 event may point at. */
  referenceHashes: Map<string, string>;
}

interface Job {
  draft: EventDraft;
  resolve(value: PersistedEvent): void;
  reject(error: unknown): void;
}

interface RoomQueue {
  jobs: Job[];
  running: boolean;
  /** Remote events' writes (submitRemote), each run alone between local batches. */
  remote?: (() => Promise<void>)[];
  /** Set while a batch commits: tells the drain that a job arrived, to be built on top of that batch. */
  arrived?: () => void;
}

/** What a remote write gets from the writer: ids on the `events` stream and who must hear of them. */
export interface RemoteWriteStream {
  /** Reserves the next id; it is completed when the remote write ends, committed or not. */
  reserve(): number;
  /** Who must hear of the fact written under `id` (call once it has committed). */
  announce(id: number, audience: Audience): void;
}

const MAX_BATCH = 100;


export interface RoomWriterOptions {
  db: Database;
  serverName: string;
  signingKey: SigningKey;
  notifier: Notifier;
  /** The `events` stream's id generator. */
  stream: StreamIdGenerator;
  now(): number;
}

export class RoomWriter {
  private readonly opts: RoomWriterOptions;
  private readonly events: EventStore;
  private readonly queues = new Map<string, RoomQueue>();
  private readonly caches = new Map<string, RoomCache>();
  /** Tells the supervisor about committed events once the stream position reaches them. */
  private readonly announcer: StreamAnnouncer;

  constructor(opts: RoomWriterOptions) {
    this.opts = opts;
    this.events = new EventStore(opts.db);
    // A committed event becomes visible to readers only when the stream position reaches it (an earlier id of
    // another room may still be in flight), so the supervisor is told when the position moves, about everything
    // that became visible with it.
    this.announcer = new StreamAnnouncer(opts.stream, (notification) => opts.notifier.notify(notification));
  }

  /** Queues an event into an existing room and resolves once it is stored (or rejects with a RoomError). */
  submit(roomId: string, draft: EventDraft): Promise<PersistedEvent> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(roomId);
      if (!queue) {
        queue = { jobs: [], running: false };
        this.queues.set(roomId, queue);
      }
      // Answered in the next turn of the event loop: by then the next batch of the room has been built and handed to
      // PostgreSQL, so writing these answers (a socket write each) overlaps its commit instead of delaying it.
      queue.jobs.push({ draft, resolve: (value) => setImmediate(resolve, value), reject });
      if (!queue.running) void this.drain(roomId, queue);
      else queue.arrived?.();
    });
  }

  /**
   * Creates a room: all its initial events in one transaction, each checked against the state the ones before it
   * made. Any rejected event fails the whole creation. Returns the room id and the events.
   */
  async createRoom(room: NewRoom, drafts: (roomId: string) => EventDraft[], createContent: JsonObject): Promise<{ roomId: string; events: PersistedEvent[] }> {
    const v = room.version;
    const cache: RoomCache = { version: v, state: new Map(), extremities: [], referenceHashes: new Map() };
    const now = this.opts.now();
    // The create event first: in v12 it names the room.
    const createDraft: EventDraft = { type: 'm.room.create', sender: room.creator, stateKey: '', content: createContent };
    const provisionalRoomId = room.roomId ?? '';
    const create = this.build(provisionalRoomId, cache, createDraft, new Map(), [], now);
    const roomId = v.roomIdFromCreateEvent ? create.event.room_id : provisionalRoomId;
    const overlay = new Map<StateKey, RoomEvent>([[stateKey('m.room.create', ''), create.event]]);
    const built: Built[] = [create];
    let extremity = create.event;
    for (const draft of drafts(roomId)) {
      const b = this.build(roomId, cache, draft, overlay, [extremity], now);
      built.push(b);
      extremity = b.event;
      if (b.event.state_key !== undefined) overlay.set(stateKey(b.event.type, b.event.state_key), b.event);
    }
    // No queue is needed: nobody knows the new room's id before this returns, and the id is never reused.
    const persisted = await this.persist(roomId, built, cache, overlay, { version: v.id, creator: room.creator, isPublic: room.isPublic, createdTs: now });
    return { roomId, events: persisted };
  }

  private async drain(roomId: string, queue: RoomQueue): Promise<void> {
    queue.running = true;
    try {
      // A batch built on top of the one in flight while it committed; sent as soon as that one has committed.
      let next: Prepared | null = null;
      while (next !== null || queue.jobs.length > 0 || (queue.remote?.length ?? 0) > 0) {
        const remote = next === null ? queue.remote?.shift() : undefined;
        if (remote) {
          await remote();
          continue;
        }
        let current = next;
        next = null;
        if (current === null) {
          const jobs = queue.jobs.splice(0, MAX_BATCH);
          let cache: RoomCache;
          try {
            cache = await this.loadCache(roomId);
          } catch (error) {
            for (const job of jobs) job.reject(error);
            continue;
          }
          current = this.add(this.newBatch(roomId, cache, null, null), jobs);
        }
        const committing = this.commit(current);
        next = await this.buildWhileCommitting(roomId, queue, current, committing);
        const outcome = await committing;
        if (outcome === 'committed') continue;
        // What was built on top of a batch that did not commit is void: its jobs go back first in line.
        if (next !== null) queue.jobs.unshift(...next.jobs);
        next = null;
        if (outcome === 'duplicate txn') await this.retryWithKnownTxns(roomId, current.jobs);
      }
    } finally {
      queue.running = false;
      if (queue.jobs.length === 0 && (queue.remote?.length ?? 0) === 0) this.queues.delete(roomId);
      else void this.drain(roomId, queue);
    }
  }

  /**
   * While `current` commits, builds the jobs that arrive on top of it (its state changes and its last event as
   * their base), so that the next batch goes to the database the moment `current` has committed instead of being
   * built only then. Returns that batch, or null if nothing arrived.
   */
  private async buildWhileCommitting(roomId: string, queue: RoomQueue, current: Prepared, committing: Promise<Outcome>): Promise<Prepared | null> {
    let next: Prepared | null = null;
    const settled = committing.then(() => 'settled' as const);
    for (;;) {
      const room = MAX_BATCH - (next?.jobs.length ?? 0);
      // Remote writes waiting stop the building ahead, so that a steady flow of local sends cannot starve them.
      if (queue.jobs.length > 0 && room > 0 && (queue.remote?.length ?? 0) === 0) {
        next = this.add(next ?? this.newBatch(roomId, current.cache, null, current), queue.jobs.splice(0, room));
        continue;
      }
      const arrived = new Promise<'arrived'>((resolve) => (queue.arrived = () => resolve('arrived')));
      const which = await Promise.race([settled, arrived]);
      queue.arrived = undefined;
      if (which === 'settled') return next;
    }
  }

  /**
   * The rare second attempt of a batch whose statement found a txn id already used (a client retrying while its
   * first request was being written): the used ids are looked up and the batch is built again without them.
   */
  private async retryWithKnownTxns(roomId: string, jobs: readonly Job[]): Promise<void> {
    let earlier: Map<string, string>;
    let cache: RoomCache;
    try {
      earlier = await this.events.eventIdsForTxns(
        jobs.filter((j) => j.draft.txn).map((j) => ({ userId: j.draft.sender, deviceId: j.draft.txn?.deviceId ?? '', txnId: j.draft.txn?.txnId ?? '' })),
      );
      cache = await this.loadCache(roomId);
    } catch (error) {
      for (const job of jobs) job.reject(error);
      return;
    }
    const outcome = await this.commit(this.add(this.newBatch(roomId, cache, earlier, null), jobs));
    if (outcome === 'duplicate txn') {
      for (const job of jobs) job.reject(new Error('a transaction id was used again while its batch was being written'));
    }
  }

  /**
   * An empty batch on the cached state, or on top of `prior` (a batch being stored: its state changes and its last
   * event come first). `earlier` holds txn ids known to be used (null: assume none; the batch statement checks).
   */
  private newBatch(roomId: string, cache: RoomCache, earlier: Map<string, string> | null, prior: Prepared | null): Prepared {
    return {
      roomId,
      cache,
      jobs: [],
      built: [],
      accepted: [],
      overlay: new Map(),
      prior,
      extremities: prior ? tipOf(prior) : cache.extremities,
      duplicates: [],
      failed: [],
      keys: new Set(),
      earlier,
      stored: new Map(),
    };
  }

  /** Builds jobs into the batch, each on the ones before it. */
  private add(batch: Prepared, jobs: readonly Job[]): Prepared {
    const lookup: StateLookup = { get: (key) => batch.overlay.get(key) ?? batch.prior?.overlay.get(key) };
    const now = this.opts.now();
    for (const job of jobs) {
      batch.jobs.push(job);
      const txn = job.draft.txn;
      const key = txn ? txnKey(job.draft.sender, txn) : undefined;
      if (key !== undefined && (batch.earlier?.has(key) || batch.keys.has(key) || batch.prior?.keys.has(key))) {
        batch.duplicates.push({ job, key });
        continue;
      }
      try {
        const b = this.build(batch.roomId, batch.cache, job.draft, lookup, tipOf(batch), now);
        batch.built.push(b);
        batch.accepted.push(job);
        if (key !== undefined) batch.keys.add(key);
        if (b.event.state_key !== undefined) batch.overlay.set(stateKey(b.event.type, b.event.state_key), b.event);
      } catch (error) {
        batch.failed.push({ job, error });
      }
    }
    return batch;
  }

  /** Stores a prepared batch and answers its callers; never rejects (a failure is the outcome or the callers' error). */
  private async commit(batch: Prepared): Promise<Outcome> {
    const { roomId } = batch;
    if (batch.built.length > 0) {
      let persisted: PersistedEvent[];
      try {
        persisted = await this.persist(roomId, batch.built, batch.cache, batch.overlay);
      } catch (error) {
        if (error instanceof DuplicateTxnError && batch.earlier === null) return 'duplicate txn';
        for (const job of batch.jobs) job.reject(error);
        return 'failed';
      }
      persisted.forEach((p, i) => {
        const job = batch.accepted[i] as Job;
        const txn = job.draft.txn;
        if (txn) batch.stored.set(txnKey(job.draft.sender, txn), p);
        job.resolve(p);
      });
    }
    for (const { job, error } of batch.failed) job.reject(error);
    for (const { job, key } of batch.duplicates) {
      const same = batch.stored.get(key) ?? batch.prior?.stored.get(key);
      const eventId = same?.eventId ?? batch.earlier?.get(key);
      if (eventId === undefined) {
        job.reject(new Error('transaction id lookup lost its event'));
        continue;
      }
      job.resolve({ eventId, roomId, streamOrdering: same?.streamOrdering ?? 0, pdu: same?.pdu ?? {}, deduplicated: true });
    }
    // Only the batch built on this one looks back at it, and it is stored or void by the time the next is built.
    batch.prior = null;
    return 'committed';
  }

  private async loadCache(roomId: string): Promise<RoomCache> {
    const cached = this.caches.get(roomId);
    if (cached) return cached;
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomForbidden(`Unknown room ${roomId}`);
    const v = getRoomVersion(room.version);
    if (!v) throw new RoomError(500, 'M_UNKNOWN', `room ${roomId} has an unknown version ${room.version}`);
    const [state, extremities] = await Promise.all([this.events.currentState(roomId), this.events.forwardExtremities(roomId)]);
    const toEvent = (e: StoredEvent) => toRoomEvent(e.pdu, v, { validate: false, eventId: e.eventId });
    const cache: RoomCache = {
      version: v,
      state: new Map(state.map((e) => [stateKey(e.type, e.stateKey ?? ''), toEvent(e)])),
      extremities: extremities.map(toEvent),
      referenceHashes: new Map(),
    };
    this.caches.set(roomId, cache);
    return cache;
  }

  private referenceHash(cache: RoomCache, event: RoomEvent): string {
    let hash = cache.referenceHashes.get(event.event_id);
    if (hash === undefined) {
      hash = encodeBase64(computeReferenceHash(event.pdu ?? {}, cache.version));
      cache.referenceHashes.set(event.event_id, hash);
    }
    return hash;
  }

  /** Builds, signs and authorises one event against the cached state with the batch's own changes on top. */
  private build(roomId: string, cache: RoomCache, draft: EventDraft, overlay: StateLookup, prevEvents: readonly RoomEvent[], now: number): Built {
    const v = cache.version;
    const lookup = (type: string, key: string) => overlay.get(stateKey(type, key)) ?? cache.state.get(stateKey(type, key));
    const selectable = { type: draft.type, sender: draft.sender, content: draft.content, ...(draft.stateKey !== undefined ? { state_key: draft.stateKey } : {}) };
    const authEvents = authTypesForEvent(selectable, v)
      .map((k) => lookup(k.type, k.stateKey))
      .filter((e): e is RoomEvent => e !== undefined);
    const depth = prevEvents.reduce((max, e) => Math.max(max, e.depth), 0) + 1;
    const reference = (e: RoomEvent): JsonValue => (v.eventFormat === 1 ? [e.event_id, { sha256: this.referenceHash(cache, e) }] : e.event_id);

    const content: JsonObject = { ...draft.content };
    if (draft.redacts !== undefined && v.redaction === 'v11') content['redacts'] = draft.redacts;
    const pdu: JsonObject = {
      auth_events: authEvents.map(reference),
      prev_events: prevEvents.map(reference),
      type: draft.type,
      sender: draft.sender,
      content,
      depth,
      origin_server_ts: draft.originServerTs ?? now,
    };
    if (!(v.roomIdFromCreateEvent && draft.type === 'm.room.create')) pdu['room_id'] = roomId;
    if (draft.stateKey !== undefined) pdu['state_key'] = draft.stateKey;
    if (draft.redacts !== undefined && v.redaction !== 'v11') pdu['redacts'] = draft.redacts;
    if (v.eventFormat === 1) pdu['event_id'] = `$${randomBytes(12).toString('base64url')}:${this.opts.serverName}`;
    if (v.eventFormat === 1 || !v.implicitRoomCreator) pdu['origin'] = this.opts.serverName;

    // A cheap bound first, so that a huge body costs no hashing and signing; the exact measure follows the signature.
    if (Buffer.byteLength(JSON.stringify(content)) > MAX_PDU_BYTES) {
      throw eventTooLarge(`the event content alone is more than ${MAX_PDU_BYTES} bytes`);
    }
    let signed: JsonObject;
    let referenceHash: Buffer;
    try {
      ({ signed, referenceHash } = signNewEvent(pdu, v, this.opts.serverName, this.opts.signingKey));
    } catch (error) {
      // Numbers the room version's canonical JSON cannot encode (floats, out-of-range integers from v6).
      if (error instanceof CanonicalJsonError) throw roomBadJson(`the event is not canonical JSON: ${error.message}`);
      throw error;
    }
    const problem = sizeLimitProblem(signed, v.strictCanonicalJson);
    if (problem !== undefined) throw sizeError(problem);
    let eventId: string;
    if (v.eventFormat === 1) {
      eventId = pdu['event_id'] as string;
      // The next event refers to this one by its reference hash.
      cache.referenceHashes.set(eventId, encodeBase64(referenceHash));
    } else {
      eventId = eventIdFromReferenceHash(referenceHash, v);
    }
    const event = toRoomEvent(signed, v, { validate: false, eventId });

    const result = checkAuth(event, lookup, v);
    if (!result.allowed) throw roomForbidden(result.reason);
    return { event, draft, replacesState: draft.stateKey !== undefined ? (lookup(draft.type, draft.stateKey)?.event_id ?? null) : null };
  }

  private async persist(
    roomId: string,
    built: Built[],
    cache: RoomCache,
    overlay: ReadonlyMap<StateKey, RoomEvent>,
    newRoom?: { version: string; creator: string; isPublic: boolean; createdTs: number },
  ): Promise<PersistedEvent[]> {
    const { stream, db, notifier, serverName } = this.opts;
    const now = this.opts.now();
    const ids = built.map(() => stream.reserve());
    let committed = false;
    try {
      const rows: EventToPersist[] = built.map((b, i) => {
        const e = b.event;
        const membership = e.type === 'm.room.member' && typeof e.content['membership'] === 'string' ? e.content['membership'] : null;
        return {
          streamOrdering: ids[i] as number,
          eventId: e.event_id,
          roomId,
          type: e.type,
          stateKey: e.state_key ?? null,
          sender: e.sender,
          depth: e.depth,
          originServerTs: e.origin_server_ts,
          redacts: e.type === 'm.room.redaction' ? (e.redacts ?? null) : null,
          prevEvents: e.prev_events,
          authEvents: e.auth_events,
          pdu: e.pdu ?? {},
          replacesState: b.replacesState,
          membership,
          localMember: membership !== null && e.state_key !== undefined && domainOf(e.state_key) === serverName,
          txn: b.draft.txn ? { userId: b.draft.sender, deviceId: b.draft.txn.deviceId, txnId: b.draft.txn.txnId } : null,
        };
      });
      const last = built.at(-1)?.event;
      await persistEventBatch(db, { roomId, events: rows, extremities: last ? [last.event_id] : [], now, ...(newRoom ? { newRoom } : {}) });
      committed = true;
      // The cache follows the commit: new state, one extremity.
      for (const [key, event] of overlay) cache.state.set(key, event);
      if (last) cache.extremities = [last];
      if (newRoom) this.caches.set(roomId, cache);
      const users = new Set<string>();
      for (const row of rows) {
        if (row.localMember && row.stateKey !== null && row.membership !== null) {
          notifier.membershipChanged(roomId, row.stateKey, row.membership as Membership);
          if (row.membership === 'invite') users.add(row.stateKey);
        }
        if (row.type === 'm.room.history_visibility' && row.stateKey === '') notifier.historyVisibilityChanged(roomId);
      }
      this.announcer.setAudience(ids.at(-1) as number, { rooms: [roomId], users: [...users] });
      return rows.map((r) => ({ eventId: r.eventId, roomId, streamOrdering: r.streamOrdering, pdu: r.pdu, deduplicated: false }));
    } catch (error) {
      if (!committed) this.caches.delete(roomId);
      throw error;
    } finally {
      for (const id of ids) stream.complete(id);
    }
  }



  /**
   * Runs `work` (storing remote events that federation has checked) in the room's queue, alone between local batches,
   * so that local and remote writes to a room never interleave. Remote events change the state by resolution, so the
   * room's cached state is dropped afterwards.
   */
  submitRemote<T>(roomId: string, work: (stream: RemoteWriteStream) => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(roomId);
      if (!queue) {
        queue = { jobs: [], running: false };
        this.queues.set(roomId, queue);
      }
      const { stream } = this.opts;
      (queue.remote ??= []).push(async () => {
        const ids: number[] = [];
        try {
          resolve(
            await work({
              reserve: () => {
                const id = stream.reserve();
                ids.push(id);
                return id;
              },
              announce: (id, audience) => this.announcer.setAudience(id, audience),
            }),
          );
        } catch (error) {
          reject(error);
        } finally {
          this.caches.delete(roomId);
          for (const id of ids) stream.complete(id);
        }
      });
      if (!queue.running) void this.drain(roomId, queue);
    });
  }

  /** A local user forgets a room they left or were banned from: their membership row changes without an event. */
  async forget(userId: string, roomId: string, membership: 'leave' | 'ban'): Promise<void> {
    await this.events.forget(userId, roomId);
    this.opts.notifier.membershipChanged(roomId, userId, membership);
  }

  /** Forgets a room's cached state (tests, or after an out-of-band change). */
  dropCache(roomId: string): void {
    this.caches.delete(roomId);
  }
}

interface Built {
  event: RoomEvent;
  draft: EventDraft;
  replacesState: string | null;
}

/** A batch of one room's jobs, built and not yet stored. */
interface Prepared {
  roomId: string;
  /** The cache it was built on (a batch on top of another shares its cache). */
  cache: RoomCache;
  /** Every job of the batch, in the order they came. */
  jobs: Job[];
  built: Built[];
  /** The jobs whose events are `built`, index for index. */
  accepted: Job[];
  /** The state this batch's events change. */
  overlay: Map<StateKey, RoomEvent>;
  /** The batch this one was built on while that one was being stored (its state changes and events come first). */
  prior: Prepared | null;
  /** The prev_events of the batch's first event. */
  extremities: RoomEvent[];
  duplicates: { job: Job; key: string }[];
  failed: { job: Job; error: unknown }[];
  /** The txn keys of `built`. */
  keys: Set<string>;
  /** Txn ids known to be used already (null: assumed none, which the batch statement checks). */
  earlier: Map<string, string> | null;
  /** What was stored, by txn key (filled on commit; a later batch's repeat of one of these txn ids is answered from it). */
  stored: Map<string, PersistedEvent>;
}

type Outcome = 'committed' | 'duplicate txn' | 'failed';

type StateLookup = Pick<ReadonlyMap<StateKey, RoomEvent>, 'get'>;

/** The prev_events of an event added to the batch: its last event, or what the batch starts on. */
function tipOf(batch: Prepared): RoomEvent[] {
  const last = batch.built.at(-1);
  return last ? [last.event] : batch.extremities;
}

function txnKey(userId: string, txn: { deviceId: string; txnId: string }): string {
  return `${userId}\u0000${txn.deviceId}\u0000${txn.txnId}`;
}

function sizeError(problem: string): RoomError {
  return problem.startsWith('the event is not canonical JSON') ? roomBadJson(problem) : eventTooLarge(problem);
}
