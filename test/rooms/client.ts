// A small client for room tests over real HTTP: one server per suite, helpers that assert success and validate
// the response against the spec.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { BackendName } from '../helpers/database.ts';
import { startTestServer, type TestServer, type TestUser } from '../helpers/server.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';

export const V3 = '/_matrix/client/v3';
export const enc = encodeURIComponent;

export interface Response {
  status: number;
  body: unknown;
}

/** Starts one server for the enclosing suite; the getter is valid inside tests. */
export function suiteServer(backend: BackendName): () => TestServer {
  let server: TestServer | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    server = await startTestServer({ after: (fn) => cleanups.push(fn) }, { backend });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return () => {
    if (!server) throw new Error('server not started');
    return server;
  };
}

let counter = 0;
/** A fresh user with a unique localpart. */
export function newUser(server: TestServer, name = 'user'): Promise<TestUser> {
  return server.createUser(`${name}${++counter}_${process.pid}`);
}

/** Several users at once, in the order named: `const [alice, bob] = await newUsers(s, 'alice', 'bob')`. */
export function newUsers<Names extends string[]>(server: TestServer, ...names: Names): Promise<{ [K in keyof Names]: TestUser }> {
  return Promise.all(names.map((name) => newUser(server, name))) as Promise<{ [K in keyof Names]: TestUser }>;
}

/** A request whose response must be `status` and, for 2xx, must match the spec's schema. */
export async function call(
  server: TestServer,
  method: string,
  path: string,
  user: TestUser | undefined,
  body?: unknown,
  status = 200,
): Promise<Record<string, unknown>> {
  const res = await server.request(method, path, { ...(user ? { token: user.accessToken } : {}), ...(body !== undefined ? { body } : {}) });
  assert.equal(res.status, status, `${method} ${path}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  // The spec names the empty state key by leaving it (and maybe the slash) off; its template always has one.
  const template = (path.split('?')[0] as string).replace(/(\/state\/[^/]+)\/?$/, '$1/_');
  await assertMatchesSpec(method, template, status, res.body);
  return res.body as Record<string, unknown>;
}

/** A request that must fail with `status` and `errcode`. */
export async function fails(
  server: TestServer,
  method: string,
  path: string,
  user: TestUser | undefined,
  body: unknown,
  status: number,
  errcode: string,
): Promise<Record<string, unknown>> {
  const res = await server.request(method, path, { ...(user ? { token: user.accessToken } : {}), ...(body !== undefined ? { body } : {}) });
  assert.equal(res.status, status, `${method} ${path}: expected ${status} ${errcode}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal((res.body as { errcode?: string }).errcode, errcode, `${method} ${path}: ${JSON.stringify(res.body)}`);
  return res.body as Record<string, unknown>;
}

export async function createRoom(server: TestServer, user: TestUser, body: Record<string, unknown> = {}): Promise<string> {
  const res = await call(server, 'POST', `${V3}/createRoom`, user, body);
  assert.equal(typeof res['room_id'], 'string');
  return res['room_id'] as string;
}

let txn = 0;
export async function sendMessage(server: TestServer, user: TestUser, roomId: string, body: string, type = 'm.room.message'): Promise<string> {
  const res = await call(server, 'PUT', `${V3}/rooms/${enc(roomId)}/send/${enc(type)}/t${++txn}`, user, { msgtype: 'm.text', body });
  return res['event_id'] as string;
}

export async function join(server: TestServer, user: TestUser, roomId: string): Promise<void> {
  await call(server, 'POST', `${V3}/rooms/${enc(roomId)}/join`, user, {});
}

export async function invite(server: TestServer, user: TestUser, roomId: string, target: string): Promise<void> {
  await call(server, 'POST', `${V3}/rooms/${enc(roomId)}/invite`, user, { user_id: target });
}

export async function messages(server: TestServer, user: TestUser, roomId: string, query = 'dir=b&limit=50'): Promise<Record<string, unknown>> {
  return call(server, 'GET', `${V3}/rooms/${enc(roomId)}/messages?${query}`, user);
}

export type ClientEvent = { event_id: string; type: string; sender: string; state_key?: string; content: Record<string, unknown>; unsigned?: Record<string, unknown> };
