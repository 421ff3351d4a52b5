// The per-user data streams assembled for /sync (the SyncUserData contract in ./userData.ts) and for the routes
// that write them. Each stream has its own id generator, started from what storage holds.
import type { Database } from '../storage/database.ts';
import type { Logger } from '../log.ts';
import type { Notifier } from '../notifier.ts';
import type { StreamName } from '../streams/names.ts';
import type { SyncUserData, UserDataRequest, UserDataResponse } from './userData.ts';

/** The streams owned here; `push_rules` and `events` belong to others. */
export const USER_DATA_STREAMS = ['presence', 'typing', 'receipts', 'account_data', 'to_device', 'device_lists'] as const;
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
}

/** Everything /sync reads plus the services the routes write through. */
export type UserData = SyncUserData;

/** Each stream's position at boot: the largest id stored. Typing is in memory, see below. */
export async function loadUserDataPositions(db: Database, now: () => number): Promise<Record<UserDataStream, number>> {
  const { rows } = await db.query<Record<string, number | null>>(
    `SELECT (SELECT max(stream_id) FROM account_data) AS account_data,
            (SELECT max(stream_id) FROM receipts) AS receipts,
            (SELECT max(stream_id) FROM presence) AS presence,
            (SELECT max(stream_id) FROM device_list_changes) AS device_lists,
            GREATEST((SELECT max(stream_id) FROM to_device_messages), (SELECT max(stream_id) FROM to_device_txns)) AS to_device`,
  );
  const row = rows[0] ?? {};
  return {
    account_data: row['account_data'] ?? 0,
    receipts: row['receipts'] ?? 0,
    presence: row['presence'] ?? 0,
    device_lists: row['device_lists'] ?? 0,
    to_device: row['to_device'] ?? 0,
    // Typing lives in memory, so a restart would start it again from 0 below the `since` of every syncing client,
    // whose waits would then not wake for typing until it caught up. Starting from the clock (milliseconds) puts
    // every restart ahead of the positions handed out before it.
    typing: now(),
  };
}

export function createSyncUserData(deps: UserDataDeps): UserData {
  void deps;
  return {
    async syncing() {},
    async collect(request: UserDataRequest): Promise<UserDataResponse> {
      void request;
      return {
        accountData: [],
        presence: [],
        toDevice: [],
        deviceLists: { changed: [], left: [] },
        oneTimeKeysCount: { signed_curve25519: 0 },
        rooms: new Map(),
        positions: {} satisfies Partial<Record<StreamName, number>>,
      };
    },
    async ignoredUsers() {
      return new Set();
    },
    async readUpTo() {
      return new Map();
    },
  };
}
