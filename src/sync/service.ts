// GET /sync (Client-Server API "Syncing"): one response built between `since` and `to` (the server's positions when
// the computation starts), and the long poll around it.
//
// Rooms (this file, with ./memberships.ts, ./timeline.ts, ./format.ts): for each joined room the newest visible
// events after `since` (all of history for a new join) with a truthful `limited` and a /messages token before the
// first one; the state at the START of that timeline: in full (initial sync, new join, full_state) as the room's
// state at that position, otherwise only what changed between `since` and that position, both read from the state
// history rather than by replaying events. Invites and knocks with stripped state, left rooms with their timeline
// up to the leave. Everything else (account data, receipts, typing, presence, to-device, device lists) comes from
// the per-user data streams (./userData.ts) and is filtered here.
import type { JsonObject } from '../protocol/json.ts';
import { getRoomVersion, type RoomVersion } from '../protocol/roomVersions.ts';
import type { Notifier } from '../notifier.ts';
import { RoomVisibility, type HistoryVisibility } from '../rooms/visibility.ts';
import type { Database } from '../storage/database.ts';
import { EventStore, type StoredEvent } from '../storage/events.ts';
import { STREAM_NAMES, type StreamName } from '../streams/names.ts';
import { StreamToken } from '../streams/token.ts';
import { excludesEveryEvent, filterJsonEvents, matchesEventFilter, matchesRoom, type Filter } from './filter.ts';
import { SyncEventFormatter } from './format.ts';
import { Limiter } from './limiter.ts';
import { classifyRoom, mergeHistory, type ClassifiedRoom } from './memberships.ts';
import { STRIPPED_STATE_TYPES, strippedState } from './strippedState.ts';
import { SyncReads } from './reads.ts';
import { SyncStore } from './syncStore.ts';
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
  return StreamToken.of({ events: position }).toString();
}

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
    let result = await this.respond(request, to, hidden);
    // The token the wait starts from: past `to` when wake-ups by hidden streams alone were skipped.
    let waitFrom = to;
    for (;;) {
      const remaining = deadline - this.now();
      if (!request.since || request.fullState || !result.empty || remaining <= 0 || signal?.aborted) return skippedPast(result, to, waitFrom);
      const waited = await this.notifier.waitForEvents(request.userId, waitFrom, remaining, signal);
      if (waited.reason !== 'advanced') return skippedPast(result, to, waitFrom);
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

  /** The response between request.since and `to`. */
  private async compute(request: SyncRequest, to: StreamToken, hidden: ReadonlySet<StreamName>): Promise<SyncResult> {
    if (roomsUnchanged(request, to)) return this.withoutRooms(request, to, hidden);
    const { userId, filter } = request;
    const roomFilter = filter.room;
    const upTo = to.get('events');
    const since = request.since?.get('events');
    // Independent reads, in parallel: one round trip of latency on PostgreSQL. The push rules, needed last, go too.
    const rules = this.unread.storedRules(userId);
    rules.catch(() => undefined);
    const [rows, ignored, histories, hv] = await Promise.all([
      this.reads.localMemberships(userId),
      this.userData.ignoredUsers(userId),
      this.reads.membershipHistory(userId),
      this.reads.historyVisibility(userId),
    ]);
    const candidates = rows.filter((r) => matchesRoom(roomFilter, r.roomId));
    const classified: ClassifiedRoom[] = [];
    for (const row of candidates) {
      const room = classifyRoom(row, mergeHistory(row, histories.get(row.roomId) ?? []), {
        since,
        upTo,
        fullState: request.fullState,
        includeLeave: roomFilter?.include_leave === true,
      });
      if (room) classified.push(room);
    }
    const joined = classified.filter((r) => r.section === 'join');
    const left = classified.filter((r) => r.section === 'leave');
    const versions = new Map(classified.map((r) => [r.roomId, versionOf(r.roomVersion)]));

    const collected = this.userData.collect({
      userId,
      deviceId: request.deviceId,
      ...(request.since ? { since: request.since } : {}),
      to,
      joinedRoomIds: joined.map((r) => r.roomId),
      newlyJoinedRoomIds: joined.filter((r) => since === undefined || r.newlyJoined).map((r) => r.roomId),
      newlyLeftRoomIds: left.filter((r) => r.newlyLeft).map((r) => r.roomId),
      hidden,
    });
    const readUpTo = joined.length > 0 ? this.userData.readUpTo(userId, joined.map((r) => r.roomId)) : Promise.resolve(new Map<string, number>());
    // Awaited further down; their rejections are handled there.
    collected.catch(() => undefined);
    readUpTo.catch(() => undefined);

    const timelineRooms = [...joined, ...left];
    const visibility = visibilities(timelineRooms, hv);
    const timelineFilter = roomFilter?.timeline;
    const limit = Math.min(timelineFilter?.limit ?? DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT);
    const ranges = timelineRooms.map((r) => ({
      roomId: r.roomId,
      after: since === undefined || r.newlyJoined ? 0 : since,
      upTo: r.section === 'leave' ? r.membershipOrdering : upTo,
    }));
    const timelines = await loadTimelines(this.reads, ranges, limit, (e) => {
      // State events of ignored users still arrive, or the client's room state would go wrong (as Synapse and /messages).
      if (e.stateKey === null && ignored.has(e.sender)) return false;
      if (!(visibility.get(e.roomId)?.canSee(e, userId) ?? false)) return false;
      return matchesEventFilter(timelineFilter, { type: e.type, sender: e.sender, roomId: e.roomId, content: e.pdu['content'] ?? {} });
    });
    // The position the state section describes: the start of the timeline, or its end for use_state_after.
    const start = new Map(ranges.map((r) => [r.roomId, request.stateAfter ? r.upTo : timelineStart(timelines.get(r.roomId), r.upTo)]));
    const stateKey = request.stateAfter === 'unstable' ? 'org.matrix.msc4222.state_after' : request.stateAfter === 'stable' ? 'state_after' : 'state';

    const stateFilter = roomFilter?.state;
    const lazy = stateFilter?.lazy_load_members === true;
    const full = timelineRooms.filter((r) => r.full);
    const partial = timelineRooms.filter((r) => !r.full);
    const [fullState, changes] = await Promise.all([
      this.store.stateAt(
        full.map((r) => ({ roomId: r.roomId, at: start.get(r.roomId) ?? upTo })),
        { withoutMembers: lazy },
      ),
      this.store.stateChanges(partial.map((r) => ({ roomId: r.roomId, after: since ?? 0, upTo: start.get(r.roomId) ?? upTo }))),
    ]);

    // Summaries where the whole state is sent or membership changed.
    const summaryRooms = joined
      .filter((r) => r.full || hasMemberEvent(timelines.get(r.roomId)?.events) || hasMemberEvent(changes.get(r.roomId)))
      .map((r) => r.roomId);
    const summarised = new Set(summaryRooms);
    const [counts, heroes] = await Promise.all([this.store.memberCounts(summaryRooms), this.store.heroes(userId, summaryRooms)]);

    const state = new Map<string, StoredEvent[]>();
    for (const r of full) state.set(r.roomId, fullState.get(r.roomId) ?? []);
    for (const r of partial) state.set(r.roomId, changes.get(r.roomId) ?? []);
    if (lazy) {
      // Member events: with full state those of the timeline's senders, the user and the heroes; with a delta the
      // timeline senders' that it does not carry (always sent again: redundancy is not tracked).
      const wanted = timelineRooms.map((r) => {
        const needed = senders(timelines.get(r.roomId));
        if (r.full) {
          needed.add(userId);
          for (const h of heroes.get(r.roomId) ?? []) needed.add(h);
        }
        const have = new Set((state.get(r.roomId) ?? []).filter((e) => e.type === 'm.room.member').map((e) => e.stateKey));
        return { roomId: r.roomId, at: start.get(r.roomId) ?? upTo, userIds: [...needed].filter((u) => !have.has(u)) };
      });
      for (const [roomId, members] of await this.reads.membersAt(wanted)) {
        state.set(roomId, [...(state.get(roomId) ?? []), ...members].sort((a, b) => a.streamOrdering - b.streamOrdering));
      }
    }
    for (const [roomId, events] of state) {
      state.set(roomId, events.filter((e) => matchesEventFilter(stateFilter, { type: e.type, sender: e.sender, roomId, content: e.pdu['content'] ?? {} })));
    }

    const data = await collected;
    const includedJoined = joined.filter((r) => {
      if (r.full) return true;
      const roomData = data.rooms.get(r.roomId);
      return (
        (timelines.get(r.roomId)?.events.length ?? 0) > 0 ||
        (state.get(r.roomId)?.length ?? 0) > 0 ||
        filterJsonEvents(roomFilter?.ephemeral, roomData?.ephemeral ?? [], r.roomId).length > 0 ||
        filterJsonEvents(roomFilter?.account_data, roomData?.accountData ?? [], r.roomId).length > 0
      );
    });
    const includedLeft = left.filter(
      (r) => r.full || r.newlyLeft || (timelines.get(r.roomId)?.events.length ?? 0) > 0 || (state.get(r.roomId)?.length ?? 0) > 0,
    );
    // Counting and formatting read independently: in parallel.
    const counting = this.unreadCounts(userId, includedJoined, upTo, ignored, await readUpTo, rules);
    counting.catch(() => undefined);
    const formatted = await this.formatter.format(
      {
        userId,
        deviceId: request.deviceId,
        now: this.now(),
        filter,
        versionOf: (roomId) => versions.get(roomId) as RoomVersion,
        visibilityOf: (roomId) => visibility.get(roomId),
      },
      [...includedJoined, ...includedLeft].flatMap((r) => [...(timelines.get(r.roomId)?.events ?? []), ...(state.get(r.roomId) ?? [])]),
    );
    const unread = await counting;
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
    const { invite, knock } = await this.strippedRooms(classified, ignored);

    return response(filter, to, data, { join, invite, leave, knock });
  }

  /**
   * An incremental sync where no stream that can put a room in the response moved between `since` and `to` (nothing
   * at all for a woken client's next long poll; only presence for the members woken by someone coming online): no room
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
    read: ReadonlyMap<string, number>,
    rules: Promise<StoredPushRules | null>,
  ): Promise<Map<string, UnreadCounts>> {
    if (rooms.length === 0) return new Map();
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
  const nextBatch = StreamToken.of({ ...to.toRecord(), ...data.positions });
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
