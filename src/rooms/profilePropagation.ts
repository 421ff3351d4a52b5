// A user's displayname and avatar_url live in two places: the global profile and the content of their m.room.member
// join events. When the profile changes, every room the user is joined to gets a new join event carrying it, so
// the other members see the new name (as Synapse does). One room refusing the event (e.g. a power level change in
// the meantime) must not stop the others nor fail the profile request: failures are logged and skipped.
import type { Logger } from '../log.ts';
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import type { RoomService } from './service.ts';

/** The profile fields member events carry. */
export const MEMBER_PROFILE_FIELDS: readonly string[] = ['displayname', 'avatar_url'];

/** How many rooms get their new member event at once. */
const PARALLEL_ROOMS = 8;

export interface ProfilePropagationResult {
  updated: string[];
  unchanged: string[];
  failed: string[];
}

/**
 * Sends an updated m.room.member join event into each room the user is joined to whose current member event does
 * not already carry `profile`'s displayname and avatar_url. The other keys of the current content are kept (except
 * `reason`, which belonged to the earlier change).
 */
export async function propagateProfile(
  rooms: RoomService,
  logger: Logger,
  userId: string,
  profile: Record<string, unknown>,
): Promise<ProfilePropagationResult> {
  const result: ProfilePropagationResult = { updated: [], unchanged: [], failed: [] };
  const roomIds = await rooms.joinedRooms(userId);
  for (let i = 0; i < roomIds.length; i += PARALLEL_ROOMS) {
    await Promise.all(
      roomIds.slice(i, i + PARALLEL_ROOMS).map(async (roomId) => {
        try {
          const current = await rooms.events.currentStateEvent(roomId, 'm.room.member', userId);
          const content = current && isJsonObject(current.pdu['content']) ? current.pdu['content'] : null;
          if (!content || content['membership'] !== 'join') {
            result.unchanged.push(roomId);
            return;
          }
          const next: JsonObject = { ...content };
          delete next['reason'];
          for (const field of MEMBER_PROFILE_FIELDS) {
            const value = profile[field];
            if (typeof value === 'string') next[field] = value;
            else delete next[field];
          }
          if (MEMBER_PROFILE_FIELDS.every((f) => next[f] === content[f]) && !('reason' in content)) {
            result.unchanged.push(roomId);
            return;
          }
          // The device id is not used for state events (no txn id).
          await rooms.sendState({ userId, deviceId: '' }, roomId, 'm.room.member', userId, next);
          result.updated.push(roomId);
        } catch (error) {
          result.failed.push(roomId);
          logger.warn({ err: error, roomId, userId }, 'could not send the updated member event for a profile change');
        }
      }),
    );
  }
  return result;
}

/** Whether a changed profile field is one member events carry. */
export function affectsMemberEvents(field: string): boolean {
  return MEMBER_PROFILE_FIELDS.includes(field);
}
