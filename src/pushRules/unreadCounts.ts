// /sync's unread_notifications: the user's push rules evaluated over each room's unread events (after their read
// receipt or their join). Room facts (member count, power levels, display name) are read when counts are computed
// afresh, as they are then, not as they were when each event was sent. Every read goes through a batch
// (../sync/batch.ts), so the responses woken together by one message share their statements.
//
// Counts carried forward. A client's next sync asks about the same rooms from the same read point up to a later
// position, so each (user, room) keeps its last answer: `after`, `upTo`, how many events were evaluated, the counts,
// what the evaluation depended on besides the events, and the room facts it used. The next question, from the same
// `after` up to a later `upTo`, reads and evaluates only the events in (cached upTo, new upTo] and adds them, with the
// same room facts; up to the same `upTo` it reads nothing. Everything else computes the counts afresh and replaces the
// entry:
//  - another `after` (a read receipt moved, the user joined again): the events counted are others;
//  - other push rules (the push_rules row's stream id, which every change moves): other outcomes for every event;
//  - another ignored-user list: other events counted; another othersMembership flag follows from other rules;
//  - a state change in the new range (a state event, or a state_history row, which a federated event's state
//    resolution writes): member count, power levels and display name are what conditions read, and the cached
//    events were evaluated with the old ones;
//  - an m.room.redaction in the new range, by anyone: it may remove an event already counted (its target leaves the
//    unread events), and only a full read can tell;
//  - more than the cap evaluated in all (or a read a limit may have cut): the counts are those of the newest
//    MAX_EVALUATED_PER_ROOM events, which only a full read finds.
// So an answer is the one a full computation gives, with the room facts read when the counts were last computed afresh:
// a state change since is in a later range, and forces the full computation when that range is counted. The entries
// are bounded; the least recently used go.
import { handled } from '../promises.ts';
import { userPowerLevel } from '../protocol/authRules.ts';
import type { RoomEvent } from '../protocol/events.ts';
import { isJsonObject, type JsonObject } from '../protocol/json.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { Queryable } from '../storage/database.ts';
import { PushRulesStore, type RoomPushFacts, type StoredPushRules, type UnreadEvents, type UnreadRange } from '../storage/pushRules.ts';
import { Batch, keyOf, partsOf } from '../sync/batch.ts';
import { evaluate, type PushContext } from './evaluate.ts';
import { MASTER_RULE_ID, type Ruleset } from './rules.ts';
import { buildRuleset, parseUserPushRules, type UserPushRules } from './userRules.ts';

export interface UnreadCounts {
  notifications: number;
  highlights: number;
}

/**
 * Only the newest events of a room are evaluated, so a room with more unread than this reports at most this many:
 * clients show such counts as "99+" anyway, and it bounds the work of each sync. Members counted together share one
 * read of the room's newest twice this many events they could count (PushRulesStore.unreadEvents), so one of them is
 * evaluated on fewer than this many, although more are unread, when more than this many of that read are not theirs to
 * count: their own messages, an ignored sender's, or another member's invite or kick.
 */
export const MAX_EVALUATED_PER_ROOM = 500;

/** (user, room) answers kept for the next sync; a few MB at most. */
const MAX_CACHED_ROOMS = 50_000;

export interface UnreadCounterOptions {
  /** Events evaluated per room at most (MAX_EVALUATED_PER_ROOM). */
  perRoom?: number;
  /** (user, room) answers kept (MAX_CACHED_ROOMS); the users' parsed rules are kept as many. */
  maxEntries?: number;
}

/** What an evaluation depended on, besides the events and the room's state. */
interface Identity {
  /** The push_rules row's stream id; 0 without a row. */
  rulesId: number;
  ignoredKey: string;
  othersMembership: boolean;
}

interface CachedCounts extends Identity {
  after: number;
  upTo: number;
  evaluated: number;
  counts: UnreadCounts;
  /** The room facts the last events were evaluated with: those of the increments after them (see above). */
  facts: EvaluationFacts;
}

/** What the conditions of push rules read besides the event: the room's facts and the user's display name in it. */
interface EvaluationFacts {
  room: RoomPushFacts;
  displayName: string | null;
}

/** One room's counting: the entry carried forward (if any), the events read and the facts to evaluate them with. */
interface Counting {
  range: UnreadRange;
  cached: CachedCounts | undefined;
  found: UnreadEvents | null;
  facts: EvaluationFacts | undefined;
}

/** No rooms to read facts of (a never-changed empty map). */
const NO_FACTS: Promise<Map<string, EvaluationFacts>> = Promise.resolve(new Map());

/** A user's rules as of one stream id; the ruleset built when first needed. */
interface UserRules {
  streamId: number;
  user: UserPushRules;
  othersMembership: boolean;
  ruleset?: Ruleset;
}

export class UnreadCounter {
  private readonly perRoom: number;
  private readonly rules: Batch<StoredPushRules | null>;
  private readonly unread: Batch<UnreadEvents>;
  private readonly facts: Batch<RoomPushFacts | null>;
  private readonly members: Batch<JsonObject | null>;
  private readonly cache: Lru<CachedCounts>;
  private readonly parsedRules: Lru<UserRules>;

  constructor(db: Queryable, options: UnreadCounterOptions = {}) {
    const store = new PushRulesStore(db);
    const perRoom = options.perRoom ?? MAX_EVALUATED_PER_ROOM;
    this.perRoom = perRoom;
    this.cache = new Lru(options.maxEntries ?? MAX_CACHED_ROOMS);
    this.parsedRules = new Lru(options.maxEntries ?? MAX_CACHED_ROOMS);
    this.rules = new Batch((userIds) => store.getMany(userIds), () => null);
    this.unread = new Batch(
      async (keys) => {
        const questions = keys.map((key) => {
          const [userId, roomId, after, upTo, others, watch, ignored] = partsOf(key);
          return {
            userId: userId as string,
            roomId: roomId as string,
            after: Number(after),
            upTo: Number(upTo),
            othersMembership: others === '1',
            watchChanges: watch === '1',
            ignored: JSON.parse(ignored as string) as string[],
          };
        });
        const found = await store.unreadEvents(questions, perRoom);
        return new Map(keys.flatMap((key, i) => (found[i] ? [[key, found[i]] as const] : [])));
      },
      () => ({ events: [], complete: true, changed: false }),
    );
    this.facts = new Batch((roomIds) => store.roomFacts(roomIds), () => null);
    this.members = new Batch(async (keys) => {
      const wanted = keys.map((key) => {
        const [roomId, userId] = partsOf(key);
        return { roomId: roomId as string, userId: userId as string };
      });
      const found = await store.ownMembers(wanted);
      return new Map(keys.map((key, i) => [key, found[i] ?? null]));
    }, () => null);
  }

  /**
   * The user's stored push rules, read now: /sync asks for them when it starts computing and hands the promise to
   * `count`, so that reading them is not one more round trip after the timelines.
   */
  storedRules(userId: string): Promise<StoredPushRules | null> {
    return this.rules.get(userId);
  }

  async count(
    userId: string,
    ranges: readonly UnreadRange[],
    ignored: readonly string[],
    stored: Promise<StoredPushRules | null> = this.storedRules(userId),
  ): Promise<Map<string, UnreadCounts>> {
    const rules = this.userRules(userId, await stored);
    const identity: Identity = { rulesId: rules.streamId, ignoredKey: JSON.stringify([...ignored].sort()), othersMembership: rules.othersMembership };
    const read = (roomId: string, after: number, upTo: number, watch: boolean) =>
      this.unread.get(keyOf(userId, roomId, after, upTo, identity.othersMembership ? 1 : 0, watch ? 1 : 0, identity.ignoredKey));

    // What can be carried forward, and the events after it; or all the unread events.
    const plans = ranges.map((range) => {
      const cached = this.cache.get(keyOf(userId, range.roomId));
      const usable = cached && cached.after === range.after && cached.upTo <= range.upTo && sameIdentity(cached, identity);
      return { range, cached: usable ? cached : undefined };
    });
    // The room facts rules read are asked for with the events (not after them): one round trip. An increment is
    // evaluated with the facts its entry was, as no state changed in it (or it is counted afresh, facts too).
    const reading = plans.filter(({ cached }) => !cached).map(({ range }) => range.roomId);
    const factsRead = reading.length > 0 ? handled(this.factsOf(userId, reading)) : NO_FACTS;
    const first = await Promise.all(
      plans.map(({ range, cached }) => {
        if (!cached) return read(range.roomId, range.after, range.upTo, false);
        return cached.upTo === range.upTo ? null : read(range.roomId, cached.upTo, range.upTo, true);
      }),
    );
    // Increments that cannot be added: read everything after all, with the room's facts as they are now.
    const work = await Promise.all(
      plans.map(({ range, cached }, i): Counting | Promise<Counting> => {
        const found = first[i] ?? null;
        if (!cached || !found || (!found.changed && found.complete && cached.evaluated + found.events.length <= this.perRoom)) {
          return { range, cached, found, facts: cached?.facts };
        }
        return Promise.all([read(range.roomId, range.after, range.upTo, false), this.factsOf(userId, [range.roomId])]).then(([all, facts]) => ({
          range,
          cached: undefined,
          found: all,
          facts: facts.get(range.roomId),
        }));
      }),
    );
    const factsNow = await factsRead;

    const counts = new Map<string, UnreadCounts>();
    for (const { range, cached, found, facts: carried } of work) {
      const key = keyOf(userId, range.roomId);
      const events = found?.events ?? [];
      const facts = carried ?? factsNow.get(range.roomId);
      let result: UnreadCounts = cached?.counts ?? { notifications: 0, highlights: 0 };
      if (events.length > 0) {
        const added = facts ? this.evaluateAll(userId, rules, events, facts) : null;
        if (!added) {
          // Not a room whose rules can be evaluated: no counts, as the full computation gives.
          this.cache.delete(key);
          continue;
        }
        result = { notifications: result.notifications + added.notifications, highlights: result.highlights + added.highlights };
      }
      const evaluated = (cached?.evaluated ?? 0) + events.length;
      // A full read cut short by a shared read's limit is not what the user's own read gives: not kept.
      if (facts && (cached || found?.complete || events.length >= this.perRoom)) {
        this.cache.set(key, { ...identity, after: range.after, upTo: range.upTo, evaluated, counts: result, facts });
      } else {
        this.cache.delete(key);
      }
      if (evaluated > 0) counts.set(range.roomId, result);
    }
    return counts;
  }

  /** The facts of these rooms the user's rules are evaluated with (a room whose facts are missing is left out). */
  private async factsOf(userId: string, roomIds: readonly string[]): Promise<Map<string, EvaluationFacts>> {
    const [rooms, members] = await Promise.all([
      Promise.all(roomIds.map((roomId) => this.facts.get(roomId))),
      Promise.all(roomIds.map((roomId) => this.members.get(keyOf(roomId, userId)))),
    ]);
    const out = new Map<string, EvaluationFacts>();
    roomIds.forEach((roomId, i) => {
      const room = rooms[i];
      const member = members[i];
      const displayName = isJsonObject(member?.['content']) ? member['content']['displayname'] : undefined;
      if (room) out.set(roomId, { room, displayName: typeof displayName === 'string' ? displayName : null });
    });
    return out;
  }

  /** The user's rules as of the stored stream id, parsed once per change. */
  private userRules(userId: string, stored: StoredPushRules | null): UserRules {
    const streamId = stored?.streamId ?? 0;
    const known = this.parsedRules.get(userId);
    if (known && known.streamId === streamId) return known;
    const user = parseUserPushRules(stored?.rules ?? null);
    // With the server-default override rules as they are (the master rule aside), another member's membership change
    // meets .m.rule.member_event and never notifies; such events are most of a busy room's, so they are not read.
    const defaultOverrides =
      user.rules.override.length === 0 && Object.keys(user.defaults).every((key) => !key.startsWith('override/') || key === `override/${MASTER_RULE_ID}`);
    const parsed: UserRules = { streamId, user, othersMembership: !defaultOverrides };
    this.parsedRules.set(userId, parsed);
    return parsed;
  }

  /** The counts of these events, or null for a room whose version is unknown. */
  private evaluateAll(userId: string, rules: UserRules, events: readonly JsonObject[], { room, displayName }: EvaluationFacts): UnreadCounts | null {
    const version = getRoomVersion(room.roomVersion);
    if (!version) return null;
    const ruleset = (rules.ruleset ??= buildRuleset(userId, rules.user));
    const notifications = isJsonObject(room.powerLevels?.['content']) ? room.powerLevels['content']['notifications'] : undefined;
    const result: UnreadCounts = { notifications: 0, highlights: 0 };
    for (const event of events) {
      const sender = typeof event['sender'] === 'string' ? event['sender'] : '';
      const context: PushContext = {
        userId,
        displayName,
        memberCount: room.joinedMembers,
        senderPowerLevel: userPowerLevel(sender, room.create as RoomEvent | undefined, room.powerLevels as RoomEvent | undefined, version),
        ...(isJsonObject(notifications) ? { notificationPowerLevels: notifications } : {}),
      };
      const outcome = evaluate(ruleset, event, context);
      // A highlight tweak without `notify` generates no notification, so it is not an unread highlight either.
      if (outcome?.notify) {
        result.notifications++;
        if (outcome.highlight) result.highlights++;
      }
    }
    return result;
  }
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.rulesId === b.rulesId && a.ignoredKey === b.ignoredKey && a.othersMembership === b.othersMembership;
}

/** A Map in least recently used order: a read moves the key to the end, the first key goes when full. */
class Lru<V> {
  private readonly max: number;
  private readonly entries = new Map<string, V>();

  constructor(max: number) {
    this.max = max;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
