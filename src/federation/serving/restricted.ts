// Restricted joins (room versions 8+, join rules `restricted` and `knock_restricted`): a user who is not invited may
// join when they are joined to one of the rooms the join rules allow, and a resident server vouches for that by
// naming one of its users who may invite in `join_authorised_via_users_server` and signing the join. This server can
// only vouch with what it knows: memberships in rooms it is in.
import { parsePowerLevel, userPowerLevel } from '../../protocol/authRules.ts';
import type { RoomEvent, StateKey } from '../../protocol/events.ts';
import { stateKey } from '../../protocol/events.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import { isJsonObject } from '../../protocol/json.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import type { EventStore } from '../../storage/events.ts';
import { MatrixError } from '../../http/errors.ts';

const membershipOf = (e: RoomEvent | undefined) => (e ? e.content['membership'] : undefined);

/** Whether the room's join rule makes a join by `userId` need an authorising server (restricted, not invited). */
export function needsAuthorisation(state: ReadonlyMap<StateKey, RoomEvent>, userId: string, v: RoomVersion): boolean {
  if (!v.restrictedJoinRule) return false;
  const rule = state.get(stateKey('m.room.join_rules', ''))?.content['join_rule'];
  if (rule !== 'restricted' && !(rule === 'knock_restricted' && v.knockRestrictedJoinRule)) return false;
  const current = membershipOf(state.get(stateKey('m.room.member', userId)));
  return current !== 'invite' && current !== 'join';
}

/**
 * The user of ours who vouches for `userId`'s join: 400 M_UNABLE_TO_AUTHORISE_JOIN unless `userId` is joined to one
 * of the allowed rooms as far as we know, 400 M_UNABLE_TO_GRANT_JOIN when none of our joined users may invite.
 */
export async function authorisingUser(
  events: EventStore,
  state: ReadonlyMap<StateKey, RoomEvent>,
  userId: string,
  serverName: string,
  v: RoomVersion,
): Promise<string> {
  const allow = state.get(stateKey('m.room.join_rules', ''))?.content['allow'];
  const rooms = (Array.isArray(allow) ? allow : [])
    .filter(isJsonObject)
    .filter((entry) => entry['type'] === 'm.room_membership' && typeof entry['room_id'] === 'string')
    .map((entry) => entry['room_id'] as string);
  const memberships = await Promise.all(rooms.map((r) => events.currentStateEvent(r, 'm.room.member', userId)));
  const allowed = memberships.some((m) => m !== null && m.redactedBy === null && isJsonObject(m.pdu['content']) && m.pdu['content']['membership'] === 'join');
  if (!allowed) throw new MatrixError(400, 'M_UNABLE_TO_AUTHORISE_JOIN', `${userId} is not joined to any room this one allows, as far as this server knows`);
  const create = state.get(stateKey('m.room.create', ''));
  const powerLevels = state.get(stateKey('m.room.power_levels', ''));
  const needed = parsePowerLevel(powerLevels?.content['invite'], v) ?? 0;
  for (const [key, e] of state) {
    if (!key.startsWith('m.room.member\u0000') || e.state_key === undefined || domainOf(e.state_key) !== serverName) continue;
    if (membershipOf(e) !== 'join') continue;
    if (userPowerLevel(e.state_key, create, powerLevels, v) >= needed) return e.state_key;
  }
  throw new MatrixError(400, 'M_UNABLE_TO_GRANT_JOIN', 'No user of this server in the room may invite; try another server');
}
