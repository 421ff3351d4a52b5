// Room upgrades (POST /rooms/{roomId}/upgrade), as the spec's server behaviour lists them:
//   1. the requester must be able to send m.room.tombstone in the old room;
//   2. a new room whose create event has `predecessor` (room_id, and event_id: the old room's latest event, which the
//      spec deprecates but still asks for where practical) and the old create event's `type`;
//   3. the transferable state copied: power levels, join rules, history visibility, guest access, name, topic,
//      avatar, encryption, server ACLs, canonical alias;
//   4. the local aliases (migrations/0005 room_aliases) moved to the new room, the old room's canonical alias
//      emptied, and a room published in the directory is published as the new room instead (as Synapse does);
//   5. m.room.tombstone in the old room naming the new one;
//   6. the old room's power levels restricted: events_default and invite raised to max(50, users_default + 1).
// Steps in the old room after the tombstone are "if possible": a refusal is logged and the upgrade still answers.
// Like Synapse, when the upgrader's own level is below what copying the state needs, the new room starts with
// power levels that raise them just enough, and the old room's power levels are sent last.
// Room version 12 and later: the upgrader (and `additional_creators`) are creators with unlimited power, so they are
// taken out of the copied power levels' `users` (v12 auth rules refuse creators there).
import { parsePowerLevel, userPowerLevel } from '../protocol/authRules.ts';
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import { isValidUserId } from '../protocol/identifiers.ts';
import { toRoomEvent } from '../protocol/pdu.ts';
import { getRoomVersion } from '../protocol/roomVersions.ts';
import type { Logger } from '../log.ts';
import { PostgresRoomAliasStore } from '../storage/aliases.ts';
import type { Queryable } from '../storage/database.ts';
import { PostgresRoomDirectoryStore } from '../storage/directory.ts';
import type { StoredEvent } from '../storage/events.ts';
import { RoomError, roomForbidden } from './errors.ts';
import type { Requester, RoomService } from './service.ts';

/** State copied into the replacement room (m.room.power_levels is handled on its own). */
export const TRANSFERABLE_STATE: readonly string[] = [
  'm.room.join_rules',
  'm.room.history_visibility',
  'm.room.guest_access',
  'm.room.name',
  'm.room.topic',
  'm.room.avatar',
  'm.room.encryption',
  'm.room.server_acl',
  'm.room.canonical_alias',
];

export const TOMBSTONE_BODY = 'This room has been replaced';

export interface UpgradeRequest {
  newVersion: string;
  /** Room versions with privileged creators only; ignored otherwise. */
  additionalCreators?: string[];
}

export interface UpgradeDeps {
  rooms: RoomService;
  /** For moving the local aliases and the directory publication. */
  db: Queryable;
  logger: Logger;
}

/** Upgrades in progress, by old room: the same request arriving again meanwhile gets the same replacement room. */
const inFlight = new Map<string, { key: string; replacement: Promise<string> }>();

export async function upgradeRoom(deps: UpgradeDeps, requester: Requester, roomId: string, req: UpgradeRequest): Promise<string> {
  const key = JSON.stringify([requester.userId, req.newVersion, req.additionalCreators ?? []]);
  const running = inFlight.get(roomId);
  if (running?.key === key) return running.replacement;
  // A different concurrent upgrade of the same room waits its turn (and then usually finds no power left, or
  // creates a second replacement the way a later upgrade would).
  if (running) await running.replacement.catch(() => undefined);
  const replacement = performUpgrade(deps, requester, roomId, req);
  const entry = { key, replacement };
  inFlight.set(roomId, entry);
  try {
    return await replacement;
  } finally {
    if (inFlight.get(roomId) === entry) inFlight.delete(roomId);
  }
}

async function performUpgrade(deps: UpgradeDeps, requester: Requester, roomId: string, req: UpgradeRequest): Promise<string> {
  const { rooms, db, logger } = deps;
  const target = getRoomVersion(req.newVersion);
  if (!target) throw new RoomError(400, 'M_UNSUPPORTED_ROOM_VERSION', `Room version ${req.newVersion} is not supported`);
  const extraCreators = target.privilegedCreators ? [...new Set(req.additionalCreators ?? [])].filter((u) => u !== requester.userId) : [];
  for (const u of extraCreators) {
    if (!isValidUserId(u)) throw new RoomError(400, 'M_BAD_JSON', `additional_creators: ${u} is not a valid user id`);
  }

  const events = rooms.events;
  const room = await events.getRoom(roomId);
  const membership = room ? await events.localMembership(requester.userId, roomId) : null;
  if (!room || membership?.membership !== 'join') throw roomForbidden('You are not joined to this room');
  const oldVersion = getRoomVersion(room.version);
  if (!oldVersion) throw new RoomError(500, 'M_UNKNOWN', `Unknown room version ${room.version}`);

  const state = await events.currentState(roomId);
  const current = (type: string): StoredEvent | undefined => state.find((e) => e.type === type && e.stateKey === '');
  const contentOf = (e: StoredEvent | undefined): JsonObject | undefined => (e && isJsonObject(e.pdu['content']) ? e.pdu['content'] : undefined);
  const asRoomEvent = (e: StoredEvent | undefined) => (e ? toRoomEvent(e.pdu, oldVersion, { validate: false, eventId: e.eventId }) : undefined);

  // The same upgrade again (a client retrying after the answer was lost) gets the replacement made the first time.
  const earlier = await earlierReplacement(rooms, roomId, contentOf(current('m.room.tombstone')), requester.userId, target.id);
  if (earlier !== null) return earlier;

  // 1. The tombstone's required level: events['m.room.tombstone'], else state_default, else 50 (0 without power levels).
  const createEvent = current('m.room.create');
  const plEvent = current('m.room.power_levels');
  const pl = contentOf(plEvent);
  const level = userPowerLevel(requester.userId, asRoomEvent(createEvent), asRoomEvent(plEvent), oldVersion);
  const eventLevels = pl && isJsonObject(pl['events']) ? pl['events'] : {};
  const needed = pl ? (parsePowerLevel(eventLevels['m.room.tombstone'], oldVersion) ?? parsePowerLevel(pl['state_default'], oldVersion) ?? 50) : 0;
  if (level < needed) throw roomForbidden(`You need power level ${needed} to upgrade this room (send m.room.tombstone); you have ${level}`);

  // 2. The create content.
  const latest = (await events.roomEvents(roomId, 'b', await events.maxStreamOrdering(), 1))[0];
  const oldCreate = contentOf(createEvent) ?? {};
  const creationContent: JsonObject = { predecessor: { room_id: roomId, ...(latest ? { event_id: latest.eventId } : {}) } };
  if (typeof oldCreate['type'] === 'string') creationContent['type'] = oldCreate['type'];
  if (oldCreate['m.federate'] === false) creationContent['m.federate'] = false;
  if (extraCreators.length > 0) creationContent['additional_creators'] = extraCreators;

  // 3. The state, power levels last.
  const initialState: { type: string; state_key: string; content: JsonObject }[] = [];
  for (const type of TRANSFERABLE_STATE) {
    const content = contentOf(current(type));
    if (content && Object.keys(content).length > 0) initialState.push({ type, state_key: '', content });
  }
  const finalPowerLevels = copiedPowerLevels(pl, requester.userId, extraCreators, target.privilegedCreators, oldVersion.privilegedCreators);
  let startPowerLevels = finalPowerLevels;
  if (!target.privilegedCreators) {
    // Enough power to send everything copied, including the final power levels.
    const users = isJsonObject(finalPowerLevels['users']) ? finalPowerLevels['users'] : {};
    const levels = isJsonObject(finalPowerLevels['events']) ? Object.values(finalPowerLevels['events']) : [];
    const required = Math.max(
      ...[finalPowerLevels['state_default'], ...levels].map((v) => (typeof v === 'number' ? v : 50)),
    );
    const own = typeof users[requester.userId] === 'number' ? (users[requester.userId] as number) : typeof finalPowerLevels['users_default'] === 'number' ? finalPowerLevels['users_default'] : 0;
    if (own < required) startPowerLevels = { ...finalPowerLevels, users: { ...users, [requester.userId]: required } };
  }
  if (startPowerLevels !== finalPowerLevels) initialState.push({ type: 'm.room.power_levels', state_key: '', content: finalPowerLevels });
  const joinRule = contentOf(current('m.room.join_rules'))?.['join_rule'];

  const replacementRoom = await rooms.createRoom(requester.userId, {
    room_version: target.id,
    creation_content: creationContent,
    preset: joinRule === 'public' ? 'public_chat' : 'private_chat',
    visibility: room.isPublic ? 'public' : 'private',
    power_level_content_override: startPowerLevels,
    initial_state: initialState,
  });

  // 4. Aliases and the directory.
  await new PostgresRoomAliasStore(db).moveAliases(roomId, replacementRoom);
  if (room.isPublic) await new PostgresRoomDirectoryStore(db).setPublished(roomId, false);

  // 5. The tombstone.
  await rooms.sendState(requester, roomId, 'm.room.tombstone', '', { body: TOMBSTONE_BODY, replacement_room: replacementRoom });

  const canonical = contentOf(current('m.room.canonical_alias'));
  if (canonical && (canonical['alias'] !== undefined || canonical['alt_aliases'] !== undefined)) {
    const next: JsonObject = { ...canonical };
    delete next['alias'];
    delete next['alt_aliases'];
    try {
      await rooms.sendState(requester, roomId, 'm.room.canonical_alias', '', next);
    } catch (error) {
      logger.warn({ err: error, roomId }, "room upgrade: could not empty the old room's canonical alias");
    }
  }

  // 6. Restrict the old room, if the upgrader may change its power levels.
  if (pl) {
    const usersDefault = typeof pl['users_default'] === 'number' ? pl['users_default'] : 0;
    const restricted = Math.max(50, usersDefault + 1);
    const next: JsonObject = { ...pl };
    let changed = false;
    for (const key of ['events_default', 'invite']) {
      const value = typeof pl[key] === 'number' ? pl[key] : 0;
      if (value < restricted) {
        next[key] = restricted;
        changed = true;
      }
    }
    if (changed) {
      try {
        await rooms.sendState(requester, roomId, 'm.room.power_levels', '', next);
      } catch (error) {
        logger.warn({ err: error, roomId }, 'room upgrade: could not restrict the old room\'s power levels');
      }
    }
  }
  return replacementRoom;
}

/** The room named by the old room's tombstone, if this user made it by upgrading this room to this version. */
async function earlierReplacement(rooms: RoomService, roomId: string, tombstone: JsonObject | undefined, userId: string, version: string): Promise<string | null> {
  const replacement = tombstone?.['replacement_room'];
  if (typeof replacement !== 'string') return null;
  const [room, create] = await Promise.all([rooms.events.getRoom(replacement), rooms.events.currentStateEvent(replacement, 'm.room.create', '')]);
  const content = create && isJsonObject(create.pdu['content']) ? create.pdu['content'] : undefined;
  const predecessor = content?.['predecessor'];
  const same = room?.version === version && create?.sender === userId && isJsonObject(predecessor) && predecessor['room_id'] === roomId;
  return same ? replacement : null;
}

/**
 * The old room's power levels for the new room. Into v12+: creators leave `users`. Out of v12+ (or a room without
 * power levels) into an older version: the old creators had no entry, so the upgrader gets the room's highest level
 * (at least 100).
 */
function copiedPowerLevels(
  pl: JsonObject | undefined,
  upgrader: string,
  extraCreators: readonly string[],
  targetPrivileged: boolean,
  oldPrivileged: boolean,
): JsonObject {
  const copy: JsonObject = pl ? structuredClone(pl) : { users: {} };
  const users: JsonObject = isJsonObject(copy['users']) ? { ...copy['users'] } : {};
  if (targetPrivileged) {
    delete users[upgrader];
    for (const u of extraCreators) delete users[u];
  } else if (oldPrivileged || !pl) {
    // As high as anything in the room needs, so the upgrader can still manage (and upgrade) the new room.
    const events = isJsonObject(copy['events']) ? Object.values(copy['events']) : [];
    const levels = [copy['state_default'], copy['ban'], copy['kick'], copy['redact'], copy['invite'], copy['events_default'], users[upgrader], ...events];
    users[upgrader] = Math.max(100, ...levels.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)));
  }
  copy['users'] = users;
  return copy;
}
