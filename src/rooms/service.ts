// Rooms as the Client-Server API uses them: creating rooms, sending events, membership changes, and every read with
// the requester's visibility applied. Writes go through the RoomWriter; reads go to the EventStore.
import { randomBytes } from 'node:crypto';
import { isValidUserId, parseRoomId, parseUserId } from '../protocol/identifiers.ts';
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import { parsePowerLevel, userPowerLevel } from '../protocol/authRules.ts';
import { toRoomEvent } from '../protocol/pdu.ts';
import type { RoomVersion } from '../protocol/roomVersions.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { Database } from '../storage/database.ts';
import { EventStore, type StoredEvent } from '../storage/events.ts';
import { PostgresProfileStore } from '../storage/profiles.ts';
import { RoomAliases } from './aliases.ts';
import { toClientEvent } from './clientEvent.ts';
import { RoomError, roomForbidden, roomInvalidParam, roomNotFound } from './errors.ts';
import { RoomVisibility } from './visibility.ts';
import type { EventDraft, RoomWriter } from './writer.ts';

/** Spec v1.19: "Servers SHOULD use room version 10 as the default room version when creating new rooms." */
export const DEFAULT_ROOM_VERSION = '10';

export interface CreateRoomRequest {
  visibility?: 'public' | 'private';
  room_alias_name?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  room_version?: string;
  creation_content?: JsonObject;
  initial_state?: { type: string; state_key?: string; content: JsonObject }[];
  preset?: 'private_chat' | 'public_chat' | 'trusted_private_chat';
  is_direct?: boolean;
  power_level_content_override?: JsonObject;
}

export interface Requester {
  userId: string;
  deviceId: string;
}

export interface RoomServiceOptions {
  db: Database;
  writer: RoomWriter;
  serverName: string;
  now(): number;
  /** Users whose events `userId` ignores (m.ignored_user_list): their non-state events are never served. */
  ignoredUsers?: (userId: string) => Promise<ReadonlySet<string>>;
  /** Invites from other servers into rooms we hold no state of: leaving one rejects it through the inviting server. */
  remoteInvites?: RemoteInvites;
}

export interface RemoteInvites {
  /** Non-null when the user's membership in the room is such an invite. */
  remoteInvite(userId: string, roomId: string): Promise<unknown>;
  reject(userId: string, roomId: string, reason?: string): Promise<void>;
}

export interface MessagesQuery {
  dir: 'b' | 'f';
  from?: number;
  to?: number;
  limit: number;
  filter?: RoomEventFilter;
}

export interface RoomEventFilter {
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
  lazy_load_members?: boolean;
  contains_url?: boolean;
}

export class RoomService {
  readonly events: EventStore;
  /** Local room aliases (src/rooms/aliases.ts). */
  readonly aliases: RoomAliases;
  private readonly writer: RoomWriter;
  private readonly serverName: string;
  private readonly now: () => number;
  private readonly profiles: PostgresProfileStore;
  private readonly ignoredUsers: (userId: string) => Promise<ReadonlySet<string>>;
  private readonly remoteInvites: RemoteInvites | undefined;

  constructor(opts: RoomServiceOptions) {
    this.ignoredUsers = opts.ignoredUsers ?? (async () => new Set());
    this.remoteInvites = opts.remoteInvites;
    this.events = new EventStore(opts.db);
    this.profiles = new PostgresProfileStore(opts.db);
    this.writer = opts.writer;
    this.serverName = opts.serverName;
    this.now = opts.now;
    this.aliases = new RoomAliases({ db: opts.db, events: this.events, serverName: opts.serverName, now: opts.now });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Writing.

  async createRoom(creator: string, req: CreateRoomRequest): Promise<string> {
    const versionId = req.room_version ?? DEFAULT_ROOM_VERSION;
    const version = getRoomVersion(versionId);
    if (!version) throw new RoomError(400, 'M_UNSUPPORTED_ROOM_VERSION', `Room version ${versionId} is not supported`);
    const alias = req.room_alias_name !== undefined ? await this.aliases.aliasForNewRoom(req.room_alias_name) : undefined;
    const invites = req.invite ?? [];
    for (const u of invites) {
      if (!isValidUserId(u)) throw roomInvalidParam(`invite: ${u} is not a valid user id`);
    }
    const preset = req.preset ?? (req.visibility === 'public' ? 'public_chat' : 'private_chat');

    const createContent: JsonObject = { ...(req.creation_content ?? {}) };
    delete createContent['creator'];
    delete createContent['room_version'];
    createContent['room_version'] = version.id;
    if (!version.implicitRoomCreator) createContent['creator'] = creator;
    if (version.privilegedCreators && preset === 'trusted_private_chat') {
      const extra = Array.isArray(createContent['additional_creators']) ? createContent['additional_creators'] : [];
      createContent['additional_creators'] = [...new Set([...extra.filter((u): u is string => typeof u === 'string'), ...invites])];
    }
    const extraCreators = createContent['additional_creators'];
    if (extraCreators !== undefined && (!Array.isArray(extraCreators) || !extraCreators.every((u) => typeof u === 'string' && isValidUserId(u)))) {
      throw new RoomError(400, 'M_BAD_JSON', 'creation_content.additional_creators must be a list of user ids');
    }

    const users: JsonObject = {};
    if (!version.privilegedCreators) {
      users[creator] = 100;
      if (preset === 'trusted_private_chat') for (const u of invites) users[u] = 100;
    }
    const powerLevels: JsonObject = {
      users,
      users_default: 0,
      events: {
        'm.room.name': 50,
        'm.room.power_levels': 100,
        'm.room.history_visibility': 100,
        'm.room.canonical_alias': 50,
        'm.room.avatar': 50,
        'm.room.tombstone': version.privilegedCreators ? 150 : 100,
        'm.room.server_acl': 100,
        'm.room.encryption': 100,
      },
      events_default: 0,
      state_default: 50,
      ban: 50,
      kick: 50,
      redact: 50,
      invite: preset === 'public_chat' ? 50 : 0,
      notifications: { room: 50 },
      ...(req.power_level_content_override ?? {}),
    };

    const state = (type: string, content: JsonObject, stateKey = ''): EventDraft => ({ type, sender: creator, stateKey, content });
    const drafts: EventDraft[] = [
      state('m.room.member', { membership: 'join' }, creator),
      state('m.room.power_levels', powerLevels),
      ...(alias !== undefined ? [state('m.room.canonical_alias', { alias })] : []),
      state('m.room.join_rules', { join_rule: preset === 'public_chat' ? 'public' : 'invite' }),
      state('m.room.history_visibility', { history_visibility: 'shared' }),
      state('m.room.guest_access', { guest_access: preset === 'public_chat' ? 'forbidden' : 'can_join' }),
    ];
    const replace = (draft: EventDraft) => {
      const i = drafts.findIndex((d) => d.type === draft.type && d.stateKey === draft.stateKey && d.type !== 'm.room.member');
      if (i > 1) drafts.splice(i, 1);
      drafts.push(draft);
    };
    for (const s of req.initial_state ?? []) {
      if (s.type === 'm.room.create' || (s.type === 'm.room.member' && (s.state_key ?? '') === creator)) {
        throw new RoomError(400, 'M_INVALID_ROOM_STATE', `initial_state may not contain ${s.type}`);
      }
      replace(state(s.type, s.content, s.state_key ?? ''));
    }
    if (req.name !== undefined) replace(state('m.room.name', { name: req.name }));
    if (req.topic !== undefined) {
      replace(state('m.room.topic', { topic: req.topic, 'm.topic': [{ body: req.topic, mimetype: 'text/plain' }] }));
    }
    for (const u of invites) {
      drafts.push(state('m.room.member', { membership: 'invite', ...(req.is_direct ? { is_direct: true } : {}) }, u));
    }

    const creatorProfile = await this.memberProfile(creator);
    const creatorJoin = drafts[0];
    if (creatorJoin) creatorJoin.content = { ...creatorProfile, ...creatorJoin.content };
    const roomId = version.roomIdFromCreateEvent ? undefined : `!${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}:${this.serverName}`;
    try {
      const created = await this.writer.createRoom(
        { ...(roomId !== undefined ? { roomId } : {}), version, creator, isPublic: req.visibility === 'public' },
        () => drafts,
        createContent,
      );
      if (alias !== undefined) await this.aliases.addForNewRoom(alias, created.roomId, creator);
      return created.roomId;
    } catch (error) {
      if (error instanceof RoomError && error.errcode === 'M_FORBIDDEN') {
        throw new RoomError(400, 'M_INVALID_ROOM_STATE', `The initial state is not allowed: ${error.message}`);
      }
      throw error;
    }
  }

  /** Sends a message event with the device's txn id; the same txn id gives back the same event id. */
  async send(requester: Requester, roomId: string, type: string, content: JsonObject, txnId: string, ts?: number): Promise<string> {
    // The writer looks the txn id up (once per batch) and answers an unknown room with M_FORBIDDEN.
    const persisted = await this.writer.submit(roomId, {
      type,
      sender: requester.userId,
      content,
      txn: { deviceId: requester.deviceId, txnId },
      ...(ts !== undefined ? { originServerTs: ts } : {}),
    });
    return persisted.eventId;
  }

  async sendState(requester: Requester, roomId: string, type: string, stateKey: string, content: JsonObject, ts?: number): Promise<string> {
    await this.requireRoom(roomId);
    // m.room.member through /state is allowed (clients set their per-room profile this way); the auth rules decide.
    if (type === 'm.room.create') throw roomForbidden('The create event cannot be changed');
    if (type === 'm.room.canonical_alias' && stateKey === '') await this.aliases.checkCanonicalAlias(roomId, content);
    const persisted = await this.writer.submit(roomId, {
      type,
      sender: requester.userId,
      stateKey,
      content,
      ...(ts !== undefined ? { originServerTs: ts } : {}),
    });
    return persisted.eventId;
  }

  async redact(requester: Requester, roomId: string, eventId: string, txnId: string, reason?: string): Promise<string> {
    const existing = await this.events.eventIdForTxn(requester.userId, requester.deviceId, txnId);
    if (existing !== null) return existing;
    const room = await this.requireRoom(roomId);
    const target = await this.events.getEvent(eventId);
    if (target && target.roomId === roomId && target.sender !== requester.userId) {
      // From room version 3 the auth rules leave this to the server applying the redaction; refuse it up front.
      const v = this.version(room.version);
      const [create, pl] = await Promise.all([
        this.events.currentStateEvent(roomId, 'm.room.create', ''),
        this.events.currentStateEvent(roomId, 'm.room.power_levels', ''),
      ]);
      const asRoomEvent = (e: StoredEvent | null) => (e ? toRoomEvent(e.pdu, v, { validate: false, eventId: e.eventId }) : undefined);
      const plEvent = asRoomEvent(pl);
      const level = userPowerLevel(requester.userId, asRoomEvent(create), plEvent, v);
      const needed = parsePowerLevel(plEvent?.content['redact'], v) ?? 50;
      if (level < needed) throw roomForbidden(`Your power level ${level} is below ${needed}, needed to redact others' events`);
    }
    const persisted = await this.writer.submit(roomId, {
      type: 'm.room.redaction',
      sender: requester.userId,
      content: reason !== undefined ? { reason } : {},
      redacts: eventId,
      txn: { deviceId: requester.deviceId, txnId },
    });
    return persisted.eventId;
  }

  async join(userId: string, roomId: string, reason?: string): Promise<void> {
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomNotFound(`No known room ${roomId} (joining rooms on other servers is not supported yet)`);
    const current = await this.events.localMembership(userId, roomId);
    if (current?.membership === 'join') return;
    await this.membership(userId, roomId, userId, 'join', reason, await this.memberProfile(userId));
  }

  /** displayname and avatar_url from the user's global profile, for their member events. */
  private async memberProfile(userId: string): Promise<JsonObject> {
    const profile = await this.profiles.getProfile(userId);
    const out: JsonObject = {};
    if (typeof profile['displayname'] === 'string') out['displayname'] = profile['displayname'];
    if (typeof profile['avatar_url'] === 'string') out['avatar_url'] = profile['avatar_url'];
    return out;
  }

  /** Knocking (room versions 7+ with join_rule knock or knock_restricted): the auth rules decide. */
  async knock(userId: string, roomId: string, reason?: string): Promise<void> {
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomNotFound(`No known room ${roomId} (knocking on rooms on other servers is not supported yet)`);
    if (!this.version(room.version).knockJoinRule) throw roomForbidden(`Room version ${room.version} does not allow knocking`);
    await this.membership(userId, roomId, userId, 'knock', reason, await this.memberProfile(userId));
  }

  async invite(userId: string, roomId: string, target: string, reason?: string): Promise<void> {
    this.requireUserId(target);
    await this.requireRoom(roomId);
    await this.membership(userId, roomId, target, 'invite', reason);
  }

  async leave(userId: string, roomId: string, reason?: string): Promise<void> {
    await this.requireRoom(roomId);
    if (this.remoteInvites && (await this.remoteInvites.remoteInvite(userId, roomId)) !== null) {
      return this.remoteInvites.reject(userId, roomId, reason);
    }
    const current = await this.events.currentStateEvent(roomId, 'm.room.member', userId);
    const membership = current?.pdu['content'] && isJsonObject(current.pdu['content']) ? current.pdu['content']['membership'] : undefined;
    if (membership === 'leave') return;
    if (membership === undefined) throw roomForbidden(`${userId} is not in the room`);
    await this.membership(userId, roomId, userId, 'leave', reason);
  }

  async kick(userId: string, roomId: string, target: string, reason?: string): Promise<void> {
    this.requireUserId(target);
    await this.requireRoom(roomId);
    await this.membership(userId, roomId, target, 'leave', reason);
  }

  async ban(userId: string, roomId: string, target: string, reason?: string): Promise<void> {
    this.requireUserId(target);
    await this.requireRoom(roomId);
    await this.membership(userId, roomId, target, 'ban', reason);
  }

  async unban(userId: string, roomId: string, target: string, reason?: string): Promise<void> {
    this.requireUserId(target);
    await this.requireRoom(roomId);
    const current = await this.events.currentStateEvent(roomId, 'm.room.member', target);
    const membership = current && isJsonObject(current.pdu['content']) ? current.pdu['content']['membership'] : undefined;
    if (membership !== 'ban') throw roomForbidden(`${target} is not banned`);
    await this.membership(userId, roomId, target, 'leave', reason);
  }

  async forget(userId: string, roomId: string): Promise<void> {
    const current = await this.events.localMembership(userId, roomId);
    if (current && (current.membership === 'join' || current.membership === 'invite' || current.membership === 'knock')) {
      throw new RoomError(400, 'M_UNKNOWN', `User ${userId} is in room ${roomId}`);
    }
    if (current) await this.writer.forget(userId, roomId, current.membership === 'ban' ? 'ban' : 'leave');
  }

  private async membership(sender: string, roomId: string, target: string, membership: string, reason?: string, profile: JsonObject = {}): Promise<void> {
    const content: JsonObject = { ...profile, membership };
    if (reason !== undefined) content['reason'] = reason;
    await this.writer.submit(roomId, { type: 'm.room.member', sender, stateKey: target, content });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reading.

  async joinedRooms(userId: string): Promise<string[]> {
    return this.events.joinedRooms(userId);
  }

  /**
   * The state a user may read: the current state while joined (or when the room is world_readable), the state when
   * they left for a former member, else M_FORBIDDEN.
   */
  async readableState(userId: string, roomId: string): Promise<{ state: StoredEvent[]; version: RoomVersion }> {
    const { version, at } = await this.stateAccess(userId, roomId);
    const state = at === 'current' ? await this.events.currentState(roomId) : await this.events.stateAt(roomId, at);
    return { state, version };
  }

  async stateEvent(userId: string, roomId: string, type: string, stateKey: string): Promise<StoredEvent> {
    const { at } = await this.stateAccess(userId, roomId);
    const event =
      at === 'current' ? await this.events.currentStateEvent(roomId, type, stateKey) : await this.events.stateEventAt(roomId, type, stateKey, at);
    if (!event) throw roomNotFound(`No ${type} state event with state key "${stateKey}"`);
    return event;
  }

  private async stateAccess(userId: string, roomId: string): Promise<{ version: RoomVersion; at: number | 'current' }> {
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomForbidden(`You aren't a member of the room and weren't previously a member of the room`);
    const version = this.version(room.version);
    const member = await this.events.localMembership(userId, roomId);
    if (member && !member.forgotten) {
      if (member.membership === 'join') return { version, at: 'current' };
      if (member.membership === 'leave' || member.membership === 'ban') {
        const visibility = await RoomVisibility.load(this.events, roomId, userId);
        // Only a former member: one who was joined before leaving.
        if (visibility.everMember && wasJoined(await this.events.stateKeyHistory(roomId, 'm.room.member', userId))) {
          return { version, at: member.streamOrdering };
        }
      }
    }
    const hv = await this.events.currentStateEvent(roomId, 'm.room.history_visibility', '');
    const content = hv?.pdu['content'];
    if (isJsonObject(content) && content['history_visibility'] === 'world_readable') return { version, at: 'current' };
    throw roomForbidden(`You aren't a member of the room and weren't previously a member of the room`);
  }

  async members(
    userId: string,
    roomId: string,
    query: { at?: number; membership?: string; notMembership?: string },
  ): Promise<{ events: StoredEvent[]; version: RoomVersion }> {
    const { version, at } = await this.stateAccess(userId, roomId);
    let limit = at;
    if (query.at !== undefined) limit = limit === 'current' ? query.at : Math.min(limit, query.at);
    const state = limit === 'current' ? await this.events.currentState(roomId) : await this.events.stateAt(roomId, limit);
    const events = state.filter((e) => {
      if (e.type !== 'm.room.member') return false;
      const m = isJsonObject(e.pdu['content']) ? e.pdu['content']['membership'] : undefined;
      if (query.membership !== undefined && m !== query.membership) return false;
      if (query.notMembership !== undefined && m === query.notMembership) return false;
      return true;
    });
    return { events, version };
  }

  async joinedMembers(userId: string, roomId: string): Promise<Record<string, { display_name?: string; avatar_url?: string }>> {
    const { at } = await this.stateAccess(userId, roomId);
    if (at !== 'current') throw roomForbidden('You are not joined to the room');
    const state = await this.events.currentState(roomId);
    const joined: Record<string, { display_name?: string; avatar_url?: string }> = {};
    for (const e of state) {
      const c = e.pdu['content'];
      if (e.type !== 'm.room.member' || e.stateKey === null || !isJsonObject(c) || c['membership'] !== 'join') continue;
      joined[e.stateKey] = {
        ...(typeof c['displayname'] === 'string' ? { display_name: c['displayname'] } : {}),
        ...(typeof c['avatar_url'] === 'string' ? { avatar_url: c['avatar_url'] } : {}),
      };
    }
    return joined;
  }

  /** One event, if the user may see it; otherwise (or unknown) 404 M_NOT_FOUND, as the spec asks. */
  async event(requester: Requester, roomId: string, eventId: string): Promise<JsonObject> {
    const room = await this.events.getRoom(roomId);
    const event = room ? await this.events.getEvent(eventId) : null;
    if (!room || !event || event.roomId !== roomId) throw roomNotFound('Event not found.');
    const visibility = await RoomVisibility.load(this.events, roomId, requester.userId);
    const member = await this.events.localMembership(requester.userId, roomId);
    if (member?.forgotten || !visibility.canSee(event, requester.userId)) throw roomNotFound('Event not found.');
    if (isIgnored(event, await this.ignoredUsers(requester.userId))) throw roomNotFound('Event not found.');
    const [formatted] = await this.format(requester, this.version(room.version), [event]);
    return formatted as JsonObject;
  }

  /** A page of the timeline (GET /messages): visible events only, with the next token when there may be more. */
  async messages(
    requester: Requester,
    roomId: string,
    query: MessagesQuery,
  ): Promise<{ chunk: JsonObject[]; start: number; end?: number; state: JsonObject[] }> {
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomForbidden(`You aren't a member of the room and weren't previously a member of the room`);
    const version = this.version(room.version);
    const visibility = await RoomVisibility.load(this.events, roomId, requester.userId);
    const member = await this.events.localMembership(requester.userId, roomId);
    const current = await this.events.maxStreamOrdering();
    if ((!visibility.everMember || member?.forgotten) && visibility.visibilityAt(current) !== 'world_readable') {
      throw roomForbidden(`You aren't a member of the room and weren't previously a member of the room`);
    }
    const start = query.from ?? (query.dir === 'b' ? current : 0);
    const ignored = await this.ignoredUsers(requester.userId);
    const found: StoredEvent[] = [];
    let cursor = start;
    let more = true;
    const page = Math.min(Math.max(query.limit * 2, 20), 200);
    while (found.length < query.limit && more) {
      const rows = await this.events.roomEvents(roomId, query.dir, cursor, page, query.to);
      if (rows.length < page) more = false;
      for (const [i, e] of rows.entries()) {
        cursor = query.dir === 'b' ? e.streamOrdering - 1 : e.streamOrdering;
        if (visibility.canSee(e, requester.userId) && !isIgnored(e, ignored) && matchesFilter(e, query.filter)) found.push(e);
        if (found.length >= query.limit) {
          if (i < rows.length - 1) more = true;
          break;
        }
      }
    }
    const chunk = await this.format(requester, version, found);
    let state: JsonObject[] = [];
    if (query.filter?.lazy_load_members) {
      const senders = new Set(found.map((e) => e.sender));
      const members = await Promise.all([...senders].map((s) => this.events.currentStateEvent(roomId, 'm.room.member', s)));
      state = await this.format(requester, version, members.filter((m): m is StoredEvent => m !== null));
    }
    return { chunk, start, ...(more ? { end: cursor } : {}), state };
  }

  /** GET /context: the event, up to `limit` visible events around it, and the state at the last one returned. */
  async context(
    requester: Requester,
    roomId: string,
    eventId: string,
    limit: number,
    filter?: RoomEventFilter,
  ): Promise<{ event: JsonObject; before: JsonObject[]; after: JsonObject[]; start: number; end: number; state: JsonObject[] }> {
    const event = await this.event(requester, roomId, eventId);
    const stored = (await this.events.getEvent(eventId)) as StoredEvent;
    const beforeLimit = Math.floor(limit / 2);
    const afterLimit = limit - beforeLimit;
    const [before, after] = await Promise.all([
      beforeLimit > 0
        ? this.messages(requester, roomId, { dir: 'b', from: stored.streamOrdering - 1, limit: beforeLimit, ...(filter ? { filter } : {}) })
        : Promise.resolve({ chunk: [], start: stored.streamOrdering - 1, state: [] }),
      afterLimit > 0
        ? this.messages(requester, roomId, { dir: 'f', from: stored.streamOrdering, limit: afterLimit, ...(filter ? { filter } : {}) })
        : Promise.resolve({ chunk: [], start: stored.streamOrdering, state: [] }),
    ]);
    const lastAfter = after.chunk.at(-1);
    const lastOrdering = lastAfter ? ((await this.events.getEvent(lastAfter['event_id'] as string))?.streamOrdering ?? stored.streamOrdering) : stored.streamOrdering;
    const firstBefore = before.chunk.at(-1);
    const firstOrdering = firstBefore ? ((await this.events.getEvent(firstBefore['event_id'] as string))?.streamOrdering ?? stored.streamOrdering) : stored.streamOrdering;
    const version = this.version((await this.requireRoom(roomId)).version);
    let stateEvents = await this.events.stateAt(roomId, lastOrdering);
    if (filter?.lazy_load_members) {
      const senders = new Set([stored.sender, ...[...before.chunk, ...after.chunk].map((e) => e['sender'] as string)]);
      stateEvents = stateEvents.filter((e) => e.type !== 'm.room.member' || (e.stateKey !== null && senders.has(e.stateKey)));
    }
    return {
      event,
      before: before.chunk,
      after: after.chunk,
      start: firstOrdering - 1,
      end: lastOrdering,
      state: await this.format(requester, version, stateEvents),
    };
  }

  /** Client-format events with the requester's txn ids and the redactions that redacted them. */
  async format(requester: Requester, version: RoomVersion, events: readonly StoredEvent[]): Promise<JsonObject[]> {
    const own = events.filter((e) => e.sender === requester.userId).map((e) => e.eventId);
    const redactionIds = events.map((e) => e.redactedBy).filter((id): id is string => id !== null);
    const roomId = events[0]?.roomId;
    const stateOrderings = events.filter((e) => e.stateKey !== null).map((e) => e.streamOrdering);
    const [txnIds, redactions, replaces] = await Promise.all([
      this.events.txnIdsOf(requester.userId, requester.deviceId, own),
      this.events.getEvents(redactionIds),
      roomId !== undefined ? this.events.replacedState(roomId, stateOrderings) : Promise.resolve(new Map<string, string>()),
    ]);
    // prev_content only where the requester may see the replaced event.
    const previous = new Map<string, StoredEvent>();
    if (replaces.size > 0 && roomId !== undefined) {
      const [replaced, visibility] = await Promise.all([
        this.events.getEvents([...new Set(replaces.values())]),
        RoomVisibility.load(this.events, roomId, requester.userId),
      ]);
      for (const [id, e] of replaced) if (visibility.canSee(e, requester.userId)) previous.set(id, e);
    }
    const now = this.now();
    return events.map((e) => toClientEvent(e, version, { now, txnIds, redactions, replaces, previous }));
  }

  private async requireRoom(roomId: string): Promise<{ version: string }> {
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomForbidden(`Unknown room ${roomId}`);
    return room;
  }

  private requireUserId(userId: string): void {
    if (!parseUserId(userId).ok) throw roomInvalidParam(`${userId} is not a valid user id`);
  }

  private version(id: string): RoomVersion {
    const v = getRoomVersion(id);
    if (!v) throw new RoomError(500, 'M_UNKNOWN', `Unknown room version ${id}`);
    return v;
  }
}

/** Events of ignored users are hidden, except state events, which the room's state needs (as Synapse does). */
function isIgnored(e: StoredEvent, ignored: ReadonlySet<string>): boolean {
  return e.stateKey === null && ignored.has(e.sender);
}

function wasJoined(history: readonly { membership: string | null }[]): boolean {
  return history.some((h) => h.membership === 'join');
}

function matchesFilter(e: StoredEvent, filter: RoomEventFilter | undefined): boolean {
  if (!filter) return true;
  const match = (patterns: readonly string[], value: string) =>
    patterns.some((p) => (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : p === value));
  if (filter.types && !match(filter.types, e.type)) return false;
  if (filter.not_types && match(filter.not_types, e.type)) return false;
  if (filter.senders && !filter.senders.includes(e.sender)) return false;
  if (filter.not_senders && filter.not_senders.includes(e.sender)) return false;
  if (filter.contains_url !== undefined) {
    const c = e.pdu['content'];
    const has = isJsonObject(c) && typeof c['url'] === 'string';
    if (has !== filter.contains_url) return false;
  }
  return true;
}

/** Whether a string is a room id this server can look up (any version's grammar). */
export function isRoomId(id: string): boolean {
  return parseRoomId(id).ok || parseRoomId(id, true).ok;
}
