// The per-user data streams assembled for /sync (the SyncUserData contract in ./userData.ts) and for the routes
// that write them. Each stream has its own id generator, started from what storage holds.
import type { Database } from '../storage/database.ts';
import type { Logger } from '../log.ts';
import type { Notifier } from '../notifier.ts';
import type { StreamName } from '../streams/names.ts';
import type { StreamToken } from '../streams/token.ts';
import { EventStore } from '../storage/events.ts';
import { SharedRoomStore } from '../storage/sharedRooms.ts';
import { PostgresUserStore } from '../storage/users.ts';
import { AccountDataService } from '../userData/accountData.ts';
import { DeviceListService } from '../userData/deviceLists.ts';
import { RoomAccess } from '../userData/membership.ts';
import { PresenceService, SWEEP_INTERVAL_MS } from '../userData/presence.ts';
import { ReceiptService } from '../userData/receipts.ts';
import { StreamWriter } from '../userData/streamWriter.ts';
import { ToDeviceService } from '../userData/toDevice.ts';
import { PushRulesService } from '../pushRules/service.ts';
import { buildRuleset, parseUserPushRules, pushRulesContent } from '../pushRules/userRules.ts';
import { PushRulesStore, type StoredPushRules } from '../storage/pushRules.ts';
import { realTimers, type Timers } from '../userData/timers.ts';
import { TypingService } from '../userData/typing.ts';
import { Batch } from './batch.ts';
import type { RoomUserData, SyncUserData, UserDataRequest, UserDataResponse } from './userData.ts';

/** The streams owned here; `events` belongs to the rooms. */
export const USER_DATA_STREAMS = ['presence', 'typing', 'receipts', 'account_data', 'to_device', 'device_lists', 'push_rules'] as const;
export type UserDataStream = (typeof USER_DATA_STREAMS)[number];

export interface UserDataDeps {
  db: Database;
  notifier: Notifier;
  logger: Logger;
  serverName: string;
  presenceEnabled: boolean;
  /** Boot positions from loadUserDataPositions (also part of the actor system's initial token). */
  positions: Record<UserDataStream, number>;
  now: () => number;
  /** Timers for typing expiry and the presence sweep (default: real ones). */
  timers?: Timers;
}

/** Everything /sync reads plus the services the routes write through. */
export interface UserData extends SyncUserData {
  accountData: AccountDataService;
  receipts: ReceiptService;
  typing: TypingService;
  presence: PresenceService;
  toDevice: ToDeviceService;
  deviceLists: DeviceListService;
  pushRules: PushRulesService;
  /** The current position of each stream owned here. */
  positions(): Record<UserDataStream, number>;
  close(): void;
}

/** Each stream's position at boot: the largest id stored. Typing is in memory, see below. */
export async function loadUserDataPositions(db: Database, now: () => number): Promise<Record<UserDataStream, number>> {
  const { rows } = await db.query<Record<string, number | null>>(
    `SELECT (SELECT max(stream_id) FROM account_data) AS account_data,
            (SELECT max(stream_id) FROM receipts) AS receipts,
            (SELECT max(stream_id) FROM presence) AS presence,
            (SELECT max(stream_id) FROM device_list_changes) AS device_lists,
            (SELECT max(stream_id) FROM push_rules) AS push_rules,
            GREATEST((SELECT max(stream_id) FROM to_device_messages), (SELECT max(stream_id) FROM to_device_txns)) AS to_device`,
  );
  const row = rows[0] ?? {};
  return {
    account_data: row['account_data'] ?? 0,
    receipts: row['receipts'] ?? 0,
    presence: row['presence'] ?? 0,
    device_lists: row['device_lists'] ?? 0,
    to_device: row['to_device'] ?? 0,
    push_rules: row['push_rules'] ?? 0,
    // Typing lives in memory, so a restart would start it again from 0 below the `since` of every syncing client,
    // whose waits would then not wake for typing until it caught up. Starting from the clock (milliseconds) puts
    // every restart ahead of the positions handed out before it.
    typing: now(),
  };
}

export function createSyncUserData(deps: UserDataDeps): UserData {
  const { db, notifier, positions } = deps;
  const writers = {
    account_data: new StreamWriter(db, notifier, 'account_data', positions.account_data),
    receipts: new StreamWriter(db, notifier, 'receipts', positions.receipts),
    presence: new StreamWriter(db, notifier, 'presence', positions.presence),
    to_device: new StreamWriter(db, notifier, 'to_device', positions.to_device),
    device_lists: new StreamWriter(db, notifier, 'device_lists', positions.device_lists),
    push_rules: new StreamWriter(db, notifier, 'push_rules', positions.push_rules),
  };
  const shared = new SharedRoomStore(db);
  const access = new RoomAccess(shared, new EventStore(db));
  const accountData = new AccountDataService(db, writers.account_data);
  const receipts = new ReceiptService(db, writers.receipts, access, accountData, deps.now);
  const timers = deps.timers ?? realTimers;
  const typing = new TypingService(notifier, access, timers, positions.typing);
  const presence = new PresenceService({
    db,
    writer: writers.presence,
    shared,
    users: new PostgresUserStore(db),
    enabled: deps.presenceEnabled,
    now: deps.now,
  });
  // Users who stopped syncing go offline; the sweep runs again after each run (never two at once).
  let closed = false;
  let cancelSweep = () => {};
  const scheduleSweep = () => {
    cancelSweep = timers.setTimer(SWEEP_INTERVAL_MS, () => {
      presence
        .sweep()
        .catch((err: unknown) => {
          if (!closed) deps.logger.warn({ err }, 'presence sweep failed');
        })
        .finally(() => {
          if (!closed) scheduleSweep();
        });
    });
  };
  if (deps.presenceEnabled) scheduleSweep();
  const toDevice = new ToDeviceService(db, writers.to_device, deps.serverName, deps.logger);
  const deviceLists = new DeviceListService(db, writers.device_lists, shared);
  const pushRules = new PushRulesService(db, writers.push_rules);
  // Each user's stored rules, read for many initial syncs at once (a thousand clients starting together).
  const storedRules = new Batch<StoredPushRules | null>((userIds) => new PushRulesStore(db).getMany(userIds), () => null);

  return {
    accountData,
    receipts,
    typing,
    presence,
    toDevice,
    deviceLists,
    pushRules,
    positions: () => ({
      account_data: writers.account_data.position,
      receipts: writers.receipts.position,
      presence: writers.presence.position,
      to_device: writers.to_device.position,
      device_lists: writers.device_lists.position,
      push_rules: writers.push_rules.position,
      typing: typing.position,
    }),
    close() {
      closed = true;
      cancelSweep();
      typing.close();
      for (const w of Object.values(writers)) w.close();
    },
    syncing: (userId, setPresence) => presence.syncing(userId, setPresence),
    ignoredUsers: (userId) => accountData.ignoredUsers(userId),
    readUpTo: (userId, roomIds) => receipts.readUpTo(userId, roomIds),
    async collect(request: UserDataRequest): Promise<UserDataResponse> {
      const { userId, since, to } = request;
      const position = (token: StreamToken | undefined, stream: StreamName) => token?.get(stream);
      const shown = (stream: StreamName) => !request.hidden?.has(stream);
      const ignored = await accountData.ignoredUsers(userId);
      const [account, receiptEvents, presenceEvents, toDeviceEvents, lists, rules] = await Promise.all([
        accountData.collect(userId, position(since, 'account_data'), to.get('account_data'), request.joinedRoomIds, request.newlyJoinedRoomIds),
        shown('receipts')
          ? receipts.collect(userId, position(since, 'receipts'), to.get('receipts'), request.joinedRoomIds, request.newlyJoinedRoomIds, ignored)
          : [],
        // An initial sync would otherwise read the presence of everyone the user shares a room with, only to drop it.
        shown('presence') ? presence.collect(userId, position(since, 'presence'), to.get('presence'), request.newlyJoinedRoomIds, ignored) : [],
        // to-device is acknowledged by `since` even on a full_state sync: /sync passes it whenever the client did.
        toDevice.collect(userId, request.deviceId, position(since, 'to_device'), to.get('to_device')),
        deviceLists.collect({
          userId,
          ...(since ? { since: { deviceLists: since.get('device_lists'), events: since.get('events') } } : {}),
          to: { deviceLists: to.get('device_lists'), events: to.get('events') },
          joinedRoomIds: request.joinedRoomIds,
          newlyJoinedRoomIds: request.newlyJoinedRoomIds,
          newlyLeftRoomIds: request.newlyLeftRoomIds,
        }),
        collectPushRules(storedRules, userId, position(since, 'push_rules'), to.get('push_rules')),
      ]);
      const typingEvents = shown('typing') ? typing.collect(position(since, 'typing'), request.joinedRoomIds, request.newlyJoinedRoomIds, ignored) : [];
      const rooms = new Map<string, RoomUserData>();
      const room = (roomId: string): RoomUserData => {
        let entry = rooms.get(roomId);
        if (!entry) {
          entry = { ephemeral: [], accountData: [] };
          rooms.set(roomId, entry);
        }
        return entry;
      };
      for (const [roomId, event] of typingEvents) room(roomId).ephemeral.push(event);
      for (const [roomId, event] of receiptEvents) room(roomId).ephemeral.push(event);
      for (const [roomId, events] of account.rooms) room(roomId).accountData.push(...events);
      return {
        accountData: rules ? [...account.global, rules] : account.global,
        presence: presenceEvents,
        toDevice: toDeviceEvents.events,
        deviceLists: lists,
        oneTimeKeysCount: { signed_curve25519: 0 },
        rooms,
        positions: toDeviceEvents.position !== undefined ? { to_device: toDeviceEvents.position } : {},
      };
    },
  };
}

/**
 * m.push_rules in the global account data: on an initial sync, and when the user's rules row was written in
 * (since, to] (every change moves its stream id).
 */
async function collectPushRules(stored: Batch<StoredPushRules | null>, userId: string, since: number | undefined, to: number) {
  if (since !== undefined && since >= to) return undefined;
  const row = await stored.get(userId);
  if (since !== undefined && !(row && row.streamId > since && row.streamId <= to)) return undefined;
  return { type: 'm.push_rules', content: pushRulesContent(buildRuleset(userId, parseUserPushRules(row?.rules ?? null))) };
}
