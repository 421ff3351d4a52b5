// Which application services care about what (Application Service API, "Registration" and
// "Pushing events"), as pure functions over compiled registrations. Nothing here reads storage: the
// caller passes a room's aliases and joined members, either as lists or as lookups that are only
// called when the cheaper checks have not decided already.
import type { Namespace, Registration } from './registration.ts';

/** The fields of an event that decide interest. */
export interface InterestEvent {
  type: string;
  sender: string;
  room_id: string;
  state_key?: string;
}

/** What the caller knows about the event's room. Members are the room's joined members (any server). */
export interface RoomFacts {
  aliases?: readonly string[];
  joinedMembers?: readonly string[];
}

type Lookup = () => readonly string[] | Promise<readonly string[]>;

/** The same facts as lookups, called at most once each and only when needed. */
export interface RoomLookups {
  aliases?: Lookup;
  joinedMembers?: Lookup;
}

function match(namespaces: readonly Namespace[], value: string): Namespace | undefined {
  return namespaces.find((ns) => ns.regex.test(value));
}

function serverOf(id: string): string {
  return id.slice(id.indexOf(':') + 1);
}

/** The user ID is covered by the service's users namespaces (the sender is not, unless a regex says so). */
export function userInNamespace(reg: Registration, userId: string): boolean {
  return match(reg.namespaces.users, userId) !== undefined;
}

export function aliasInNamespace(reg: Registration, alias: string): boolean {
  return match(reg.namespaces.aliases, alias) !== undefined;
}

export function roomIdInNamespace(reg: Registration, roomId: string): boolean {
  return match(reg.namespaces.rooms, roomId) !== undefined;
}

/** The service's sender or a user in its namespaces: whom it is interested in and may act as. */
export function isInterestedInUser(reg: Registration, userId: string): boolean {
  return userId === reg.senderUserId || userInNamespace(reg, userId);
}

/**
 * Whom the service may act as through `user_id`: its sender, or a user of this server in its users
 * namespaces. Never a remote user, whatever the regex says.
 */
export function mayActAsUser(reg: Registration, userId: string): boolean {
  return isInterestedInUser(reg, userId) && serverOf(userId) === serverOf(reg.senderUserId);
}

/** The first namespace that matches decides exclusivity, as in Synapse; the sender is always exclusive. */
export function isExclusiveUser(reg: Registration, userId: string): boolean {
  return userId === reg.senderUserId || match(reg.namespaces.users, userId)?.exclusive === true;
}

export function isExclusiveAlias(reg: Registration, alias: string): boolean {
  return match(reg.namespaces.aliases, alias)?.exclusive === true;
}

export function isExclusiveRoom(reg: Registration, roomId: string): boolean {
  return match(reg.namespaces.rooms, roomId)?.exclusive === true;
}

/**
 * The service that claims this user ID exclusively, if any: an ordinary registration or login of that
 * user ID is refused (M_EXCLUSIVE), and only that service may register it.
 */
export function exclusiveServiceForUser(regs: readonly Registration[], userId: string): Registration | undefined {
  return regs.find((reg) => isExclusiveUser(reg, userId));
}

/** The service that claims this alias exclusively, if any: nobody else may create it. */
export function exclusiveServiceForAlias(regs: readonly Registration[], alias: string): Registration | undefined {
  return regs.find((reg) => isExclusiveAlias(reg, alias));
}

/**
 * The service to ask about an unknown user (GET /_matrix/app/v1/users/{userId}): an exclusive claim
 * wins over a shared one; among equals, the first in app_service_config_files order.
 */
export function findServiceForUser(regs: readonly Registration[], userId: string): Registration | undefined {
  return exclusiveServiceForUser(regs, userId) ?? regs.find((reg) => isInterestedInUser(reg, userId));
}

/** The service to ask about an unknown alias (GET /_matrix/app/v1/rooms/{alias}), exclusive first. */
export function findServiceForAlias(regs: readonly Registration[], alias: string): Registration | undefined {
  return exclusiveServiceForAlias(regs, alias) ?? regs.find((reg) => aliasInNamespace(reg, alias));
}

/** Joined members count only when they are users of this server (a regex may be loose about the server). */
function hasLocalMemberOf(reg: Registration, members: readonly string[]): boolean {
  const local = serverOf(reg.senderUserId);
  return members.some((m) => serverOf(m) === local && isInterestedInUser(reg, m));
}

/** The room's id or one of its aliases is in the namespaces, or one of the service's users is joined. */
export function isInterestedInRoom(reg: Registration, roomId: string, facts: RoomFacts): boolean {
  if (roomIdInNamespace(reg, roomId)) return true;
  if ((facts.aliases ?? []).some((a) => aliasInNamespace(reg, a))) return true;
  return hasLocalMemberOf(reg, facts.joinedMembers ?? []);
}

/** The event's sender, or the target of a membership event, is the service's sender or in its users namespaces. */
function interestedInParties(reg: Registration, event: InterestEvent): boolean {
  if (isInterestedInUser(reg, event.sender)) return true;
  // Only a membership event's state_key names a user the event is about ("the target of the event").
  return event.type === 'm.room.member' && event.state_key !== undefined && isInterestedInUser(reg, event.state_key);
}

/**
 * Whether the service is sent this room event: its sender or membership target is one of the service's
 * users, or the service is interested in the room (id, alias, or a joined member of its own).
 */
export function isInterestedInEvent(reg: Registration, event: InterestEvent, facts: RoomFacts): boolean {
  return interestedInParties(reg, event) || isInterestedInRoom(reg, event.room_id, facts);
}

/** As isInterestedInEvent, but asks for aliases, then members, only when the cheaper checks did not decide. */
export async function isInterestedInEventLazily(
  reg: Registration,
  event: InterestEvent,
  lookups: RoomLookups,
): Promise<boolean> {
  if (interestedInParties(reg, event) || roomIdInNamespace(reg, event.room_id)) return true;
  if (reg.namespaces.aliases.length > 0 && lookups.aliases) {
    if ((await lookups.aliases()).some((a) => aliasInNamespace(reg, a))) return true;
  }
  return lookups.joinedMembers ? hasLocalMemberOf(reg, await lookups.joinedMembers()) : false;
}

/** The services interested in an event, in registration order. */
export function servicesInterestedInEvent(
  regs: readonly Registration[],
  event: InterestEvent,
  facts: RoomFacts,
): Registration[] {
  return regs.filter((reg) => isInterestedInEvent(reg, event, facts));
}

/** A to-device message for this recipient goes to the service if it asked for them and the recipient is its user. */
export function isInterestedInToDevice(reg: Registration, recipientUserId: string): boolean {
  return reg.receiveToDevice && mayActAsUser(reg, recipientUserId);
}
