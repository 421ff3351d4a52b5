// Helpers for /sync tests over real HTTP: every response is checked against the spec's schema.
import assert from 'node:assert/strict';
import type { Database } from '../../src/storage/database.ts';
import type { TestServer, TestUser } from '../helpers/server.ts';
import { V3, call, enc, type ClientEvent } from '../rooms/client.ts';

export interface SyncBody {
  next_batch: string;
  rooms: {
    join: Record<string, JoinedRoom>;
    invite: Record<string, { invite_state: { events: StrippedEvent[] } }>;
    leave: Record<string, { timeline: Timeline; state: { events: ClientEvent[] } }>;
    knock: Record<string, { knock_state: { events: StrippedEvent[] } }>;
  };
  account_data: { events: { type: string; content: Record<string, unknown> }[] };
  presence: { events: unknown[] };
  to_device: { events: unknown[] };
}

export interface Timeline {
  events: ClientEvent[];
  limited: boolean;
  prev_batch: string;
}

export interface JoinedRoom {
  timeline: Timeline;
  state: { events: ClientEvent[] };
  ephemeral: { events: { type: string; content: Record<string, unknown> }[] };
  account_data: { events: unknown[] };
  summary?: { 'm.heroes'?: string[]; 'm.joined_member_count'?: number; 'm.invited_member_count'?: number };
  unread_notifications: { notification_count: number; highlight_count: number };
}

export interface StrippedEvent {
  type: string;
  state_key: string;
  sender: string;
  content: Record<string, unknown>;
}

/** GET /sync with the given query parameters (values are encoded here). */
export async function sync(server: TestServer, user: TestUser, params: Record<string, string | number | boolean | object> = {}): Promise<SyncBody> {
  const query = Object.entries(params)
    .map(([k, v]) => `${k}=${enc(typeof v === 'object' ? JSON.stringify(v) : String(v))}`)
    .join('&');
  return (await call(server, 'GET', `${V3}/sync${query ? `?${query}` : ''}`, user)) as unknown as SyncBody;
}

/** Resolves once `condition` holds, looking every few milliseconds. */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** True while `user` has a long poll registered with the notifier. */
export const isWaiting = (s: TestServer, user: TestUser) => (s.running.actors.userStreams.get(user.userId)?.waiters?.length ?? 0) > 0;

export function joinedRoom(body: SyncBody, roomId: string): JoinedRoom {
  const room = body.rooms.join[roomId];
  assert.ok(room, `room ${roomId} is in rooms.join: ${JSON.stringify(Object.keys(body.rooms.join))}`);
  return room;
}

export const bodiesOf = (events: readonly ClientEvent[]) => events.filter((e) => e.type === 'm.room.message').map((e) => e.content['body']);
export const typesOf = (events: readonly ClientEvent[]) => events.map((e) => e.type);

export async function setState(
  server: TestServer,
  user: TestUser,
  roomId: string,
  type: string,
  content: Record<string, unknown>,
  stateKey = '',
): Promise<string> {
  const res = await call(server, 'PUT', `${V3}/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, user, content);
  return res['event_id'] as string;
}

/** A database wrapper (startTestServer's wrapDatabase) counting the statements whose text contains `fragment`. */
export function statementCounter(fragment: string): { wrap(db: Database): Database; count(): number } {
  let n = 0;
  return {
    wrap: (db) => ({
      kind: db.kind,
      query(sql, params) {
        if (sql.includes(fragment)) n++;
        return db.query(sql, params);
      },
      transaction: (fn) => db.transaction(fn),
      listen: (channel, onNotify) => db.listen(channel, onNotify),
      close: () => db.close(),
      ...(db.poolUsage ? { poolUsage: () => db.poolUsage?.() ?? { total: 0, idle: 0, waiting: 0 } } : {}),
    }),
    count: () => n,
  };
}
