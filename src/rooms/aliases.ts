// Room aliases: the local alias -> room mappings of the directory API (create, resolve, delete, list), the alias
// createRoom's room_alias_name makes, and the check that m.room.canonical_alias only advertises aliases that point
// to the room. Only aliases of this server are stored or resolved; remote aliases would need the federation
// directory query, which Troupe does not make yet.
import { requiredPowerLevel, userPowerLevel } from '../protocol/authRules.ts';
import { domainOf, parseRoomAlias } from '../protocol/identifiers.ts';
import type { JsonObject, JsonValue } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import { toRoomEvent } from '../protocol/pdu.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import { PostgresRoomAliasStore, type RoomAliasStore } from '../storage/aliases.ts';
import type { Queryable } from '../storage/database.ts';
import type { EventStore, StoredEvent } from '../storage/events.ts';
import { RoomError, roomForbidden, roomInvalidParam, roomNotFound } from './errors.ts';

export interface RoomAliasesOptions {
  db: Queryable;
  events: EventStore;
  serverName: string;
  now(): number;
}

export interface ResolvedAlias {
  roomId: string;
  /** Servers that know the alias's room: ours first, then the other servers of joined members. */
  servers: string[];
}

export class RoomAliases {
  readonly store: RoomAliasStore;
  private readonly events: EventStore;
  private readonly serverName: string;
  private readonly now: () => number;

  constructor(opts: RoomAliasesOptions) {
    this.store = new PostgresRoomAliasStore(opts.db);
    this.events = opts.events;
    this.serverName = opts.serverName;
    this.now = opts.now;
  }

  /** A syntactically valid alias of any server, or 400 M_INVALID_PARAM. */
  parseAlias(alias: string): { localpart: string; serverName: string } {
    const parsed = parseRoomAlias(alias);
    if (!parsed.ok) throw roomInvalidParam(`Room alias invalid: ${parsed.reason}`);
    if (parsed.value.localpart === '') throw roomInvalidParam('Room alias invalid: the localpart is empty');
    return parsed.value;
  }

  /** A valid alias of this server, or 400 M_INVALID_PARAM (creating aliases on other servers is not possible). */
  parseLocalAlias(alias: string): string {
    const { serverName } = this.parseAlias(alias);
    if (serverName !== this.serverName) throw roomInvalidParam(`Room alias must be on this server (${this.serverName})`);
    return alias;
  }

  /** The room an alias names, or 404 M_NOT_FOUND (for remote aliases too: they cannot be resolved yet). */
  async resolve(alias: string): Promise<ResolvedAlias> {
    const { serverName } = this.parseAlias(alias);
    if (serverName !== this.serverName) {
      throw roomNotFound(`Room alias ${alias} not found (aliases of other servers cannot be resolved by this server yet)`);
    }
    const record = await this.store.getAlias(alias);
    if (!record) throw roomNotFound(`Room alias ${alias} not found.`);
    return { roomId: record.roomId, servers: await this.serversOf(record.roomId) };
  }

  /** PUT /directory/room/{alias}: the requester must be joined to the room; a taken alias is 409 M_UNKNOWN. */
  async create(userId: string, alias: string, roomId: string): Promise<void> {
    this.parseLocalAlias(alias);
    const room = await this.events.getRoom(roomId);
    if (!room) throw roomNotFound(`Room ${roomId} not found`);
    const member = await this.events.localMembership(userId, roomId);
    if (member?.membership !== 'join') throw roomForbidden('You must be joined to the room to create an alias for it');
    const created = await this.store.createAlias({ alias, roomId, creator: userId, createdTs: this.now() });
    if (!created) throw new RoomError(409, 'M_UNKNOWN', `Room alias ${alias} already exists.`);
  }

  /**
   * DELETE /directory/room/{alias}: the alias's creator, a server admin, or a joined member with the power to send
   * m.room.canonical_alias may delete it. Returns the room it pointed to.
   */
  async delete(userId: string, alias: string, serverAdmin: boolean): Promise<string> {
    const { serverName } = this.parseAlias(alias);
    const record = serverName === this.serverName ? await this.store.getAlias(alias) : null;
    if (!record) throw roomNotFound(`Room alias ${alias} not found.`);
    if (record.creator !== userId && !serverAdmin && !(await this.canSendState(userId, record.roomId, 'm.room.canonical_alias'))) {
      throw roomForbidden('You may only delete aliases you created, or those of rooms where you may change the canonical alias');
    }
    if (!(await this.store.deleteAlias(alias))) throw roomNotFound(`Room alias ${alias} not found.`);
    return record.roomId;
  }

  /** GET /rooms/{roomId}/aliases: joined members, or anyone when the room is world_readable; else 403. */
  async localAliases(userId: string, roomId: string): Promise<string[]> {
    const room = await this.events.getRoom(roomId);
    const member = room ? await this.events.localMembership(userId, roomId) : null;
    if (!room) throw roomForbidden('You are not a member of the room.');
    if (member?.membership !== 'join') {
      const hv = await this.events.currentStateEvent(roomId, 'm.room.history_visibility', '');
      // history_visibility survives redaction in every room version.
      if (hv?.pdu['content'] === undefined || !isJsonObject(hv.pdu['content']) || hv.pdu['content']['history_visibility'] !== 'world_readable') throw roomForbidden('You are not a member of the room.');
    }
    return this.store.aliasesOfRoom(roomId);
  }

  /** createRoom's room_alias_name: the full alias, 400 M_INVALID_PARAM when malformed, 400 M_ROOM_IN_USE when taken. */
  async aliasForNewRoom(localpart: string): Promise<string> {
    if (localpart.includes(':') || /\s/.test(localpart)) throw roomInvalidParam('room_alias_name may not contain ":" or whitespace');
    const alias = `#${localpart}:${this.serverName}`;
    this.parseLocalAlias(alias);
    if (await this.store.getAlias(alias)) throw new RoomError(400, 'M_ROOM_IN_USE', `Room alias ${alias} already taken`);
    return alias;
  }

  /**
   * Maps a new room's alias. Two creations racing for one alias both pass aliasForNewRoom; the loser's room then
   * exists without the alias, and it is told M_ROOM_IN_USE.
   */
  async addForNewRoom(alias: string, roomId: string, creator: string): Promise<void> {
    if (!(await this.store.createAlias({ alias, roomId, creator, createdTs: this.now() }))) {
      throw new RoomError(400, 'M_ROOM_IN_USE', `Room alias ${alias} already taken`);
    }
  }

  /**
   * m.room.canonical_alias being sent: every alias it adds (compared with the current event; aliases being removed
   * or already present are not checked, as the spec says) must be valid (400 M_INVALID_PARAM) and point to this
   * room (400 M_BAD_ALIAS).
   */
  async checkCanonicalAlias(roomId: string, content: JsonObject): Promise<void> {
    const alias = content['alias'];
    const alt = content['alt_aliases'];
    if (alias !== undefined && alias !== null && typeof alias !== 'string') throw roomInvalidParam('alias must be a string');
    if (alt !== undefined && (!Array.isArray(alt) || !alt.every((a: JsonValue) => typeof a === 'string'))) {
      throw roomInvalidParam('alt_aliases must be a list of strings');
    }
    const current = contentOf(await this.events.currentStateEvent(roomId, 'm.room.canonical_alias', ''));
    const existing = new Set<string>();
    if (typeof current['alias'] === 'string') existing.add(current['alias']);
    if (Array.isArray(current['alt_aliases'])) for (const a of current['alt_aliases']) if (typeof a === 'string') existing.add(a);
    const proposed = [...(typeof alias === 'string' && alias !== '' ? [alias] : []), ...((alt as string[] | undefined) ?? [])];
    const added = [...new Set(proposed)].filter((a) => !existing.has(a));
    for (const a of added) this.parseAlias(a);
    for (const a of added) {
      const record = domainOf(a) === this.serverName ? await this.store.getAlias(a) : null;
      if (record?.roomId !== roomId) throw new RoomError(400, 'M_BAD_ALIAS', `The alias '${a}' does not point to this room.`);
    }
  }

  /** Whether a joined member's power level is enough to send this state event type (state key ""). */
  async canSendState(userId: string, roomId: string, type: string): Promise<boolean> {
    const room = await this.events.getRoom(roomId);
    const version = room ? getRoomVersion(room.version) : undefined;
    if (!room || !version) return false;
    const member = await this.events.localMembership(userId, roomId);
    if (member?.membership !== 'join') return false;
    const [create, pl] = await Promise.all([
      this.events.currentStateEvent(roomId, 'm.room.create', ''),
      this.events.currentStateEvent(roomId, 'm.room.power_levels', ''),
    ]);
    const asRoomEvent = (e: StoredEvent | null) => (e ? toRoomEvent(e.pdu, version, { validate: false, eventId: e.eventId }) : undefined);
    const plEvent = asRoomEvent(pl);
    return userPowerLevel(userId, asRoomEvent(create), plEvent, version) >= requiredPowerLevel(type, true, plEvent, version);
  }

  private async serversOf(roomId: string): Promise<string[]> {
    const state = await this.events.currentState(roomId);
    const servers = new Set<string>([this.serverName]);
    for (const e of state) {
      if (e.type !== 'm.room.member' || e.stateKey === null || contentOf(e)['membership'] !== 'join') continue;
      const server = domainOf(e.stateKey);
      if (server !== undefined) servers.add(server);
    }
    return [...servers];
  }
}

function contentOf(event: StoredEvent | null): JsonObject {
  const content = event?.pdu['content'];
  return event && event.redactedBy === null && isJsonObject(content) ? content : {};
}
