import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { SimulatedClock } from 'xstate';
import { startActorSystem } from '../../actors/system.ts';
import type { SystemClock } from '../../actors/clock.ts';
import { StreamIdGenerator } from '../../src/streams/idGenerator.ts';
import { StreamAnnouncer } from '../../src/streams/announcer.ts';
import { StreamToken } from '../../src/streams/token.ts';
import type { WaitResult } from '../../src/notifier.ts';
import { USER_STREAM_IDLE_EXPIRY_MS, USER_STREAM_RELISTEN_GRACE_MS } from '../../machines/supervisor.ts';

const MINUTE = 60_000;
const TIMEOUT = 30_001; // a value no machine timer uses, so the request timers can be counted

/** Lets the room loader's promise and resolved waits run (never used for machine timing). */
const settle = () => new Promise((r) => setImmediate(r));

function harness(rooms: Record<string, string[]> = {}) {
  const simulated = new SimulatedClock();
  const requestTimers = new Set<unknown>();
  // SimulatedClock, counting the timers armed for request timeouts.
  const clock: SystemClock = {
    now: () => simulated.now(),
    setTimeout: (fn, ms) => {
      const id: unknown = simulated.setTimeout(() => {
        requestTimers.delete(id);
        fn();
      }, ms);
      if (ms === TIMEOUT) requestTimers.add(id);
      return id;
    },
    clearTimeout: (id) => {
      requestTimers.delete(id);
      simulated.clearTimeout(id as number);
    },
  };
  const loads: string[] = [];
  const sys = startActorSystem({
    clock,
    loadRoomsForUser: async (userId) => {
      loads.push(userId);
      return rooms[userId] ?? [];
    },
  });
  /** Starts a wait and lets it register; `done()` says whether it has resolved. */
  async function wait(userId: string, since = sys.notifier.currentToken(), timeoutMs = TIMEOUT, signal?: AbortSignal) {
    let result: WaitResult | null = null;
    const promise = sys.notifier.waitForEvents(userId, since, timeoutMs, signal).then((r) => (result = r));
    await settle();
    return { promise, done: () => result !== null, result: () => result as WaitResult | null };
  }
  const stream = (userId: string) => sys.list().find((r) => r.id === `user:${userId}`);
  return { simulated, sys, notifier: sys.notifier, loads, wait, stream, requestTimers };
}

describe('notifier and user streams', () => {
  test('an event in a joined room wakes the waiting user with the new token', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const since = h.notifier.currentToken();
    const w = await h.wait('@a:hs', since);
    assert.equal(w.done(), false);
    assert.equal(h.stream('@a:hs')?.state, 'waiting');
    h.notifier.notify({ stream: 'events', position: 7, rooms: ['!r:hs'] });
    const r = await w.promise;
    assert.equal(r.reason, 'advanced');
    assert.equal(r.token.get('events'), 7);
    assert.ok(r.token.isAfter(since));
    assert.equal(h.sys.userStreams.waitingRequests, 0);
    assert.equal(h.requestTimers.size, 0, 'the timeout timer was cleared');
  });

  test('events for rooms the user is not in never wake it', async () => {
    const h = harness({ '@a:hs': ['!mine:hs'] });
    const w = await h.wait('@a:hs');
    for (let p = 1; p <= 20; p++) h.notifier.notify({ stream: 'events', position: p, rooms: ['!other:hs'] });
    h.notifier.notify({ stream: 'typing', position: 3, rooms: ['!other:hs'], users: ['@b:hs'] });
    await settle();
    assert.equal(w.done(), false);
    assert.equal(h.stream('@a:hs')?.figures.token, StreamToken.ZERO.toString(), "the user's token did not move");
    h.simulated.increment(TIMEOUT);
    const r = await w.promise;
    assert.equal(r.reason, 'timeout');
    assert.equal(h.notifier.currentToken().get('events'), 20, 'the server-wide token did move');
  });

  test('a join starts routing that room to the user; leave and ban stop it', async () => {
    const h = harness({ '@a:hs': [] });
    let w = await h.wait('@a:hs');
    h.notifier.notify({ stream: 'events', position: 1, rooms: ['!r:hs'] });
    await settle();
    assert.equal(w.done(), false, 'not a member yet');
    h.notifier.membershipChanged('!r:hs', '@a:hs', 'join');
    assert.deepEqual(h.sys.userStreams.membersOf('!r:hs'), ['@a:hs']);
    h.notifier.notify({ stream: 'events', position: 2, rooms: ['!r:hs'] });
    assert.equal((await w.promise).token.get('events'), 2);

    for (const membership of ['leave', 'ban'] as const) {
      h.notifier.membershipChanged('!r:hs', '@a:hs', 'join');
      h.notifier.membershipChanged('!r:hs', '@a:hs', membership);
      assert.deepEqual(h.sys.userStreams.membersOf('!r:hs'), [], membership);
      w = await h.wait('@a:hs', h.notifier.currentToken());
      h.notifier.notify({ stream: 'events', position: h.notifier.currentToken().get('events') + 1, rooms: ['!r:hs'] });
      await settle();
      assert.equal(w.done(), false, `no routing after ${membership}`);
      h.simulated.increment(TIMEOUT);
      await w.promise;
    }
  });

  test('explicit users are woken; a user who is not syncing gets no stream', async () => {
    const h = harness();
    const w = await h.wait('@a:hs');
    h.notifier.notify({ stream: 'to_device', position: 4, users: ['@a:hs', '@nobody:hs'] });
    const r = await w.promise;
    assert.equal(r.token.get('to_device'), 4);
    assert.equal(h.stream('@nobody:hs'), undefined);
    h.notifier.membershipChanged('!r:hs', '@nobody:hs', 'join');
    assert.deepEqual(h.sys.userStreams.membersOf('!r:hs'), [], 'the index holds only users with a stream');
  });

  test('a position not past the waiter\'s since does not wake it', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const since = StreamToken.of({ typing: 5 });
    const w = await h.wait('@a:hs', since);
    h.notifier.notify({ stream: 'typing', position: 5, rooms: ['!r:hs'] });
    await settle();
    assert.equal(w.done(), false);
    h.notifier.notify({ stream: 'typing', position: 6, rooms: ['!r:hs'] });
    assert.equal((await w.promise).reason, 'advanced');
  });

  test('a user reached through several rooms and by name is woken once; all of a user\'s requests wake', async () => {
    const h = harness({ '@a:hs': ['!r1:hs', '!r2:hs'] });
    const w1 = await h.wait('@a:hs');
    const w2 = await h.wait('@a:hs');
    assert.equal(h.sys.userStreams.waitingRequests, 2);
    h.notifier.notify({ stream: 'receipts', position: 9, rooms: ['!r1:hs', '!r2:hs'], users: ['@a:hs'] });
    assert.equal((await w1.promise).reason, 'advanced');
    assert.equal((await w2.promise).reason, 'advanced');
    assert.equal(h.sys.userStreams.wakeUps, 2);
    assert.equal(h.loads.length, 1, 'rooms loaded once per stream');
  });

  test('timeout on the system clock, leaving no listener behind', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const controller = new AbortController();
    const w = await h.wait('@a:hs', undefined, TIMEOUT, controller.signal);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    assert.equal(h.requestTimers.size, 1);
    h.simulated.increment(TIMEOUT - 1);
    await settle();
    assert.equal(w.done(), false);
    h.simulated.increment(1);
    await settle();
    assert.equal(w.result()?.reason, 'timeout');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.equal(h.requestTimers.size, 0);
    assert.equal(h.sys.userStreams.waitingRequests, 0);
  });

  test('abort ends the wait at once, leaving no listener behind', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const controllers = [new AbortController(), new AbortController()];
    const waits = [];
    for (const c of controllers) waits.push(await h.wait('@a:hs', undefined, TIMEOUT, c.signal));
    assert.equal(h.sys.userStreams.waitingRequests, 2);
    controllers[0]?.abort();
    assert.equal((await waits[0]?.promise)?.reason, 'aborted');
    assert.equal(h.sys.userStreams.waitingRequests, 1, 'the other request still waits');
    assert.equal(h.stream('@a:hs')?.state, 'waiting');
    controllers[1]?.abort();
    assert.equal((await waits[1]?.promise)?.reason, 'aborted');
    for (const c of controllers) assert.equal(getEventListeners(c.signal, 'abort').length, 0);
    assert.equal(h.requestTimers.size, 0);
    assert.equal(h.sys.userStreams.waitingRequests, 0);
    const already = new AbortController();
    already.abort();
    assert.equal((await h.notifier.waitForEvents('@a:hs', StreamToken.ZERO, TIMEOUT, already.signal)).reason, 'aborted');
    assert.equal(getEventListeners(already.signal, 'abort').length, 0);
  });

  test('a wake after an abort, and an abort after a wake, are both harmless', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const c = new AbortController();
    const w = await h.wait('@a:hs', undefined, TIMEOUT, c.signal);
    h.notifier.notify({ stream: 'events', position: 1, rooms: ['!r:hs'] });
    c.abort();
    assert.equal((await w.promise).reason, 'advanced');
    assert.equal(h.sys.userStreams.waitingRequests, 0);
  });

  test('a since behind the user\'s token answers at once', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const first = await h.wait('@a:hs');
    h.notifier.notify({ stream: 'events', position: 3, rooms: ['!r:hs'] });
    await first.promise;
    const r = await h.notifier.waitForEvents('@a:hs', StreamToken.of({ events: 2 }), TIMEOUT);
    assert.deepEqual([r.reason, r.token.get('events')], ['advanced', 3]);
  });

  test('a stream nobody listened to for 10 minutes ends, with every index entry it had', async () => {
    const h = harness({ '@a:hs': ['!r1:hs', '!r2:hs'], '@b:hs': ['!r1:hs'] });
    const a = await h.wait('@a:hs');
    const b = await h.wait('@b:hs');
    h.simulated.increment(TIMEOUT); // both requests time out now: the 10 minutes start here
    await Promise.all([a.promise, b.promise]);
    const left = h.simulated.now();
    assert.equal(h.stream('@a:hs')?.state, 'lingering');
    h.simulated.increment(USER_STREAM_RELISTEN_GRACE_MS);
    assert.equal(h.stream('@a:hs')?.state, 'idle', 'the actor lapsed after the grace; the record stays');
    assert.equal(h.stream('@a:hs')?.figures.actor, null);
    h.simulated.set(left + USER_STREAM_IDLE_EXPIRY_MS - 1);
    assert.ok(h.stream('@a:hs'));
    assert.deepEqual(h.sys.userStreams.membersOf('!r1:hs').sort(), ['@a:hs', '@b:hs']);
    h.simulated.increment(1);
    assert.equal(h.stream('@a:hs'), undefined);
    assert.equal(h.stream('@b:hs'), undefined);
    assert.deepEqual(h.sys.userStreams.counts(), {
      streams: 0,
      waitingStreams: 0,
      waitingRequests: 0,
      lingering: 0,
      idle: 0,
      indexedRooms: 0,
    });
    assert.equal(Object.keys(h.sys.supervisor.getSnapshot().children).length, 0);
    assert.deepEqual(h.sys.list().map((r) => r.id), ['supervisor'], 'nothing left in the listing');
    // Syncing again opens a fresh stream (rooms reloaded).
    await h.wait('@a:hs');
    assert.equal(h.loads.filter((u) => u === '@a:hs').length, 2);
  });

  test('a listener at 9:59 keeps the stream; the 10 minutes count again from when it left', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const first = await h.wait('@a:hs', undefined, 1000);
    h.simulated.increment(1000);
    await first.promise;
    const left = h.simulated.now();
    h.simulated.set(left + 9 * MINUTE + 59_000);
    assert.equal(h.stream('@a:hs')?.state, 'idle');
    const again = await h.wait('@a:hs', undefined, 1000);
    assert.equal(h.stream('@a:hs')?.state, 'waiting');
    h.simulated.set(left + USER_STREAM_IDLE_EXPIRY_MS);
    await settle();
    assert.equal(again.result()?.reason, 'timeout');
    const leftAgain = left + 9 * MINUTE + 59_000 + 1000;
    assert.ok(h.stream('@a:hs'), 'still there at 10:00');
    h.simulated.set(leftAgain + USER_STREAM_IDLE_EXPIRY_MS - 1);
    assert.ok(h.stream('@a:hs'));
    h.simulated.set(leftAgain + USER_STREAM_IDLE_EXPIRY_MS);
    assert.equal(h.stream('@a:hs'), undefined);
    assert.deepEqual(h.sys.userStreams.membersOf('!r:hs'), []);
  });

  test('a waiting stream never expires, however long the wait', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const w = await h.wait('@a:hs', undefined, 60 * MINUTE);
    h.simulated.increment(59 * MINUTE);
    assert.equal(h.stream('@a:hs')?.state, 'waiting');
    h.notifier.notify({ stream: 'events', position: 1, rooms: ['!r:hs'] });
    assert.equal((await w.promise).reason, 'advanced');
  });

  test('a client that re-polls within the grace keeps its actor; one that stops loses it', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    let w = await h.wait('@a:hs');
    const actor = h.sys.userStreams.get('@a:hs')?.actor;
    assert.ok(actor);
    assert.equal(actor.system, h.sys.supervisor.system, 'the user stream lives in the supervisor\'s system');
    assert.equal(h.stream('@a:hs')?.figures.actor, 'syncing');
    for (let i = 1; i <= 5; i++) {
      h.notifier.notify({ stream: 'events', position: i, rooms: ['!r:hs'] });
      await w.promise;
      h.simulated.increment(USER_STREAM_RELISTEN_GRACE_MS - 1);
      w = await h.wait('@a:hs', h.notifier.currentToken());
      assert.equal(h.sys.userStreams.get('@a:hs')?.actor, actor, 'same actor, no respawn');
    }
    h.notifier.notify({ stream: 'events', position: 6, rooms: ['!r:hs'] });
    await w.promise;
    h.simulated.increment(USER_STREAM_RELISTEN_GRACE_MS);
    assert.equal(h.sys.userStreams.get('@a:hs')?.actor, null);
    assert.equal(actor.getSnapshot().status, 'done');
    assert.equal(h.stream('@a:hs')?.state, 'idle');
    await h.wait('@a:hs');
    assert.notEqual(h.sys.userStreams.get('@a:hs')?.actor, actor, 'a new actor when the user syncs again');
    assert.equal(h.stream('@a:hs')?.figures.actor, 'syncing');
  });

  test('out-of-order stream completion never reveals a gap to a waiting user', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const events = new StreamIdGenerator({ stream: 'events', initialPosition: 1 });
    events.onAdvance((position, stream) => h.notifier.notify({ stream, position, rooms: ['!r:hs'] }));
    const w = await h.wait('@a:hs', StreamToken.of({ events: 1 }));
    const second = events.reserve();
    const third = events.reserve();
    events.complete(third);
    await settle();
    assert.equal(w.done(), false, 'event 3 is written but 2 is not: nobody may read past 1');
    assert.equal(h.notifier.currentToken().get('events'), 0, 'not even the server-wide token');
    events.complete(second);
    const r = await w.promise;
    assert.equal(r.token.get('events'), 3);
  });

  test('out of order across rooms: the user whose fact completed first is woken when the gap closes', async () => {
    const h = harness({ '@b:hs': ['!b:hs'] });
    const events = new StreamIdGenerator({ stream: 'events', initialPosition: 1 });
    const announcer = new StreamAnnouncer(events, (n) => h.notifier.notify(n));
    const w = await h.wait('@b:hs', StreamToken.of({ events: 1 }));
    const forA = events.reserve();
    const forB = events.reserve();
    announcer.setAudience(forB, { rooms: ['!b:hs'] });
    events.complete(forB);
    await settle();
    assert.equal(w.done(), false);
    announcer.setAudience(forA, { rooms: ['!a:hs'] });
    events.complete(forA);
    const r = await w.promise;
    assert.deepEqual([r.reason, r.token.get('events')], ['advanced', 3]);
  });

  test('membership changes that arrive while the rooms load are not lost', async () => {
    let release!: (rooms: string[]) => void;
    const clock = new SimulatedClock();
    const sys = startActorSystem({
      clock,
      loadRoomsForUser: () => new Promise<string[]>((resolve) => (release = resolve)),
    });
    const waiting = sys.notifier.waitForEvents('@a:hs', StreamToken.ZERO, TIMEOUT);
    await settle();
    sys.notifier.membershipChanged('!new:hs', '@a:hs', 'join');
    sys.notifier.membershipChanged('!old:hs', '@a:hs', 'leave');
    release(['!old:hs', '!kept:hs']);
    await settle();
    assert.deepEqual(sys.userStreams.membersOf('!new:hs'), ['@a:hs']);
    assert.deepEqual(sys.userStreams.membersOf('!old:hs'), []);
    assert.deepEqual(sys.userStreams.membersOf('!kept:hs'), ['@a:hs']);
    sys.notifier.notify({ stream: 'events', position: 1, rooms: ['!new:hs'] });
    assert.equal((await waiting).reason, 'advanced');
    sys.stop();
  });

  test('a failing room load rejects the wait and leaves nothing behind; the next wait loads again', async () => {
    let fail = true;
    const sys = startActorSystem({
      clock: new SimulatedClock(),
      loadRoomsForUser: async () => {
        if (fail) throw new Error('database down');
        return ['!r:hs'];
      },
    });
    await assert.rejects(sys.notifier.waitForEvents('@a:hs', StreamToken.ZERO, TIMEOUT), /database down/);
    assert.equal(sys.userStreams.counts().streams, 0);
    fail = false;
    const w = sys.notifier.waitForEvents('@a:hs', StreamToken.ZERO, TIMEOUT);
    await settle();
    sys.notifier.notify({ stream: 'events', position: 1, rooms: ['!r:hs'] });
    assert.equal((await w).reason, 'advanced');
    sys.stop();
  });

  test('a new stream starts at the server-wide token, so a wake that raced its opening is not lost', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const since = h.notifier.currentToken();
    h.notifier.notify({ stream: 'events', position: 1, rooms: ['!r:hs'] }); // before the stream existed
    const r = await h.notifier.waitForEvents('@a:hs', since, TIMEOUT);
    assert.equal(r.reason, 'advanced');
  });

  test('the listing shows every live actor with kind, state and figures', async () => {
    const h = harness({ '@a:hs': ['!r:hs'], '@b:hs': [] });
    await h.wait('@a:hs');
    const b = await h.wait('@b:hs', undefined, 10);
    h.simulated.increment(10);
    await b.promise;
    const rows = h.sys.list();
    const supervisor = rows.find((r) => r.id === 'supervisor');
    assert.equal(supervisor?.kind, 'supervisor');
    assert.match(supervisor?.state ?? '', /expiry\.\w+,demotion\.scheduled/);
    assert.equal(supervisor?.figures.streams, 2);
    assert.equal(supervisor?.figures.waitingRequests, 1);
    assert.deepEqual(
      rows.filter((r) => r.kind === 'userStream').map((r) => [r.id, r.state, r.figures.actor, r.figures.waitingRequests, r.figures.rooms]),
      [
        ['user:@a:hs', 'waiting', 'syncing', 1, 1],
        ['user:@b:hs', 'lingering', 'syncing', 0, 0],
      ],
    );
    assert.doesNotThrow(() => JSON.stringify(rows));
  });

  test('stopping the system ends every wait', async () => {
    const h = harness({ '@a:hs': ['!r:hs'] });
    const w = await h.wait('@a:hs');
    h.sys.stop();
    assert.equal((await w.promise).reason, 'timeout');
    assert.equal(h.requestTimers.size, 0);
  });
});
