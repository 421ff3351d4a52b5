// Account data, global and per room (tags are room account data of type m.tag), and the ignored users list
// (m.ignored_user_list), which every read of room events consults and so is cached per user.
import { isValidUserId } from '../protocol/identifiers.ts';
import { isJsonObject, type JsonObject } from '../protocol/json.ts';
import { AccountDataStore, GLOBAL } from '../storage/accountData.ts';
import type { Database, Transaction } from '../storage/database.ts';
import type { StreamWriter } from './streamWriter.ts';
import { userDataBadJson } from './errors.ts';
import { Batch } from '../sync/batch.ts';

export const IGNORED_USER_LIST = 'm.ignored_user_list';
export const TAGS = 'm.tag';
export const FULLY_READ = 'm.fully_read';

const IGNORED_CACHE_LIMIT = 10_000;

export interface AccountDataSection {
  global: JsonObject[];
  rooms: Map<string, JsonObject[]>;
}

export class AccountDataService {
  private readonly store: AccountDataStore;
  private readonly writer: StreamWriter;
  private readonly ignored = new Map<string, ReadonlySet<string>>();
  /** Bumped on every write of an ignored list, so a read that raced with it does not cache the old list. */
  private ignoredWrites = 0;
  /** Ignored-user lists missing from the cache, read for many users at once (a thousand clients starting to sync). */
  private readonly ignoredLists: Batch<JsonObject | null>;

  constructor(db: Database, writer: StreamWriter) {
    this.store = new AccountDataStore(db);
    this.ignoredLists = new Batch((userIds) => this.store.getForUsers(userIds, GLOBAL, IGNORED_USER_LIST), () => null);
    this.writer = writer;
  }

  /** Sets one type of the user's account data ('' roomId: global). Throws M_BAD_JSON for an invalid ignore list. */
  async set(userId: string, roomId: string, type: string, content: JsonObject): Promise<void> {
    if (roomId === GLOBAL && type === IGNORED_USER_LIST) validateIgnoredUsers(content);
    await this.writer.write(async (tx, id) => {
      await new AccountDataStore(tx).put(userId, roomId, type, content, id);
      return { result: undefined, audience: { users: [userId] } };
    });
    if (roomId === GLOBAL && type === IGNORED_USER_LIST) {
      this.ignoredWrites++;
      this.ignored.delete(userId);
    }
  }

  /**
   * Reads and rewrites one type in one transaction (tags: adding one must not lose a concurrent other). `update`
   * returns null to leave it unchanged.
   */
  async update(userId: string, roomId: string, type: string, update: (current: JsonObject | null) => JsonObject | null): Promise<void> {
    await this.writer.write(async (tx: Transaction, id) => {
      const store = new AccountDataStore(tx);
      // Serialises concurrent updates of the same user's account data.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1::text))', [`account_data:${userId}`]);
      const next = update(await store.get(userId, roomId, type));
      if (next === null) return { result: undefined, audience: {} };
      await store.put(userId, roomId, type, next, id);
      return { result: undefined, audience: { users: [userId] } };
    });
  }

  async get(userId: string, roomId: string, type: string): Promise<JsonObject | null> {
    return this.store.get(userId, roomId, type);
  }

  async ignoredUsers(userId: string): Promise<ReadonlySet<string>> {
    const cached = this.ignored.get(userId);
    if (cached) return cached;
    const writes = this.ignoredWrites;
    const content = await this.ignoredLists.get(userId);
    const list = content && isJsonObject(content['ignored_users']) ? Object.keys(content['ignored_users']) : [];
    const users: ReadonlySet<string> = new Set(list);
    if (writes === this.ignoredWrites) {
      if (this.ignored.size >= IGNORED_CACHE_LIMIT) this.ignored.clear();
      this.ignored.set(userId, users);
    }
    return users;
  }

  /**
   * Global account data and room account data of the joined rooms changed in (since, to]; everything on an
   * initial sync, and everything of the rooms joined since `since`.
   */
  async collect(userId: string, since: number | undefined, to: number, joinedRoomIds: readonly string[], newlyJoinedRoomIds: readonly string[]): Promise<AccountDataSection> {
    // Most incremental syncs (a message woke the user): nothing to read.
    if (since !== undefined && since >= to && newlyJoinedRoomIds.length === 0) return { global: [], rooms: new Map() };
    const joined = new Set(joinedRoomIds);
    const rows = await this.store.changed(userId, since ?? 0, to);
    if (since !== undefined) {
      const seen = new Set(rows.map((r) => `${r.roomId}\u0000${r.type}`));
      for (const r of await this.store.inRooms(userId, newlyJoinedRoomIds, to)) {
        if (!seen.has(`${r.roomId}\u0000${r.type}`)) rows.push(r);
      }
    }
    const section: AccountDataSection = { global: [], rooms: new Map() };
    for (const r of rows) {
      const event = { type: r.type, content: r.content };
      if (r.roomId === GLOBAL) section.global.push(event);
      else if (joined.has(r.roomId)) {
        const list = section.rooms.get(r.roomId) ?? [];
        list.push(event);
        section.rooms.set(r.roomId, list);
      }
    }
    return section;
  }
}

function validateIgnoredUsers(content: JsonObject): void {
  const users = content['ignored_users'];
  if (!isJsonObject(users)) throw userDataBadJson('ignored_users must be an object');
  for (const [userId, value] of Object.entries(users)) {
    if (!isValidUserId(userId)) throw userDataBadJson(`ignored_users: ${userId} is not a valid user id`);
    if (!isJsonObject(value)) throw userDataBadJson(`ignored_users: the value for ${userId} must be an object`);
  }
}
