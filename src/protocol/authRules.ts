// The authorization rules (spec v1.19, "Room versions": one rule list per version family). `checkAuth` decides
// whether an event is allowed against a given state; `checkAuthEvents` holds the state-independent checks on an
// event's own `auth_events` list; `authTypesForEvent` is the server-server "auth events selection".
import type { JsonObject, JsonValue } from './json.ts';
import { isJsonObject } from './json.ts';
import type { RoomEvent, StateKey } from './events.ts';
import { stateKey } from './events.ts';
import type { RoomVersion } from './roomVersions.ts';
import { getRoomVersion } from './roomVersions.ts';
import { domainOf, isValidUserId } from './identifiers.ts';

export type AuthResult = { allowed: true } | { allowed: false; reason: string };

/**
 * The state an event is checked against: a map keyed by `stateKey(type, state_key)`, or a lookup function
 * (handy when the state lives elsewhere, e.g. "resolved state, else the event's own auth events").
 * Only the keys `authTypesForEvent` names are ever read. In room version 12 the `m.room.create` event is never an
 * auth event, but the rules still need it: the caller puts it in this state under `stateKey('m.room.create', '')`.
 */
export type AuthState = ReadonlyMap<StateKey, RoomEvent> | ((type: string, stateKey: string) => RoomEvent | undefined);

/** Signature checks the rules need, injected so this module needs no crypto of its own. */
export interface AuthVerifier {
  /** Whether `event` carries a valid signature from `serverName` (used for `join_authorised_via_users_server`). */
  isSignedBy?(event: RoomEvent, serverName: string): boolean;
  /**
   * Whether any signature in a third party invite's `signed` object verifies against any of the given public keys
   * (unpadded base64 ed25519 keys from the `m.room.third_party_invite` event).
   */
  verifyThirdPartyInvite?(signed: JsonObject, publicKeys: readonly string[]): boolean;
}

export interface AuthOptions {
  /** Missing verifiers fail closed: an event that needs one is rejected. */
  verifier?: AuthVerifier;
  /** Room versions this server recognises for `m.room.create` `content.room_version` (default: the table's). */
  isKnownRoomVersion?(id: string): boolean;
}

const allow: AuthResult = { allowed: true };
const reject = (reason: string): AuthResult => ({ allowed: false, reason });

function resolveVersion(roomVersion: RoomVersion | string): RoomVersion {
  if (typeof roomVersion !== 'string') return roomVersion;
  const found = getRoomVersion(roomVersion);
  if (!found) throw new Error(`unknown room version ${roomVersion}`);
  return found;
}

function lookup(state: AuthState, type: string, key: string): RoomEvent | undefined {
  return typeof state === 'function' ? state(type, key) : state.get(stateKey(type, key));
}

// ---------------------------------------------------------------------------------------------------------------
// Power levels.

const STRINGY_INT = /^\s*[+-]?\d+\s*$/;

/**
 * A power level value as the room version reads it, or `undefined` if it is not a valid one. v10+: integers
 * only. v1–v9: strings holding an integer too. v1–v5 (no strict canonical JSON): floats, truncated.
 */
export function parsePowerLevel(value: JsonValue | undefined, rv: RoomVersion): number | undefined {
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return value;
    if (!rv.strictCanonicalJson && Number.isFinite(value)) return Math.trunc(value);
    return undefined;
  }
  if (typeof value === 'string' && !rv.enforceIntPowerLevels && STRINGY_INT.test(value)) {
    const n = Number.parseInt(value.trim(), 10);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

const NAMED_LEVEL_DEFAULTS = { ban: 50, kick: 50, redact: 50, invite: 0, users_default: 0, events_default: 0 } as const;
type NamedLevel = keyof typeof NAMED_LEVEL_DEFAULTS;

function namedLevel(pl: RoomEvent | undefined, name: NamedLevel, rv: RoomVersion): number {
  return parsePowerLevel(pl?.content[name], rv) ?? NAMED_LEVEL_DEFAULTS[name];
}

/** The room's creators: v12 the create sender plus `additional_creators`; v11 the sender; v1–v10 `content.creator`. */
export function roomCreators(create: RoomEvent | undefined, rv: RoomVersion): Set<string> {
  const creators = new Set<string>();
  if (!create) return creators;
  if (rv.implicitRoomCreator) {
    creators.add(create.sender);
    const extra = create.content['additional_creators'];
    if (rv.privilegedCreators && Array.isArray(extra)) {
      for (const u of extra) if (typeof u === 'string') creators.add(u);
    }
  } else if (typeof create.content['creator'] === 'string') {
    creators.add(create.content['creator']);
  }
  return creators;
}

/**
 * A user's power level given the create and power levels events. v12 creators: `Infinity`. Without a power levels
 * event the creator has 100 and everyone else 0.
 */
export function userPowerLevel(
  userId: string,
  create: RoomEvent | undefined,
  powerLevels: RoomEvent | undefined,
  rv: RoomVersion,
): number {
  const creators = roomCreators(create, rv);
  if (rv.privilegedCreators && creators.has(userId)) return Infinity;
  if (powerLevels) {
    const users = powerLevels.content['users'];
    const own = isJsonObject(users) ? parsePowerLevel(users[userId], rv) : undefined;
    return own ?? namedLevel(powerLevels, 'users_default', rv);
  }
  return creators.has(userId) ? 100 : 0;
}

/** The level needed to send an event of this type (spec: `state_default` is 0 when there is no power levels event). */
export function requiredPowerLevel(type: string, isState: boolean, powerLevels: RoomEvent | undefined, rv: RoomVersion): number {
  const events = powerLevels?.content['events'];
  const specific = isJsonObject(events) ? parsePowerLevel(events[type], rv) : undefined;
  if (specific !== undefined) return specific;
  if (isState) return powerLevels ? (parsePowerLevel(powerLevels.content['state_default'], rv) ?? 50) : 0;
  return namedLevel(powerLevels, 'events_default', rv);
}

// ---------------------------------------------------------------------------------------------------------------
// Auth events selection.

export interface AuthEventKey {
  type: string;
  stateKey: string;
}

/** The parts of an event that decide which auth events it needs (so it can be used before the event is built). */
export type AuthSelectable = Pick<RoomEvent, 'type' | 'sender' | 'content'> & { state_key?: string };

/**
 * The (type, state_key) pairs an event's `auth_events` must be chosen from (server-server "auth events selection"):
 * the create event (not in v12), the power levels, the sender's membership, and for memberships the target's
 * membership, the join rules (join/invite/knock), the third party invite named by the token, and the authorising
 * user's membership for restricted joins (v8+).
 */
export function authTypesForEvent(event: AuthSelectable, roomVersion: RoomVersion | string): AuthEventKey[] {
  const rv = resolveVersion(roomVersion);
  if (event.type === 'm.room.create') return [];
  const keys: AuthEventKey[] = [];
  const add = (type: string, key: string) => {
    if (!keys.some((k) => k.type === type && k.stateKey === key)) keys.push({ type, stateKey: key });
  };
  if (!rv.roomIdFromCreateEvent) add('m.room.create', '');
  add('m.room.power_levels', '');
  add('m.room.member', event.sender);
  if (event.type === 'm.room.member' && event.state_key !== undefined) {
    add('m.room.member', event.state_key);
    const membership = event.content['membership'];
    if (membership === 'join' || membership === 'invite' || membership === 'knock') add('m.room.join_rules', '');
    if (membership === 'invite') {
      const tpi = event.content['third_party_invite'];
      const signed = isJsonObject(tpi) ? tpi['signed'] : undefined;
      const token = isJsonObject(signed) ? signed['token'] : undefined;
      if (typeof token === 'string') add('m.room.third_party_invite', token);
    }
    const via = event.content['join_authorised_via_users_server'];
    // The spec names the authorising user's membership for any membership carrying the key, not only joins.
    if (rv.restrictedJoinRule && typeof via === 'string') add('m.room.member', via);
  }
  return keys;
}

/**
 * The state-independent checks on an event's own `auth_events` (rules "considering the event's auth_events"):
 * no duplicate keys, nothing the selection would not pick, nothing rejected, same room, a create event among them
 * (v1–v11). In v12, `createEvent` (the event whose id is the room id with `$`) must be given and accepted.
 */
export function checkAuthEvents(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  roomVersion: RoomVersion | string,
  opts: { isRejected?: (eventId: string) => boolean; createEvent?: RoomEvent } = {},
): AuthResult {
  const rv = resolveVersion(roomVersion);
  if (event.type === 'm.room.create') return allow;
  if (rv.roomIdFromCreateEvent) {
    const create = opts.createEvent;
    if (!create || create.type !== 'm.room.create' || `!${create.event_id.slice(1)}` !== event.room_id) {
      return reject('room_id is not the id of the room\'s create event');
    }
    if (opts.isRejected?.(create.event_id)) return reject('the create event was rejected');
  }
  const allowed = new Set(authTypesForEvent(event, rv).map((k) => stateKey(k.type, k.stateKey)));
  const seen = new Set<StateKey>();
  let sawCreate = false;
  for (const a of authEvents) {
    if (a.state_key === undefined) return reject(`auth event ${a.event_id} is not a state event`);
    const key = stateKey(a.type, a.state_key);
    if (seen.has(key)) return reject(`duplicate auth events for (${a.type}, ${a.state_key})`);
    seen.add(key);
    if (!allowed.has(key)) return reject(`unexpected auth event (${a.type}, ${a.state_key})`);
    if (opts.isRejected?.(a.event_id)) return reject(`auth event ${a.event_id} was rejected`);
    if (a.room_id !== event.room_id) return reject(`auth event ${a.event_id} is from another room`);
    if (a.type === 'm.room.create') sawCreate = true;
  }
  if (!rv.roomIdFromCreateEvent && !sawCreate) return reject('no m.room.create event among the auth events');
  return allow;
}

/** Both halves at once: the auth_events list checks, then the rules against the state those auth events form. */
export function checkAuthAgainstAuthEvents(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  roomVersion: RoomVersion | string,
  opts: AuthOptions & { isRejected?: (eventId: string) => boolean; createEvent?: RoomEvent } = {},
): AuthResult {
  const listed = checkAuthEvents(event, authEvents, roomVersion, opts);
  if (!listed.allowed) return listed;
  const state = new Map<StateKey, RoomEvent>();
  for (const a of authEvents) if (a.state_key !== undefined) state.set(stateKey(a.type, a.state_key), a);
  if (opts.createEvent) state.set(stateKey('m.room.create', ''), opts.createEvent);
  return checkAuth(event, state, roomVersion, opts);
}

// ---------------------------------------------------------------------------------------------------------------
// The rules.

function membershipOf(state: AuthState, userId: string): string | undefined {
  const m = lookup(state, 'm.room.member', userId)?.content['membership'];
  return typeof m === 'string' ? m : undefined;
}

/**
 * Whether `event` is allowed against `state` under the room version's authorization rules.
 * Checks signatures only through `options.verifier` (and fails closed without it); the sender's own signature and
 * the auth_events list itself are the caller's (see `checkAuthEvents`).
 */
export function checkAuth(
  event: RoomEvent,
  state: AuthState,
  roomVersion: RoomVersion | string,
  options: AuthOptions = {},
): AuthResult {
  const rv = resolveVersion(roomVersion);
  if (event.type === 'm.room.create') return checkCreate(event, rv, options);

  const create = lookup(state, 'm.room.create', '');
  if (!create) return reject('no m.room.create event in the auth state');
  if (rv.roomIdFromCreateEvent && `!${create.event_id.slice(1)}` !== event.room_id) {
    return reject('room_id is not the id of the room\'s create event');
  }
  if (create.content['m.federate'] === false && domainOf(event.sender) !== domainOf(create.sender)) {
    return reject('room is not federated and the sender is from another server');
  }

  if (rv.specialCaseAliasesAuth && event.type === 'm.room.aliases') {
    if (event.state_key === undefined) return reject('m.room.aliases without a state_key');
    if (domainOf(event.sender) !== event.state_key) return reject('m.room.aliases state_key is not the sender\'s server');
    return allow;
  }

  const powerLevels = lookup(state, 'm.room.power_levels', '');
  const levelOf = (userId: string) => userPowerLevel(userId, create, powerLevels, rv);

  if (event.type === 'm.room.member') return checkMember(event, state, rv, options, create, powerLevels, levelOf);

  if (membershipOf(state, event.sender) !== 'join') return reject('sender is not joined to the room');
  const senderLevel = levelOf(event.sender);

  if (event.type === 'm.room.third_party_invite') {
    return senderLevel >= namedLevel(powerLevels, 'invite', rv) ? allow : reject('sender may not invite');
  }
  const required = requiredPowerLevel(event.type, event.state_key !== undefined, powerLevels, rv);
  if (required > senderLevel) return reject(`sender's power level ${senderLevel} is below ${required} for ${event.type}`);
  if (event.state_key?.startsWith('@') && event.state_key !== event.sender) {
    return reject('state_key names another user');
  }
  if (event.type === 'm.room.power_levels') return checkPowerLevels(event, rv, create, powerLevels, senderLevel);
  if (rv.redactionAuthChecksEventIdDomain && event.type === 'm.room.redaction') {
    if (senderLevel >= namedLevel(powerLevels, 'redact', rv)) return allow;
    const redacts = event.redacts ?? event.content['redacts'];
    if (typeof redacts === 'string' && domainOf(redacts) !== undefined && domainOf(redacts) === domainOf(event.event_id)) {
      return allow;
    }
    return reject('sender may not redact events from other servers');
  }
  return allow;
}

function checkCreate(event: RoomEvent, rv: RoomVersion, options: AuthOptions): AuthResult {
  if (event.prev_events.length > 0) return reject('m.room.create has prev_events');
  if (rv.roomIdFromCreateEvent) {
    // The normalised event always has a room_id (computed for v12); the wire form must not carry one.
    if (event.pdu && 'room_id' in event.pdu) return reject('m.room.create has a room_id');
  } else if (domainOf(event.room_id) === undefined || domainOf(event.room_id) !== domainOf(event.sender)) {
    return reject('room_id domain does not match the sender\'s');
  }
  const version = event.content['room_version'];
  if (version !== undefined) {
    const known = options.isKnownRoomVersion ?? ((id: string) => getRoomVersion(id) !== undefined);
    if (typeof version !== 'string' || !known(version)) return reject('unrecognised room_version');
  }
  if (rv.privilegedCreators && 'additional_creators' in event.content) {
    const extra = event.content['additional_creators'];
    if (!Array.isArray(extra) || !extra.every((u) => typeof u === 'string' && isValidUserId(u))) return reject('additional_creators is not a list of user ids');
  }
  if (!rv.implicitRoomCreator && typeof event.content['creator'] !== 'string') return reject('m.room.create has no creator');
  return allow;
}

function checkMember(
  event: RoomEvent,
  state: AuthState,
  rv: RoomVersion,
  options: AuthOptions,
  create: RoomEvent,
  powerLevels: RoomEvent | undefined,
  levelOf: (userId: string) => number,
): AuthResult {
  const target = event.state_key;
  const membership = event.content['membership'];
  if (target === undefined || typeof membership !== 'string') return reject('m.room.member needs a state_key and a membership');

  const via = event.content['join_authorised_via_users_server'];
  if (rv.restrictedJoinRule && via !== undefined) {
    const server = typeof via === 'string' ? domainOf(via) : undefined;
    if (server === undefined) return reject('join_authorised_via_users_server is not a user id');
    if (!options.verifier?.isSignedBy?.(event, server)) return reject(`not signed by ${server}, the authorising server`);
  }

  const senderMembership = membershipOf(state, event.sender);
  const targetMembership = membershipOf(state, target);
  const joinRuleValue = lookup(state, 'm.room.join_rules', '')?.content['join_rule'];
  const joinRule = typeof joinRuleValue === 'string' ? joinRuleValue : 'invite';
  const senderLevel = levelOf(event.sender);
  const targetLevel = levelOf(target);

  switch (membership) {
    case 'join': {
      const creator = rv.implicitRoomCreator ? create.sender : create.content['creator'];
      if (event.prev_events.length === 1 && event.prev_events[0] === create.event_id && target === creator) return allow;
      if (event.sender !== target) return reject('cannot join on behalf of another user');
      if (senderMembership === 'ban') return reject('sender is banned');
      const knockRule = rv.knockJoinRule && joinRule === 'knock';
      if (joinRule === 'invite' || knockRule) {
        return senderMembership === 'invite' || senderMembership === 'join' ? allow : reject(`join rule is ${joinRule} and sender was not invited`);
      }
      const restrictedRule =
        (rv.restrictedJoinRule && joinRule === 'restricted') || (rv.knockRestrictedJoinRule && joinRule === 'knock_restricted');
      if (restrictedRule) {
        if (senderMembership === 'join' || senderMembership === 'invite') return allow;
        if (typeof via !== 'string') return reject('restricted join without join_authorised_via_users_server');
        const mayInvite = membershipOf(state, via) === 'join' && levelOf(via) >= namedLevel(powerLevels, 'invite', rv);
        return mayInvite ? allow : reject('the authorising user may not invite');
      }
      if (joinRule === 'public') return allow;
      return reject(`join rule ${joinRule} does not allow joining`);
    }
    case 'invite': {
      const tpi = event.content['third_party_invite'];
      if (tpi !== undefined) return checkThirdPartyInvite(event, target, tpi, state, targetMembership, options);
      if (senderMembership !== 'join') return reject('sender is not joined to the room');
      if (targetMembership === 'join' || targetMembership === 'ban') return reject(`target is already ${targetMembership}`);
      return senderLevel >= namedLevel(powerLevels, 'invite', rv) ? allow : reject('sender may not invite');
    }
    case 'leave': {
      if (event.sender === target) {
        const mayLeave =
          senderMembership === 'invite' || senderMembership === 'join' || (rv.knockJoinRule && senderMembership === 'knock');
        return mayLeave ? allow : reject('sender is not in the room');
      }
      if (senderMembership !== 'join') return reject('sender is not joined to the room');
      if (targetMembership === 'ban' && senderLevel < namedLevel(powerLevels, 'ban', rv)) return reject('sender may not unban');
      return senderLevel >= namedLevel(powerLevels, 'kick', rv) && targetLevel < senderLevel ? allow : reject('sender may not kick the target');
    }
    case 'ban': {
      if (senderMembership !== 'join') return reject('sender is not joined to the room');
      return senderLevel >= namedLevel(powerLevels, 'ban', rv) && targetLevel < senderLevel ? allow : reject('sender may not ban the target');
    }
    case 'knock': {
      if (!rv.knockJoinRule) return reject('unknown membership knock');
      const knockable = joinRule === 'knock' || (rv.knockRestrictedJoinRule && joinRule === 'knock_restricted');
      if (!knockable) return reject(`join rule ${joinRule} does not allow knocking`);
      if (event.sender !== target) return reject('cannot knock on behalf of another user');
      return senderMembership !== 'ban' && senderMembership !== 'invite' && senderMembership !== 'join'
        ? allow
        : reject(`sender is already ${senderMembership}`);
    }
    default:
      return reject(`unknown membership ${membership}`);
  }
}

function checkThirdPartyInvite(
  event: RoomEvent,
  target: string,
  tpi: JsonValue,
  state: AuthState,
  targetMembership: string | undefined,
  options: AuthOptions,
): AuthResult {
  if (targetMembership === 'ban') return reject('target is banned');
  const signed = isJsonObject(tpi) ? tpi['signed'] : undefined;
  if (!isJsonObject(signed)) return reject('third_party_invite has no signed object');
  const mxid = signed['mxid'];
  const token = signed['token'];
  if (typeof mxid !== 'string' || typeof token !== 'string') return reject('signed lacks mxid or token');
  if (mxid !== target) return reject('signed mxid is not the state_key');
  const invite = lookup(state, 'm.room.third_party_invite', token);
  if (!invite) return reject('no m.room.third_party_invite for the token');
  if (invite.sender !== event.sender) return reject('sender did not send the m.room.third_party_invite');
  const keys: string[] = [];
  const single = invite.content['public_key'];
  if (typeof single === 'string') keys.push(single);
  const many = invite.content['public_keys'];
  if (Array.isArray(many)) {
    for (const k of many) if (isJsonObject(k) && typeof k['public_key'] === 'string') keys.push(k['public_key']);
  }
  if (keys.length > 0 && options.verifier?.verifyThirdPartyInvite?.(signed, keys)) return allow;
  return reject('no signature in signed matches a public key of the invite');
}

const NAMED_KEYS = ['users_default', 'events_default', 'state_default', 'ban', 'redact', 'kick', 'invite'] as const;

/** Shape check of a level map (`events`, `notifications`, `users`): an object of valid levels (and user id keys). */
function levelMap(value: JsonValue | undefined, rv: RoomVersion, userKeys: boolean): Map<string, number> | undefined {
  if (!isJsonObject(value)) return undefined;
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(value)) {
    if (userKeys && !isValidUserId(k)) return undefined;
    const n = parsePowerLevel(v, rv);
    if (n === undefined) return undefined;
    out.set(k, n);
  }
  return out;
}

/** A level map from a stored (already accepted) event, dropping what does not parse. */
function looseLevelMap(value: JsonValue | undefined, rv: RoomVersion): Map<string, number> {
  const out = new Map<string, number>();
  if (!isJsonObject(value)) return out;
  for (const [k, v] of Object.entries(value)) {
    const n = parsePowerLevel(v, rv);
    if (n !== undefined) out.set(k, n);
  }
  return out;
}

function checkPowerLevels(
  event: RoomEvent,
  rv: RoomVersion,
  create: RoomEvent,
  previous: RoomEvent | undefined,
  senderLevel: number,
): AuthResult {
  const content = event.content;
  for (const key of NAMED_KEYS) {
    if (content[key] !== undefined && parsePowerLevel(content[key], rv) === undefined) return reject(`${key} is not a valid power level`);
  }
  const mapKeys = rv.limitNotificationsPowerLevels ? (['events', 'notifications'] as const) : (['events'] as const);
  for (const key of mapKeys) {
    if (content[key] !== undefined && !levelMap(content[key], rv, false)) return reject(`${key} is not an object of power levels`);
  }
  let users = new Map<string, number>();
  if (content['users'] !== undefined) {
    const parsed = levelMap(content['users'], rv, true);
    if (!parsed) return reject('users is not an object of user ids to power levels');
    users = parsed;
  }
  if (rv.privilegedCreators) {
    for (const creator of roomCreators(create, rv)) {
      if (users.has(creator)) return reject('room creators cannot be given a power level');
    }
  }
  if (!previous) return allow;

  const before = previous.content;
  for (const key of NAMED_KEYS) {
    const old = parsePowerLevel(before[key], rv);
    const now = parsePowerLevel(content[key], rv);
    if (old === now) continue;
    if (old !== undefined && old > senderLevel) return reject(`cannot change ${key} from ${old}, above own level`);
    if (now !== undefined && now > senderLevel) return reject(`cannot set ${key} to ${now}, above own level`);
  }
  for (const key of mapKeys) {
    const oldMap = looseLevelMap(before[key], rv);
    const newMap = looseLevelMap(content[key], rv);
    for (const [k, old] of oldMap) {
      if (newMap.get(k) !== old && old > senderLevel) return reject(`cannot change ${key}.${k} from ${old}, above own level`);
    }
    for (const [k, now] of newMap) {
      if (oldMap.get(k) !== now && now > senderLevel) return reject(`cannot set ${key}.${k} to ${now}, above own level`);
    }
  }
  const oldUsers = looseLevelMap(before['users'], rv);
  for (const [user, old] of oldUsers) {
    if (user === event.sender || users.get(user) === old) continue;
    if (old >= senderLevel) return reject(`cannot change the level of ${user}, at or above own level`);
  }
  for (const [user, now] of users) {
    if (oldUsers.get(user) !== now && now > senderLevel) return reject(`cannot give ${user} level ${now}, above own level`);
  }
  return allow;
}
