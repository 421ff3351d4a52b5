// How many sequential database round trips an incremental /sync makes: the latency of a long poll woken by one message
// is mostly that chain (issue #6's sync benchmark). The server's database is wrapped so that, while counting, queries
// are held and released in waves: everything asked is released together once the previous wave has answered and no
// new query has arrived for a number of event-loop turns. A query that needs another's answer lands in a later wave, so
// the number of waves is the length of the longest chain of queries, whatever the machine's speed.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Database, QueryResult } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer, type TestUser } from '../helpers/server.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';

/** Turns without a new query after which the pending ones go: more than any chain of setImmediate between two reads. */
const QUIET_TURNS = 20;

const BENCH_FILTER = { room: { timeline: { limit: 5 }, state: { lazy_load_members: true } }, presence: { not_types: ['*'] } };

interface WaveCounter {
  wrap(db: Database): Database;
  /** Counts the waves of queries `fn` makes; each wave is listed by the start of its statements. */
  count<T>(fn: () => Promise<T>): Promise<{ result: T; waves: string[][] }>;
}

function waveCounter(): WaveCounter {
  let counting = false;
  let pending: { sql: string; go: () => void }[] = [];
  let inFlight = 0;
  let ticking = false;
  let seen = 0;
  let quiet = 0;
  let waves: string[][] = [];

  const tick = () => {
    if (!counting || inFlight > 0 || pending.length === 0) {
      ticking = false;
      return;
    }
    if (pending.length !== seen) {
      seen = pending.length;
      quiet = 0;
    } else if (++quiet >= QUIET_TURNS) {
      const wave = pending;
      pending = [];
      seen = 0;
      quiet = 0;
      ticking = false;
      waves.push(wave.map((q) => q.sql.replace(/\s+/g, ' ').trim().slice(0, 90)));
      for (const q of wave) q.go();
      return;
    }
    setImmediate(tick);
  };
  const schedule = () => {
    if (ticking) return;
    ticking = true;
    setImmediate(tick);
  };

  return {
    wrap(db) {
      return {
        kind: db.kind,
        query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
          if (!counting) return db.query<Row>(sql, params);
          return new Promise((resolve, reject) => {
            pending.push({
              sql,
              go: () => {
                inFlight++;
                db.query<Row>(sql, params)
                  .then(resolve, reject)
                  .finally(() => {
                    inFlight--;
                    schedule();
                  });
              },
            });
            schedule();
          });
        },
        transaction: (fn) => db.transaction(fn),
        listen: (channel, onNotify) => db.listen(channel, onNotify),
        close: () => db.close(),
        ...(db.poolUsage ? { poolUsage: () => db.poolUsage?.() ?? { total: 0, idle: 0, waiting: 0 } } : {}),
      };
    },
    async count(fn) {
      waves = [];
      counting = true;
      try {
        const result = await fn();
        return { result, waves };
      } finally {
        counting = false;
        for (const q of pending.splice(0)) q.go();
      }
    },
  };
}

interface ServedEvent {
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  unsigned?: Record<string, unknown>;
}

interface SyncBody {
  next_batch: string;
  rooms: {
    join: Record<string, { timeline: { events: ServedEvent[]; limited: boolean }; state: { events: ServedEvent[] }; unread_notifications: { notification_count: number } }>;
  };
}

async function syncOf(server: TestServer, user: TestUser, query: Record<string, string>): Promise<SyncBody> {
  const res = await server.request('GET', `/_matrix/client/v3/sync?${new URLSearchParams(query).toString()}`, { token: user.accessToken });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await assertMatchesSpec('GET', '/_matrix/client/v3/sync', 200, res.body);
  return res.body as SyncBody;
}

/** Alice and Bob in a public room, and what they send. */
async function room(server: TestServer) {
  const alice = await server.createUser('alice');
  const bob = await server.createUser('bob');
  const created = await server.request('POST', '/_matrix/client/v3/createRoom', { token: alice.accessToken, body: { preset: 'public_chat' } });
  const roomId = (created.body as { room_id: string }).room_id;
  const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
  const joined = await server.request('POST', `${path}/join`, { token: bob.accessToken, body: {} });
  assert.equal(joined.status, 200);
  let txn = 0;
  const send = async (body: string) => {
    const res = await server.request('PUT', `${path}/send/m.room.message/t${++txn}`, { token: alice.accessToken, body: { msgtype: 'm.text', body } });
    assert.equal(res.status, 200);
  };
  const topic = async (value: string) => {
    const res = await server.request('PUT', `${path}/state/m.room.topic/`, { token: alice.accessToken, body: { topic: value } });
    assert.equal(res.status, 200);
  };
  return { alice, bob, roomId, send, topic };
}

const pairs = (events: readonly ServedEvent[] | undefined) => (events ?? []).map((e) => [e.type, e.state_key ?? e.content['body']]);

forEachBackend('sync round trips', (backend) => {
  const filters = [
    { name: "the sync bench's filter", filter: JSON.stringify(BENCH_FILTER), lazy: true, limit: 5 },
    { name: 'the default filter', filter: undefined, lazy: false, limit: 10 },
  ];
  // Waves of queries of the whole request (authentication is cached, the user's presence unchanged). Before the reads
  // after the timelines were started together: woken 4 (lazy) and 3 (default), own 4 and 3, state before 6 and 5.
  const expected = {
    woken: { lazy: 3, default: 3 },
    own: { lazy: 3, default: 3 },
    stateBefore: { lazy: 4, default: 4 },
  };

  /** The waves of Bob's (or Alice's) incremental sync after `act`, with the response. */
  async function measure(t: TestContext, filter: string | undefined, who: 'alice' | 'bob', act: (r: Awaited<ReturnType<typeof room>>) => Promise<void>) {
    const counter = waveCounter();
    const server = await startTestServer(t, { backend: backend.name, wrapDatabase: (db) => counter.wrap(db) });
    const r = await room(server);
    const user = r[who];
    const query: Record<string, string> = filter === undefined ? {} : { filter };
    const first = await syncOf(server, user, query);
    await act(r);
    const { result, waves } = await counter.count(() => syncOf(server, user, { ...query, since: first.next_batch, timeout: '0' }));
    const listing = waves.map((w, i) => `${i + 1}. ${w.join('\n   ')}`).join('\n');
    t.diagnostic(`waves of queries:\n${listing}`);
    return { ...r, room: result.rooms.join[r.roomId], waves: waves.length, listing };
  }

  for (const f of filters) {
    const kind = f.lazy ? 'lazy' : 'default';

    test(`a member woken by one message, ${f.name}: ${expected.woken[kind]} waves of queries`, async (t) => {
      const { alice, room: joined, waves, listing } = await measure(t, f.filter, 'bob', (r) => r.send('wake up'));
      assert.deepEqual(pairs(joined?.timeline.events), [['m.room.message', 'wake up']]);
      assert.deepEqual(pairs(joined?.state.events), f.lazy ? [['m.room.member', alice.userId]] : []);
      assert.equal(joined?.unread_notifications.notification_count, 1);
      assert.equal(waves, expected.woken[kind], listing);
    });

    test(`the sender after their own message, ${f.name}: ${expected.own[kind]} waves of queries`, async (t) => {
      const { alice, room: joined, waves, listing } = await measure(t, f.filter, 'alice', (r) => r.send('mine'));
      assert.deepEqual(pairs(joined?.timeline.events), [['m.room.message', 'mine']]);
      assert.equal(joined?.timeline.events[0]?.unsigned?.['transaction_id'], 't1');
      assert.deepEqual(pairs(joined?.state.events), f.lazy ? [['m.room.member', alice.userId]] : []);
      assert.equal(joined?.unread_notifications.notification_count, 0);
      assert.equal(waves, expected.own[kind], listing);
    });

    test(`a state change before a limited timeline, ${f.name}: ${expected.stateBefore[kind]} waves of queries`, async (t) => {
      const { alice, room: joined, waves, listing } = await measure(t, f.filter, 'bob', async (r) => {
        await r.topic('one');
        await r.topic('two');
        for (let i = 1; i <= f.limit; i++) await r.send(`m${i}`);
      });
      assert.deepEqual(pairs(joined?.timeline.events), Array.from({ length: f.limit }, (_, i) => ['m.room.message', `m${i + 1}`]));
      assert.equal(joined?.timeline.limited, true);
      // Oldest first: Alice's join came before the topic.
      assert.deepEqual(pairs(joined?.state.events), [...(f.lazy ? [['m.room.member', alice.userId]] : []), ['m.room.topic', '']]);
      const topic = joined?.state.events.find((e) => e.type === 'm.room.topic');
      assert.deepEqual([topic?.content['topic'], topic?.unsigned?.['prev_content']], ['two', { topic: 'one' }]);
      assert.equal(joined?.unread_notifications.notification_count, f.limit);
      assert.equal(waves, expected.stateBefore[kind], listing);
    });
  }
});
