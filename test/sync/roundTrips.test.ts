// How many sequential database round trips an incremental /sync makes: the latency of a long poll woken by one message
// is mostly that chain (issue #6's sync benchmark). The server's database is wrapped so that, while counting, queries
// are held and released in waves: everything asked is released together once the previous wave has answered and no
// new query has arrived for a number of event-loop turns. A query that needs another's answer lands in a later wave, so
// the number of waves is the length of the longest chain of queries, whatever the machine's speed.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Database, QueryResult } from '../../src/storage/database.ts';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { V3, call, createRoom, enc, join, newUsers, type ClientEvent } from '../rooms/client.ts';
import { setState, sync } from './client.ts';

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

/** Alice and Bob in a public room, and what Alice sends (her txn ids are t1, t2...). */
async function room(server: TestServer) {
  const [alice, bob] = await newUsers(server, 'alice', 'bob');
  const roomId = await createRoom(server, alice, { preset: 'public_chat' });
  await join(server, bob, roomId);
  let txn = 0;
  const send = (body: string) => call(server, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, alice, { msgtype: 'm.text', body });
  const topic = (value: string) => setState(server, alice, roomId, 'm.room.topic', { topic: value });
  return { alice, bob, roomId, send, topic };
}

const pairs = (events: readonly ClientEvent[] | undefined) => (events ?? []).map((e) => [e.type, e.state_key ?? e.content['body']]);

forEachBackend('sync round trips', (backend) => {
  const filters = [
    { name: "the sync bench's filter", filter: BENCH_FILTER, lazy: true, limit: 5 },
    { name: 'the default filter', filter: undefined, lazy: false, limit: 10 },
  ];
  // Waves of queries of the whole request (authentication is cached, the user's presence unchanged, and so are their
  // rooms, kept since the first sync). Before the reads after the timelines were started together: woken 4 (lazy) and 3
  // (default), own 4 and 3, state before 6 and 5; before the user's rooms were kept: 3, 3 and 4 with either filter.
  const expected = {
    woken: { lazy: 2, default: 2 },
    own: { lazy: 2, default: 2 },
    stateBefore: { lazy: 3, default: 3 },
  };

  /** The waves of Bob's (or Alice's) incremental sync after `act`, with the response. */
  async function measure(t: TestContext, filter: object | undefined, who: 'alice' | 'bob', act: (r: Awaited<ReturnType<typeof room>>) => Promise<unknown>) {
    const counter = waveCounter();
    const server = await startTestServer(t, { backend: backend.name, wrapDatabase: (db) => counter.wrap(db) });
    const r = await room(server);
    const user = r[who];
    const query: Record<string, object> = filter === undefined ? {} : { filter };
    const first = await sync(server, user, query);
    await act(r);
    const { result, waves } = await counter.count(() => sync(server, user, { ...query, since: first.next_batch, timeout: 0 }));
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
