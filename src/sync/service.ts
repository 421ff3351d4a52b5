// GET /sync (Client-Server API "Syncing"): one response built between `since` and `to` (the server's positions when
// the computation starts), and the long poll around it.
//
// Rooms (this file, with ./memberships.ts, ./timeline.ts, ./format.ts): for each joined room the newest visible
// events after `since` (all of history for a new join) with a truthful `limited` and a /messages token before the
// first one; the state at the START of that timeline: in full (initial sync, new join, full_state) as the room's
// state at that position, otherwise only what changed between `since` and that position, both read from the state
// history rather than by replaying events. Invites and knocks with stripped state, left rooms with their timeline
// up to the leave. Everything else (account data, receipts, typing, presence, to-device, device lists) comes from
// the per-user data streams (./userData.ts) and is filtered here. A joined room's timeline and state delta after
// `since` are the same for every member asking from there with the same filter: the members one message wakes share
// them (./shared.ts), and only what is each member's own (unread counts, summaries, txn ids, the JSON) is per member.
import { handled } from '../promises.ts';
import type { JsonObject } from '../protocol/json.ts';
import { getRoomVersion, type RoomVersion } from '../protocol/roomVersions.ts';
import type { Notifier } from '../notifier.ts';
import { RoomVisibility, type HistoryVisibility } from '../rooms/visibility.ts';
import type { Database } from '../storage/database.ts';
import { EventStore, type StoredEvent } from '../storage/events.ts';
import { STREAM_NAMES, type StreamName } from '../streams/names.ts';
import { StreamToken } from '../streams/token.ts';
import { excludesEveryEvent, filterJsonEvents, matchesEventFilter, matchesRoom, type Filter, type RoomEventFilter } from './filter.ts';
import { keyOf } from './batch.ts';
import { mergeReads, SyncEventFormatter, type FormatReads } from './format.ts';
import { Limiter } from './limiter.ts';
import { classifyRoom, mergeHistory, type ClassifiedRoom } from './memberships.ts';
import { merged } from './merged.ts';
import { STRIPPED_STATE_TYPES, strippedState } from './strippedState.ts';
import { SyncReads } from './reads.ts';
import { SharedParts } from './shared.ts';
import { SyncStore, type MemberCounts, type MemberState } from './syncStore.ts';
import { loadTimelines, type Timeline } from './timeline.ts';
import type { PresenceState, SyncUserData, UserDataResponse } from './userData.ts';
import { UnreadCounter, type UnreadCounts } from '../pushRules/unreadCounts.ts';
import type { StoredPushRules } from '../storage/pushRules.ts';

export const DEFAULT_TIMELINE_LIMIT = 10;
export const MAX_TIMELINE_LIMIT = 1000;

export interface SyncRequest {
  userId: string;
  deviceId: string;
  since?: StreamToken;
  filter: Filter;
  fullState: boolean;
  timeoutMs: number;
  setPresence: PresenceState;
  /**
   * use_state_after (spec v1.16; `unstable`: MSC4222's org.matrix.msc4222.use_state_after, which matrix-js-sdk sends):
   * the state section describes the END of the timeline, under `state_after` (or MSC4222's key) instead of `state`.
   */
  stateAfter?: 'stable' | 'unstable';
}

export interface SyncServiceOptions {
  db: Database;
  notifier: Notifier;
  userData: SyncUserData;
  now(): number;
  /**
   * How many incremental responses (`since` given, not full_state) are computed at once (default 1,024): a thousand
   * members woken by one message go in one wave, and as their reads are batched across responses (./reads.ts) a wider
   * wave makes batches bigger, not statements more (BENCHMARKS.md "sync").
   */
  incrementalConcurrency?: number;
  /**
   * How many initial syncs and full_state responses are computed at once (default 8): each can read thousands of state
   * events, so this bounds their memory; they have their own limiter so they never hold back the incremental ones.
   */
  initialConcurrency?: number;
}

export interface SyncResult {
  body: JsonObject;
  /** Nothing new for the client: a long poll keeps waiting. */
  empty: boolean;
  nextBatch: StreamToken;
}

/** A /messages token: the position before which (inclusive) backwards pagination continues. */
export function messagesToken(position: number): string {
  // The members woken by one message all give the same one: the last is kept.
  if (position !== lastMessages.position) lastMessages = { position, token: StreamToken.of({ events: position }).toString() };
  return lastMessages.token;
}
let lastMessages = { position: -1, token: '' };

export class SyncService {
  private readonly events: EventStore;
  private readonly store: SyncStore;
  private readonly reads: SyncReads;
  private readonly formatter: SyncEventFormatter;
  private readonly notifier: Notifier;
  private readonly userData: SyncUserData;
  private readonly now: () => number;
  private readonly incremental: Limiter;
  private readonly initial: Limiter;
  private readonly unread: UnreadCounter;
  private readonly shared: SharedParts<RoomsPart>;

  constructor(opts: SyncServiceOptions) {
    this.unread = new UnreadCounter(opts.db);
    this.incremental = new Limiter(opts.incrementalConcurrency ?? 1024);
    this.initial = new Limiter(opts.initialConcurrency ?? 8);
    this.events = new EventStore(opts.db);
    this.store = new SyncStore(opts.db);
    this.reads = new SyncReads(this.store);
    this.formatter = new SyncEventFormatter(this.events, this.store);
    this.notifier = opts.notifier;
    this.userData = opts.userData;
    this.now = opts.now;
    this.shared = new SharedParts(opts.now);
  }

  /**
   * Answers at once on an initial sync, with full_state, when there is something new, or when the timeout is 0;
   * otherwise waits until something concerning the user happens (then recomputes, unless only streams the filter shows
   * nothing of moved) or the timeout passes.
   */
  async sync(request: SyncRequest, signal?: AbortSignal): Promise<SyncResult> {
    await this.userData.syncing(request.userId, request.setPresence);
    const deadline = this.now() + request.timeoutMs;
    const hidden = hiddenStreams(request.filter);
    let to = this.currentToken(request);
    // A long poll from where every stream still is (each woken client's next request) can only be empty: it waits
    // first. Its empty answer, computed if the wait ends with nothing, is what acknowledges the to-device messages up to
    // `since` meanwhile; until then they stay stored, which loses nothing.
    let result = request.since && !request.fullState && request.timeoutMs > 0 && !to.isAfter(request.since) ? undefined : await this.respond(request, to, hidden);
    // The token the wait starts from: past `to` when wake-ups by hidden streams alone were skipped.
    let waitFrom = to;
    const answer = async () => skippedPast(result ?? (await this.respond(request, to, hidden)), to, waitFrom);
    for (;;) {
      const remaining = deadline - this.now();
      if (!request.since || request.fullState || (result && !result.empty) || remaining <= 0 || signal?.aborted) return answer();
      const waited = await this.notifier.waitForEvents(request.userId, waitFrom, remaining, signal);
      if (waited.reason !== 'advanced') return answer();
      const next = this.currentToken(request);
      // Computing again would find the same empty response (a thousand members woken by each one coming online,
      // with presence filtered out): wait on from here instead.
      if (onlyMoved(hidden, waitFrom, next)) {
        waitFrom = next;
        continue;
      }
      to = next;
      waitFrom = next;
      result = await this.respond(request, to, hidden);
    }
  }

  private currentToken(request: SyncRequest): StreamToken {
    return request.since ? this.notifier.currentToken().max(request.since) : this.notifier.currentToken();
  }

  /** The response up to `to`, computed in the limiter its kind belongs to; `hidden` is hiddenStreams(request.filter). */
  private respond(request: SyncRequest, to: StreamToken, hidden: ReadonlySet<StreamName>): Promise<SyncResult> {
    if (request.since === undefined || request.fullState) return this.initial.run(() => this.compute(request, to, hidden));
    // A token no stream has moved past needs no room query, so it does not queue behind responses that do.
    if (!to.isAfter(request.since)) return this.withoutRooms(request, to, hidden);
    return this.incremental.run(() => this.compute(request, to, hidden));
  }

  /**
   * The response between request.since and `to`. Every read starts as soon as what it needs is known, as one chain of
   * round trips is most of a woken long poll's latency: the user's rooms (kept from their last sync unless they changed:
   * SyncReads.userRooms); then their timelines (with the user data, receipts, invites and full rooms' summaries); then,
   * all at once, the state, the lazy-loaded members, the unread counts of the rooms the timelines put in the response
   * and what formatting the timelines needs read; last what formatting the state needs read and whatever only the state
   * decides (summaries of rooms whose membership changed before the timeline, unread counts of rooms included for
   * state, ephemeral events or account data alone).
   */
  private async compute(request: SyncRequest, to: StreamToken, hidden: ReadonlySet<StreamName>): Promise<SyncResult> {
    if (roomsUnchanged(request, to)) return this.withoutRooms(request, to, hidden);
    const { userId, filter } = request;
    const roomFilter = filter.room;
    const upTo = to.get('events');
    const since = request.since?.get('events');
    const { classified, joined, left, ignored, visibility, rules } = await this.userRooms(request, to);
    const versions = new Map(classified.map((r) => [r.roomId, versionOf(r.roomVersion)]));

    const collected = handled(
      this.userData.collect({
        userId,
        deviceId: request.deviceId,
        ...(request.since ? { since: request.since } : {}),
        to,
        joinedRoomIds: joined.map((r) => r.roomId),
        newlyJoinedRoomIds: joined.filter((r) => since === undefined || r.newlyJoined).map((r) => r.roomId),
        newlyLeftRoomIds: left.filter((r) => r.newlyLeft).map((r) => r.roomId),
        hidden,
      }),
    );
    const readUpTo = handled(joined.length > 0 ? this.userData.readUpTo(userId, joined.map((r) => r.roomId)) : Promise.resolve(new Map<string, number>()));
    const stripped = handled(this.strippedRooms(classified, ignored));
    // Rooms sent in full always have a summary, and lazy loading needs their heroes.
    const fullSummaries = handled(this.summaries(userId, joined.filter((r) => r.full)));

    const timelineRooms = [...joined, ...left];
    const timelineFilter = roomFilter?.timeline;
    const stateFilter = roomFilter?.state;
    const scope: RoomsScope = {
      userId,
      since,
      upTo,
      limit: Math.min(timelineFilter?.limit ?? DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT),
      timelineFilter,
      stateFilter,
      lazy: stateFilter?.lazy_load_members === true,
      stateAfter: request.stateAfter !== undefined,
      ignored,
      visibility,
    };
    const parts = this.roomParts(timelineRooms, scope, filter, fullSummaries);
    const timelines = merged(await Promise.all(parts.map((p) => p.timelines)));
    const hasTimeline = (roomId: string) => (timelines.get(roomId)?.events.length ?? 0) > 0;
    const stateKey = request.stateAfter === 'unstable' ? 'org.matrix.msc4222.state_after' : request.stateAfter === 'stable' ? 'state_after' : 'state';

    const summaryRooms = joined.filter((r) => r.full || hasMemberEvent(timelines.get(r.roomId)?.events));
    const timelineSummaries = handled(this.summaries(userId, summaryRooms.filter((r) => !r.full)));
    // Rooms with timeline events (and rooms sent in full) are in the response whatever else happens: counted now.
    const counted = new Set(joined.filter((r) => r.full || hasTimeline(r.roomId)));
    const countedEarly = handled(this.unreadCounts(userId, [...counted], upTo, ignored, readUpTo, rules));
    const timelineEvents = [...timelines.values()].flatMap((t) => t.events);
    const txnIds = handled(this.formatter.txnIds(request, timelineEvents));

    const states = await Promise.all(parts.map((p) => p.state));
    const state = merged(states.map((s) => s.state));
    const changes = merged(states.map((s) => s.changes));
    const formatRequest = {
      userId,
      deviceId: request.deviceId,
      now: this.now(),
      filter,
      versionOf: (roomId: string) => versions.get(roomId) as RoomVersion,
      visibilityOf: (roomId: string) => visibility.get(roomId),
    };
    const formatted = this.formatter.serve(formatRequest, [...timelineEvents, ...[...state.values()].flat()], mergeReads(states.map((s) => s.reads)), await txnIds);
    // Summaries where the whole state is sent or membership changed: the latter may show only in the state delta.
    const changedMembers = joined.filter((r) => !r.full && !hasMemberEvent(timelines.get(r.roomId)?.events) && hasMemberEvent(changes.get(r.roomId)));
    const changesSummaries = handled(this.summaries(userId, changedMembers));
    const summarised = new Set([...summaryRooms.map((r) => r.roomId), ...changedMembers.map((r) => r.roomId)]);

    const data = await collected;
    const includedJoined = joined.filter((r) => {
      if (r.full) return true;
      const roomData = data.rooms.get(r.roomId);
      return (
        hasTimeline(r.roomId) ||
        (state.get(r.roomId)?.length ?? 0) > 0 ||
        filterJsonEvents(roomFilter?.ephemeral, roomData?.ephemeral ?? [], r.roomId).length > 0 ||
        filterJsonEvents(roomFilter?.account_data, roomData?.accountData ?? [], r.roomId).length > 0
      );
    });
    const includedLeft = left.filter((r) => r.full || r.newlyLeft || hasTimeline(r.roomId) || (state.get(r.roomId)?.length ?? 0) > 0);
    const countedLate = this.unreadCounts(userId, includedJoined.filter((r) => !counted.has(r)), upTo, ignored, readUpTo, rules);
    const [early, late, summaries] = await Promise.all([countedEarly, countedLate, Promise.all([fullSummaries, timelineSummaries, changesSummaries])]);
    const unread = new Map([...early, ...late]);
    const counts = merged(summaries.map((s) => s.counts));
    const heroes = merged(summaries.map((s) => s.heroes));

    const served = (events: readonly StoredEvent[] | undefined) => (events ?? []).map((e) => formatted.get(e.eventId) as JsonObject);
    const timelineSection = (roomId: string, upper: number) => {
      const t = timelines.get(roomId);
      const first = t?.events[0];
      return {
        events: served(t?.events),
        limited: t?.limited ?? false,
        prev_batch: messagesToken(first ? first.streamOrdering - 1 : upper),
      };
    };

    const join: JsonObject = {};
    for (const r of includedJoined) {
      const roomData = data.rooms.get(r.roomId);
      const section: JsonObject = {
        timeline: timelineSection(r.roomId, upTo),
        [stateKey]: { events: served(state.get(r.roomId)) },
        ephemeral: { events: filterJsonEvents(roomFilter?.ephemeral, roomData?.ephemeral ?? [], r.roomId) },
        account_data: { events: filterJsonEvents(roomFilter?.account_data, roomData?.accountData ?? [], r.roomId) },
        unread_notifications: { notification_count: unread.get(r.roomId)?.notifications ?? 0, highlight_count: unread.get(r.roomId)?.highlights ?? 0 },
      };
      const c = counts.get(r.roomId);
      if (summarised.has(r.roomId)) {
        section['summary'] = { 'm.heroes': heroes.get(r.roomId) ?? [], 'm.joined_member_count': c?.joined ?? 0, 'm.invited_member_count': c?.invited ?? 0 };
      }
      join[r.roomId] = section;
    }
    const leave: JsonObject = {};
    for (const r of includedLeft) {
      const roomData = data.rooms.get(r.roomId);
      leave[r.roomId] = {
        timeline: timelineSection(r.roomId, r.membershipOrdering),
        [stateKey]: { events: served(state.get(r.roomId)) },
        account_data: { events: filterJsonEvents(roomFilter?.account_data, roomData?.accountData ?? [], r.roomId) },
      };
    }
    const { invite, knock } = await stripped;

    return response(filter, to, data, { join, invite, leave, knock });
  }

  /**
   * The timelines and state sections of these rooms, with what formatting their events needs read. A joined room's part
   * after `since` (not sent in full) is the same for every member asking with the same filter and ignored users, as
   * they were joined throughout and may see every event in it: the members one message wakes share it (./shared.ts).
   * The rest of the user's rooms are read together.
   */
  private roomParts(rooms: readonly ClassifiedRoom[], scope: RoomsScope, filter: Filter, fullSummaries: Promise<Summaries>): RoomsPart[] {
    const shareable = (r: ClassifiedRoom) => r.section === 'join' && !r.full;
    const own = rooms.filter((r) => !shareable(r));
    const parts = own.length > 0 ? [this.roomsPart(own, scope, fullSummaries)] : [];
    const shared = rooms.filter(shareable);
    if (shared.length === 0) return parts;
    const common = keyOf(scope.since ?? '', scope.upTo, scope.limit, scope.stateAfter ? 1 : 0, filterKey(filter), [...scope.ignored].sort().join(' '));
    for (const r of shared) {
      parts.push(this.shared.get(keyOf(r.roomId, common), () => this.roomsPart([r], scope, fullSummaries), (p) => [p.timelines, p.state]));
    }
    return parts;
  }

  /** The part of these rooms (ClassifiedRoom.full ones need the heroes of `fullSummaries` when lazy loading). */
  private roomsPart(rooms: readonly ClassifiedRoom[], scope: RoomsScope, fullSummaries: Promise<Summaries>): RoomsPart {
    const { userId, since, upTo, visibility, ignored, timelineFilter } = scope;
    const ranges = rooms.map((r) => ({
      roomId: r.roomId,
      after: since === undefined || r.newlyJoined ? 0 : since,
      upTo: r.section === 'leave' ? r.membershipOrdering : upTo,
    }));
    const timelines = handled(
      loadTimelines(this.reads, ranges, scope.limit, (e) => {
        // State events of ignored users still arrive, or the client's room state would go wrong (as Synapse and /messages).
        if (e.stateKey === null && ignored.has(e.sender)) return false;
        if (!(visibility.get(e.roomId)?.canSee(e, userId) ?? false)) return false;
        return matchesEventFilter(timelineFilter, { type: e.type, sender: e.sender, roomId: e.roomId, content: e.pdu['content'] ?? {} });
      }),
    );
    const state = handled(
      timelines.then(async (found) => {
        // The position the state section describes: the start of the timeline, or its end for use_state_after.
        const start = new Map(ranges.map((r) => [r.roomId, scope.stateAfter ? r.upTo : timelineStart(found.get(r.roomId), r.upTo)]));
        const events = [...found.values()].flatMap((t) => t.events);
        const timelineReads = handled(this.formatter.reads(events));
        const [read, members] = await Promise.all([
          this.readState(rooms, start, since, scope.lazy),
          scope.lazy ? this.lazyMembers(userId, rooms, found, start, fullSummaries) : new Map<string, MemberState[]>(),
        ]);
        const { state, changes } = assembleState(rooms, read, members, scope.stateFilter);
        const inTimeline = new Set(events.map((e) => e.eventId));
        const known = new Map([...members.values()].flat().map((m) => [m.event.eventId, m.replaced]));
        const stateReads = this.formatter.reads([...state.values()].flat().filter((e) => !inTimeline.has(e.eventId)), known);
        return { state, changes, reads: mergeReads(await Promise.all([timelineReads, stateReads])) };
      }),
    );
    return { timelines, state };
  }

  /** The user's rooms at `to`, classified into the response's sections, with what deciding what they may see needs. */
  private async userRooms(request: SyncRequest, to: StreamToken): Promise<UserRooms> {
    const { userId } = request;
    const roomFilter = request.filter.room;
    const since = request.since?.get('events');
    // Independent reads, in parallel: one round trip of latency on PostgreSQL. The push rules, needed later, go too.
    const rules = handled(this.unread.storedRules(userId));
    const [{ rows, histories, visibility: hv }, ignored] = await Promise.all([
      this.reads.userRooms(userId, this.notifier.roomsVersion(userId)),
      this.userData.ignoredUsers(userId),
    ]);
    const classified: ClassifiedRoom[] = [];
    for (const row of rows.filter((r) => matchesRoom(roomFilter, r.roomId))) {
      const room = classifyRoom(row, mergeHistory(row, histories.get(row.roomId) ?? []), {
        since,
        upTo: to.get('events'),
        fullState: request.fullState,
        includeLeave: roomFilter?.include_leave === true,
      });
      if (room) classified.push(room);
    }
    const joined = classified.filter((r) => r.section === 'join');
    const left = classified.filter((r) => r.section === 'leave');
    return { classified, joined, left, ignored, visibility: visibilities([...joined, ...left], hv), rules };
  }

  /** Each room's state as read: in full (without members when lazy loading) or the delta since `since`, up to `start`. */
  private async readState(
    rooms: readonly ClassifiedRoom[],
    start: ReadonlyMap<string, number>,
    since: number | undefined,
    lazy: boolean,
  ): Promise<{ full: Map<string, StoredEvent[]>; changes: Map<string, StoredEvent[]> }> {
    const at = (r: ClassifiedRoom) => start.get(r.roomId) as number;
    const [full, changes] = await Promise.all([
      this.store.stateAt(
        rooms.filter((r) => r.full).map((r) => ({ roomId: r.roomId, at: at(r) })),
        { withoutMembers: lazy },
      ),
      this.store.stateChanges(rooms.filter((r) => !r.full).map((r) => ({ roomId: r.roomId, after: since ?? 0, upTo: at(r) }))),
    ]);
    return { full, changes };
  }

  /**
   * Lazy loading: the member events of the timeline's senders at the state's position, and in full rooms the user's and
   * the heroes'. Asked alongside the state: for a delta, those the delta carries itself are dropped afterwards
   * (assembleState); full state is read without members.
   */
  private async lazyMembers(
    userId: string,
    rooms: readonly ClassifiedRoom[],
    timelines: ReadonlyMap<string, Timeline>,
    start: ReadonlyMap<string, number>,
    fullSummaries: Promise<Summaries>,
  ): Promise<Map<string, MemberState[]>> {
    const heroes = rooms.some((r) => r.full) ? (await fullSummaries).heroes : new Map<string, string[]>();
    return this.reads.membersAt(
      rooms.map((r) => {
        const needed = senders(timelines.get(r.roomId));
        if (r.full) {
          needed.add(userId);
          for (const h of heroes.get(r.roomId) ?? []) needed.add(h);
        }
        return { roomId: r.roomId, at: start.get(r.roomId) as number, userIds: [...needed] };
      }),
    );
  }

  /** m.joined_member_count, m.invited_member_count and m.heroes of these (joined) rooms. */
  private summaries(userId: string, rooms: readonly ClassifiedRoom[]): Promise<Summaries> {
    if (rooms.length === 0) return NO_SUMMARIES;
    const roomIds = rooms.map((r) => r.roomId);
    return Promise.all([this.store.memberCounts(roomIds), this.store.heroes(userId, roomIds)]).then(([counts, heroes]) => ({ counts, heroes }));
  }

  /**
   * An incremental sync where no stream that can put a room in the response moved between `since` and `to` (nothing
   * at all for a long poll that timed out; only presence for the members woken by someone coming online): no room
   * is read. The per-user data streams are still asked (with no rooms), which costs no query for streams that did not
   * move, and lets to-device messages at or before `since` be acknowledged.
   */
  private async withoutRooms(request: SyncRequest, to: StreamToken, hidden: ReadonlySet<StreamName>): Promise<SyncResult> {
    const data = await this.userData.collect({
      userId: request.userId,
      deviceId: request.deviceId,
      ...(request.since ? { since: request.since } : {}),
      to,
      joinedRoomIds: [],
      newlyJoinedRoomIds: [],
      newlyLeftRoomIds: [],
      hidden,
    });
    return response(request.filter, to, data, { join: {}, invite: {}, leave: {}, knock: {} });
  }

  /** Unread notifications and highlights per room: the user's push rules over the events after their read receipt (or their join, if later). */
  private async unreadCounts(
    userId: string,
    rooms: readonly ClassifiedRoom[],
    upTo: number,
    ignored: ReadonlySet<string>,
    readUpTo: Promise<ReadonlyMap<string, number>>,
    rules: Promise<StoredPushRules | null>,
  ): Promise<Map<string, UnreadCounts>> {
    if (rooms.length === 0) return new Map();
    const read = await readUpTo;
    return this.unread.count(
      userId,
      rooms.map((r) => ({ roomId: r.roomId, after: Math.max(read.get(r.roomId) ?? 0, r.joinedSince), upTo })),
      [...ignored],
      rules,
    );
  }

  private async strippedRooms(classified: readonly ClassifiedRoom[], ignored: ReadonlySet<string>): Promise<{ invite: JsonObject; knock: JsonObject }> {
    const rooms = classified.filter((r) => r.section === 'invite' || r.section === 'knock');
    const invite: JsonObject = {};
    const knock: JsonObject = {};
    if (rooms.length === 0) return { invite, knock };
    const [membershipEvents, roomState] = await Promise.all([
      this.events.getEvents(rooms.map((r) => r.membershipEventId)),
      this.store.strippedStateEvents(
        rooms.map((r) => r.roomId),
        STRIPPED_STATE_TYPES,
      ),
    ]);
    for (const r of rooms) {
      const event = membershipEvents.get(r.membershipEventId);
      if (r.section === 'invite') {
        // An invite from someone the user ignores is not shown at all.
        if (event && ignored.has(event.sender)) continue;
        invite[r.roomId] = { invite_state: { events: strippedState(roomState.get(r.roomId) ?? [], event) } };
      } else {
        knock[r.roomId] = { knock_state: { events: strippedState(roomState.get(r.roomId) ?? [], event) } };
      }
    }
    return { invite, knock };
  }
}

/**
 * Streams the filter shows nothing of: presence when its presence filter lets no event through; typing and receipts
 * when the ephemeral filter (or the room filter) lets none through, since they reach a response only as rooms'
 * ephemeral events (read receipts also feed unread counts, but those come only with a room included for another reason,
 * and that reason is another stream moving).
 */
function hiddenStreams(filter: Filter): ReadonlySet<StreamName> {
  const hidden = new Set<StreamName>();
  if (excludesEveryEvent(filter.presence)) hidden.add('presence');
  if (excludesEveryEvent(filter.room?.ephemeral) || filter.room?.rooms?.length === 0) {
    hidden.add('typing');
    hidden.add('receipts');
  }
  return hidden;
}

/** True when every stream ahead in `to` compared with `from` is hidden (or none is). */
function onlyMoved(hidden: ReadonlySet<StreamName>, from: StreamToken, to: StreamToken): boolean {
  return STREAM_NAMES.every((stream) => hidden.has(stream) || to.get(stream) <= from.get(stream));
}

/**
 * The (empty) result computed up to `computedTo`, its next_batch moved on to `waitedFrom` on the hidden streams skipped
 * since, so that the client's next long poll does not wake for them again. Only those streams: next_batch may be behind
 * `computedTo` on others on purpose (to-device pages).
 */
function skippedPast(result: SyncResult, computedTo: StreamToken, waitedFrom: StreamToken): SyncResult {
  if (waitedFrom === computedTo) return result;
  let nextBatch = result.nextBatch;
  for (const stream of STREAM_NAMES) {
    if (waitedFrom.get(stream) > computedTo.get(stream)) nextBatch = nextBatch.advance(stream, waitedFrom.get(stream));
  }
  return { ...result, body: { ...result.body, next_batch: nextBatch.toString() }, nextBatch };
}

/** Streams whose facts never appear in a room section (nor add or drop a room): presence, to-device, device lists. */
const ROOMLESS_STREAMS: ReadonlySet<StreamName> = new Set<StreamName>(['presence', 'to_device', 'device_lists']);

/** An incremental, not full_state, sync where only room-less streams moved between `since` and `to`, if any. */
function roomsUnchanged(request: SyncRequest, to: StreamToken): boolean {
  const since = request.since;
  if (since === undefined || request.fullState) return false;
  return STREAM_NAMES.every((stream) => ROOMLESS_STREAMS.has(stream) || to.get(stream) <= since.get(stream));
}

/** The user's rooms as /sync classified them, with what deciding what the user may see in them needs. */
interface UserRooms {
  classified: ClassifiedRoom[];
  joined: ClassifiedRoom[];
  left: ClassifiedRoom[];
  ignored: ReadonlySet<string>;
  visibility: Map<string, RoomVisibility>;
  /** The user's push rules, read with the rooms, needed by the unread counts. */
  rules: Promise<StoredPushRules | null>;
}

/** What the timelines and state sections of a set of rooms depend on. */
interface RoomsScope {
  userId: string;
  since: number | undefined;
  upTo: number;
  limit: number;
  timelineFilter: RoomEventFilter | undefined;
  stateFilter: RoomEventFilter | undefined;
  lazy: boolean;
  stateAfter: boolean;
  ignored: ReadonlySet<string>;
  visibility: ReadonlyMap<string, RoomVisibility>;
}

/** The timelines and state sections of a set of rooms (SyncService.roomsPart). */
interface RoomsPart {
  timelines: Promise<Map<string, Timeline>>;
  state: Promise<{ state: Map<string, StoredEvent[]>; changes: Map<string, StoredEvent[]>; reads: FormatReads }>;
}

/** The parts of a filter a room's part depends on, as text (kept per filter object: filters are kept parsed). */
const filterKeys = new WeakMap<Filter, string>();
function filterKey(filter: Filter): string {
  let key = filterKeys.get(filter);
  if (key === undefined) {
    key = JSON.stringify([filter.room?.timeline ?? null, filter.room?.state ?? null]);
    filterKeys.set(filter, key);
  }
  return key;
}

interface Summaries {
  counts: Map<string, MemberCounts>;
  heroes: Map<string, string[]>;
}

/** The summaries of no rooms (never changed: summaries are only read). */
const NO_SUMMARIES: Promise<Summaries> = Promise.resolve({ counts: new Map(), heroes: new Map() });

/**
 * Each room's state section: the state as read, with the lazy-loaded members it does not carry itself, under the
 * state filter. `changes` is the delta as read, which decides summaries.
 */
function assembleState(
  rooms: readonly ClassifiedRoom[],
  read: { full: ReadonlyMap<string, StoredEvent[]>; changes: Map<string, StoredEvent[]> },
  members: ReadonlyMap<string, readonly MemberState[]>,
  stateFilter: RoomEventFilter | undefined,
): { state: Map<string, StoredEvent[]>; changes: Map<string, StoredEvent[]> } {
  const state = new Map<string, StoredEvent[]>();
  for (const r of rooms) {
    let events = (r.full ? read.full : read.changes).get(r.roomId) ?? [];
    const have = new Set(events.filter((e) => e.type === 'm.room.member').map((e) => e.stateKey));
    const added = (members.get(r.roomId) ?? []).map((m) => m.event).filter((e) => !have.has(e.stateKey));
    if (added.length > 0) events = [...events, ...added].sort((a, b) => a.streamOrdering - b.streamOrdering);
    state.set(r.roomId, events.filter((e) => matchesEventFilter(stateFilter, { type: e.type, sender: e.sender, roomId: r.roomId, content: e.pdu['content'] ?? {} })));
  }
  return { state, changes: read.changes };
}

/** What the user may see in each room, from the histories of their membership and of history_visibility. */
function visibilities(
  rooms: readonly ClassifiedRoom[],
  hv: ReadonlyMap<string, readonly { streamOrdering: number; value: string | null }[]>,
): Map<string, RoomVisibility> {
  return new Map(
    rooms.map((r) => [
      r.roomId,
      new RoomVisibility(
        (hv.get(r.roomId) ?? []).map((v) => ({ streamOrdering: v.streamOrdering, value: historyVisibility(v.value) })),
        r.history.map((h) => ({ streamOrdering: h.streamOrdering, value: h.membership })),
      ),
    ]),
  );
}

function versionOf(id: string): RoomVersion {
  const version = getRoomVersion(id);
  if (!version) throw new Error(`room version ${id} is not supported`);
  return version;
}

function historyVisibility(value: string | null): HistoryVisibility {
  return value === 'world_readable' || value === 'invited' || value === 'joined' || value === 'shared' ? value : 'shared';
}

function timelineStart(timeline: Timeline | undefined, upper: number): number {
  const first = timeline?.events[0];
  return first ? first.streamOrdering - 1 : upper;
}

function hasMemberEvent(events: readonly StoredEvent[] | undefined): boolean {
  return (events ?? []).some((e) => e.type === 'm.room.member');
}

function senders(timeline: Timeline | undefined): Set<string> {
  return new Set((timeline?.events ?? []).map((e) => e.sender));
}

/**
 * The response made of its room sections and the rest: next_batch, the top-level account data and presence under their
 * filters, the to-device messages and device lists; empty when none of these nor any room section has anything.
 */
function response(
  filter: Filter,
  to: StreamToken,
  data: UserDataResponse,
  rooms: { join: JsonObject; invite: JsonObject; leave: JsonObject; knock: JsonObject },
): SyncResult {
  // Without positions of its own, `to` itself: the members woken together then share its text.
  const nextBatch = Object.keys(data.positions).length === 0 ? to : StreamToken.of({ ...to.toRecord(), ...data.positions });
  const accountData = filterJsonEvents(filter.account_data, data.accountData);
  const presence = filterJsonEvents(filter.presence, data.presence);
  const body: JsonObject = {
    next_batch: nextBatch.toString(),
    rooms,
    account_data: { events: accountData },
    presence: { events: presence },
    to_device: { events: data.toDevice },
    device_lists: { changed: data.deviceLists.changed, left: data.deviceLists.left },
    device_one_time_keys_count: data.oneTimeKeysCount,
  };
  const empty =
    Object.values(rooms).every((section) => Object.keys(section).length === 0) &&
    accountData.length === 0 &&
    presence.length === 0 &&
    isQuiet(data);
  return { body, empty, nextBatch };
}

/** Nothing top-level that is not filtered (room data counts through the rooms it puts in the response). */
function isQuiet(data: UserDataResponse): boolean {
  return data.toDevice.length === 0 && data.deviceLists.changed.length === 0 && data.deviceLists.left.length === 0;
}
