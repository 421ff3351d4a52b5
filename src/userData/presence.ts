// Presence: set with PUT /presence and by /sync's set_presence, seen by the user and by those who share a joined
// room with them. Can be turned off in config: then nothing is stored, /sync's presence is empty and GET answers
// offline, as Synapse does.
import type { JsonObject } from '../protocol/json.ts';
import type { Database, Queryable } from '../storage/database.ts';
import type { Audience } from '../streams/announcer.ts';
import { PresenceStore, type PresenceRow, type PresenceValue } from '../storage/presence.ts';
import type { SharedRoomStore } from '../storage/sharedRooms.ts';
import type { UserStore } from '../storage/users.ts';
import { userDataForbidden, userDataNotFound } from './errors.ts';
import { Batch, keyOf, partsOf } from '../sync/batch.ts';
import type { StreamWriter } from './streamWriter.ts';

/** A syncing user who is already online is written again only this long after their last write. */
export const LAST_ACTIVE_GRANULARITY_MS = 60_000;
/**
 * A user whose presence nothing refreshed (a /sync refreshes it every LAST_ACTIVE_GRANULARITY_MS) for this long has
 * stopped syncing: the sweep sets them offline. Kept in storage, so it holds across restarts.
 */
export const OFFLINE_AFTER_MS = 5 * 60_000;
/** How often the sweep runs, and how many users it sets offline at most per run. */
export const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 500;
const RECENT_LIMIT = 100_000;

export interface PresenceStatus {
  presence: PresenceValue;
  last_active_ago?: number;
  status_msg?: string | null;
  currently_active?: boolean;
}

export class PresenceService {
  private readonly store: PresenceStore;
  private readonly writer: StreamWriter;
  private readonly shared: SharedRoomStore;
  private readonly users: UserStore;
  private readonly enabled: boolean;
  private readonly now: () => number;
  /**
   * The presence each local user last had written here, so that a /sync of a user who is already online (nearly every
   * one) costs no read. Trusted only within LAST_ACTIVE_GRANULARITY_MS of its write, after which the row is read
   * again: a race with the sweep can then not keep a stale answer for longer than storage alone would.
   */
  private readonly recent = new Map<string, PresenceRow>();
  /** Presence changed for a viewer in (after, upTo], read for many viewers at once. */
  private readonly changed: Batch<PresenceRow[]>;
  /** Each syncing user's current row, read for many users starting to sync at once. */
  private readonly current: Batch<PresenceRow | null>;

  constructor(opts: { db: Database; writer: StreamWriter; shared: SharedRoomStore; users: UserStore; enabled: boolean; now: () => number }) {
    this.store = new PresenceStore(opts.db);
    this.writer = opts.writer;
    this.shared = opts.shared;
    this.users = opts.users;
    this.enabled = opts.enabled;
    this.now = opts.now;
    this.changed = new Batch(async (keys) => {
      const ranges = keys.map((key) => {
        const [viewer, after, upTo] = partsOf(key);
        return { viewer: viewer as string, after: Number(after), upTo: Number(upTo) };
      });
      const found = await this.store.changedForViewers(ranges);
      return new Map(keys.map((key, i) => [key, found.get(i) ?? []]));
    }, () => []);
    this.current = new Batch((userIds) => this.store.getMany(userIds), () => null);
  }

  /** PUT /presence/{userId}/status. */
  async set(requester: string, userId: string, presence: PresenceValue, statusMsg: string | undefined): Promise<void> {
    if (requester !== userId) throw userDataForbidden('Cannot set the presence of another user');
    if (!this.enabled) return;
    const now = this.now();
    await this.write({ userId, state: presence, statusMsg: statusMsg ?? null, lastActiveTs: now, currentlyActive: presence === 'online', streamId: 0 });
  }

  /** A /sync request started with this set_presence: offline leaves presence as it is. */
  async syncing(userId: string, presence: PresenceValue): Promise<void> {
    if (!this.enabled || presence === 'offline') return;
    const now = this.now();
    const known = this.recent.get(userId);
    if (known && known.state === presence && now - known.lastActiveTs < LAST_ACTIVE_GRANULARITY_MS && now >= known.lastActiveTs) return;
    const current = await this.current.get(userId);
    if (current && current.state === presence) {
      if (now - current.lastActiveTs < LAST_ACTIVE_GRANULARITY_MS) return;
      // Still there: refreshed for the sweep without telling anyone. Every online user's heartbeat would otherwise
      // wake all their room-mates each minute (Synapse, too, does not notify a bump of a currently active user).
      if (current.currentlyActive === (presence === 'online')) {
        await this.store.touch(userId, now);
        this.remember({ ...current, lastActiveTs: now });
        return;
      }
    }
    await this.write({
      userId,
      state: presence,
      statusMsg: current?.statusMsg ?? null,
      lastActiveTs: now,
      currentlyActive: presence === 'online',
      streamId: 0,
    });
  }

  private async write(row: PresenceRow): Promise<void> {
    this.recent.delete(row.userId);
    const written = await this.writer.write(async (tx, id) => {
      await new PresenceStore(tx).put({ ...row, streamId: id });
      return { result: { ...row, streamId: id }, audience: await audienceOf(tx, row.userId) };
    });
    this.remember(written);
  }

  private remember(row: PresenceRow): void {
    // Bounded: an entry only saves a read.
    if (this.recent.size >= RECENT_LIMIT) this.recent.clear();
    this.recent.set(row.userId, row);
  }

  /** Sets offline the users who stopped syncing; returns how many. */
  async sweep(): Promise<number> {
    if (!this.enabled) return 0;
    const cutoff = this.now() - OFFLINE_AFTER_MS;
    let count = 0;
    for (const userId of await this.store.staleUsers(cutoff, SWEEP_BATCH)) {
      this.recent.delete(userId);
      const changed = await this.writer.write(async (tx, id) => {
        if (!(await new PresenceStore(tx).markOfflineIfStale(userId, cutoff, id))) return { result: false, audience: {} };
        return { result: true, audience: await audienceOf(tx, userId) };
      });
      this.recent.delete(userId);
      if (changed) count++;
    }
    return count;
  }

  /** GET /presence/{userId}/status: yourself, or someone who shares a room with you. */
  async get(requester: string, userId: string): Promise<PresenceStatus> {
    if (!this.enabled) return { presence: 'offline' };
    if (requester !== userId && !(await this.shared.shareRoom(requester, userId))) {
      throw userDataForbidden('You are not allowed to see their presence');
    }
    const row = await this.store.get(userId);
    if (!row) {
      if (requester !== userId && !(await this.users.getUser(userId))) throw userDataNotFound('No presence for this user');
      return { presence: 'offline' };
    }
    return this.status(row);
  }

  private status(row: PresenceRow): PresenceStatus {
    return {
      presence: row.state,
      last_active_ago: Math.max(0, this.now() - row.lastActiveTs),
      currently_active: row.currentlyActive,
      ...(row.statusMsg !== null ? { status_msg: row.statusMsg } : {}),
    };
  }

  /**
   * m.presence events of the user and those who share a room with them, changed in (since, to]; everything on an
   * initial sync, and the current presence of the members of rooms joined since `since`.
   */
  async collect(userId: string, since: number | undefined, to: number, newlyJoinedRoomIds: readonly string[], ignored: ReadonlySet<string>): Promise<JsonObject[]> {
    if (!this.enabled) return [];
    const rows = since !== undefined && since >= to ? [] : [...(await this.changed.get(keyOf(userId, since ?? 0, to)))];
    if (since !== undefined && newlyJoinedRoomIds.length > 0) {
      const seen = new Set(rows.map((r) => r.userId));
      const members = (await this.shared.joinedMembers(newlyJoinedRoomIds)).filter((u) => !seen.has(u));
      rows.push(...(await this.store.changedAmong(members, 0, to)));
    }
    return rows
      .filter((r) => !ignored.has(r.userId))
      .map((r) => ({ type: 'm.presence', sender: r.userId, content: this.status(r) as unknown as JsonObject }));
  }
}

/** Who hears of a user's presence: the user and the members of their joined rooms. */
async function audienceOf(tx: Queryable, userId: string): Promise<Audience> {
  const { rows } = await tx.query<{ room_id: string }>("SELECT room_id FROM local_memberships WHERE user_id = $1 AND membership = 'join'", [userId]);
  return { users: [userId], rooms: rows.map((r) => r.room_id) };
}
