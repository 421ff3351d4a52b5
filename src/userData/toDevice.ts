// To-device messages: stored per target device under one stream id per send, delivered by /sync at most a page
// at a time, and deleted only when the device syncs with a `since` at or past them, so a client that retries
// with an older token gets them again (never lost), and one that moved on never sees them twice.
import { domainOf } from '../protocol/identifiers.ts';
import type { JsonObject } from '../protocol/json.ts';
import type { Logger } from '../log.ts';
import type { Database } from '../storage/database.ts';
import { PostgresDeviceStore } from '../storage/devices.ts';
import { ToDeviceStore, type ToDeviceMessage } from '../storage/toDevice.ts';
import { keyOf } from '../sync/batch.ts';
import type { StreamWriter } from './streamWriter.ts';

/** At most this many messages per /sync response; next_batch then points at the last one delivered. */
export const TO_DEVICE_PAGE = 100;
const ACKNOWLEDGED_LIMIT = 100_000;

/** `messages` of /sendToDevice: user id -> device id or "*" -> content (already validated). */
export type ToDeviceMessages = Record<string, Record<string, JsonObject>>;

export class ToDeviceService {
  private readonly store: ToDeviceStore;
  private readonly writer: StreamWriter;
  private readonly serverName: string;
  private readonly logger: Logger;
  /** Per device, the `since` up to which its messages were last deleted: a repeat of it needs no DELETE. */
  private readonly acknowledged = new Map<string, number>();

  constructor(db: Database, writer: StreamWriter, serverName: string, logger: Logger) {
    this.store = new ToDeviceStore(db);
    this.writer = writer;
    this.serverName = serverName;
    this.logger = logger;
  }

  /** PUT /sendToDevice: the same (sender, device, txnId) again changes nothing. */
  async send(sender: { userId: string; deviceId: string }, type: string, txnId: string, messages: ToDeviceMessages): Promise<void> {
    const remote = Object.keys(messages).filter((u) => domainOf(u) !== this.serverName);
    if (remote.length > 0) {
      // Federation of to-device messages (m.direct_to_device EDUs) does not exist yet.
      this.logger.info({ type, remoteUsers: remote.length }, 'to-device messages for remote users dropped: not sent over federation yet');
    }
    await this.writer.write(async (tx, id) => {
      const store = new ToDeviceStore(tx);
      if (!(await store.claimTxn(sender.userId, sender.deviceId, txnId, id))) return { result: undefined, audience: {} };
      const devices = new PostgresDeviceStore(tx);
      const rows: ToDeviceMessage[] = [];
      for (const [userId, byDevice] of Object.entries(messages)) {
        if (domainOf(userId) !== this.serverName) continue;
        const existing = new Set((await devices.listDevices(userId)).map((d) => d.deviceId));
        const targets = new Map<string, JsonObject>();
        for (const [deviceId, content] of Object.entries(byDevice)) {
          if (deviceId === '*') for (const d of existing) targets.set(d, content);
        }
        // An explicit device id wins over "*" for that device; unknown devices are skipped.
        for (const [deviceId, content] of Object.entries(byDevice)) {
          if (deviceId !== '*' && existing.has(deviceId)) targets.set(deviceId, content);
        }
        for (const [deviceId, content] of targets) rows.push({ userId, deviceId, sender: sender.userId, type, content });
      }
      await store.insert(id, rows);
      return { result: undefined, audience: { users: [...new Set(rows.map((r) => r.userId))] } };
    });
  }

  /**
   * The device's messages after `since` up to `to`, after deleting those at or below `since` (acknowledged). When a
   * full page is returned, `position` is the last one's id, for next_batch.
   */
  async collect(userId: string, deviceId: string, since: number | undefined, to: number): Promise<{ events: JsonObject[]; position?: number }> {
    if (since !== undefined && since > 0) await this.acknowledge(userId, deviceId, since);
    const messages = await this.store.pending(userId, deviceId, since ?? 0, to, TO_DEVICE_PAGE);
    const events = messages.map((m) => ({ type: m.type, sender: m.sender, content: m.content }));
    const last = messages.at(-1);
    return messages.length === TO_DEVICE_PAGE && last ? { events, position: last.streamId } : { events };
  }

  private async acknowledge(userId: string, deviceId: string, since: number): Promise<void> {
    const key = keyOf(userId, deviceId);
    if ((this.acknowledged.get(key) ?? 0) >= since) return;
    await this.store.deleteUpTo(userId, deviceId, since);
    // Bounded: an entry only saves a DELETE, so forgetting them all is harmless.
    if (this.acknowledged.size >= ACKNOWLEDGED_LIMIT) this.acknowledged.clear();
    this.acknowledged.set(key, since);
  }

  /** Deleted devices never read their queue. */
  async devicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.store.deleteForDevices(userId, deviceIds);
  }
}
