// EDUs received in a transaction, handed to the per-user data services (src/userData) that local clients write
// through too. A server speaks only for its own users: an EDU about a user of another server is ignored. The
// services check the rest (the user is joined to the room, the event exists), and a refusal only skips that part.
// Presence and device list changes are announced by those services to the rooms of the user's local memberships,
// which a remote user has none of; so the local members of the rooms the remote user is joined to are woken here.
import type { Logger } from '../../log.ts';
import type { Notifier } from '../../notifier.ts';
import type { Queryable } from '../../storage/database.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import { isJsonObject, type JsonObject } from '../../protocol/json.ts';
import type { UserData } from '../../sync/userDataSource.ts';
import type { EduHandler } from './transactions.ts';

export type EduServices = Pick<UserData, 'typing' | 'receipts' | 'presence' | 'toDevice' | 'deviceLists' | 'positions'>;

const PRESENCE_VALUES = new Set(['online', 'offline', 'unavailable']);

export interface EduHandlerOptions {
  services: EduServices;
  db: Queryable;
  notifier: Pick<Notifier, 'notify'>;
  serverName: string;
  logger: Logger;
}

export function federationEduHandler(opts: EduHandlerOptions): EduHandler {
  const { services, serverName, logger } = opts;
  const wakeRoomsOf = async (userId: string, stream: 'presence' | 'device_lists') => {
    const { rows } = await opts.db.query<{ room_id: string }>(
      "SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = $1 AND membership = 'join'",
      [userId],
    );
    if (rows.length > 0) opts.notifier.notify({ stream, position: services.positions()[stream], rooms: rows.map((r) => r.room_id) });
  };
  const ours = (origin: string, userId: unknown): userId is string => typeof userId === 'string' && domainOf(userId) === origin;
  // One part of an EDU failing (not joined, unknown event) must not stop the others.
  const each = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      logger.info({ edu: what, err: (error as Error).message }, 'part of an EDU refused');
    }
  };
  return async (origin, eduType, content) => {
    switch (eduType) {
      case 'm.typing': {
        const { room_id: roomId, user_id: userId, typing } = content;
        if (typeof roomId !== 'string' || !ours(origin, userId) || typeof typing !== 'boolean') return;
        await each('m.typing', () => services.typing.set(userId, userId, roomId, typing, undefined));
        return;
      }
      case 'm.receipt': {
        for (const [roomId, byType] of Object.entries(content)) {
          const read = isJsonObject(byType) ? byType['m.read'] : undefined;
          if (!isJsonObject(read)) continue;
          for (const [userId, receipt] of Object.entries(read)) {
            if (!ours(origin, userId) || !isJsonObject(receipt) || !Array.isArray(receipt['event_ids'])) continue;
            const data = isJsonObject(receipt['data']) ? receipt['data'] : {};
            const threadId = typeof data['thread_id'] === 'string' ? data['thread_id'] : undefined;
            for (const eventId of receipt['event_ids']) {
              if (typeof eventId === 'string') await each('m.receipt', () => services.receipts.send(userId, roomId, 'm.read', eventId, threadId));
            }
          }
        }
        return;
      }
      case 'm.presence': {
        const updates = Array.isArray(content['push']) ? content['push'] : [];
        for (const update of updates) {
          if (!isJsonObject(update) || !ours(origin, update['user_id'])) continue;
          const presence = update['presence'];
          if (typeof presence !== 'string' || !PRESENCE_VALUES.has(presence)) continue;
          const userId = update['user_id'] as string;
          const statusMsg = typeof update['status_msg'] === 'string' ? update['status_msg'] : undefined;
          await each('m.presence', async () => {
            await services.presence.set(userId, userId, presence as 'online' | 'offline' | 'unavailable', statusMsg);
            await wakeRoomsOf(userId, 'presence');
          });
        }
        return;
      }
      case 'm.device_list_update': {
        if (!ours(origin, content['user_id'])) return;
        await services.deviceLists.changed(content['user_id']);
        await wakeRoomsOf(content['user_id'], 'device_lists');
        return;
      }
      case 'm.direct_to_device': {
        const { sender, type, message_id: messageId, messages } = content;
        if (!ours(origin, sender) || typeof type !== 'string' || typeof messageId !== 'string' || !isJsonObject(messages)) return;
        // Only messages for our users; the message id makes a resent EDU change nothing.
        const local: Record<string, Record<string, JsonObject>> = {};
        for (const [userId, byDevice] of Object.entries(messages)) {
          if (domainOf(userId) !== serverName || !isJsonObject(byDevice)) continue;
          const devices: Record<string, JsonObject> = {};
          for (const [deviceId, message] of Object.entries(byDevice)) if (isJsonObject(message)) devices[deviceId] = message;
          local[userId] = devices;
        }
        if (Object.keys(local).length === 0) return;
        await services.toDevice.send({ userId: sender, deviceId: '' }, type, messageId, local);
        return;
      }
      default:
        // Other EDU types (e.g. m.signing_key_update) are not handled yet and are ignored, as the spec allows.
        return;
    }
  };
}
