import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor } from 'xstate';
import { getShortestPaths } from '@xstate/graph';
import { supervisorMachine } from '../../machines/supervisor.ts';
import type { SupervisorEvent } from '../../machines/supervisor.ts';

describe('supervisor machine', () => {
  test('the sweep timers are named delays armed for the time reported, and re-armed on a new report', () => {
    const clock = new SimulatedClock();
    let expired = 0;
    let demoted = 0;
    const actor = createActor(
      supervisorMachine.provide({
        actions: { expireIdleUserStreams: () => void expired++, demoteLapsedUserStreams: () => void demoted++ },
      }),
      { clock },
    ).start();
    actor.send({ type: 'EXPIRY_SCHEDULED', inMs: 600_000 });
    actor.send({ type: 'DEMOTION_SCHEDULED', inMs: 30_000 });
    assert.deepEqual(actor.getSnapshot().value, { expiry: 'scheduled', demotion: 'scheduled' });
    clock.increment(29_999);
    assert.equal(demoted, 0);
    clock.increment(1);
    assert.equal(demoted, 1);
    assert.deepEqual(actor.getSnapshot().value, { expiry: 'scheduled', demotion: 'unscheduled' });
    actor.send({ type: 'EXPIRY_SCHEDULED', inMs: 1000 });
    clock.increment(1000);
    assert.equal(expired, 1, 'the new report replaced the old timer');
    clock.increment(600_000);
    assert.equal(expired, 1, 'the old timer was cancelled');
    actor.send({ type: 'EXPIRY_SCHEDULED', inMs: 5000 });
    actor.send({ type: 'EXPIRY_SCHEDULED', inMs: null });
    clock.increment(10_000);
    assert.equal(expired, 1, 'null disarms');
    assert.deepEqual(actor.getSnapshot().value, { expiry: 'unscheduled', demotion: 'unscheduled' });
  });

  test('STREAM_TOKEN and MEMBERSHIP_CHANGED reach the provided routing actions', () => {
    const routed: unknown[] = [];
    const memberships: unknown[] = [];
    const actor = createActor(
      supervisorMachine.provide({
        actions: {
          routeStreamToken: ({ event }) => void routed.push(event),
          updateRoomIndex: ({ event }) => void memberships.push(event),
        },
      }),
    ).start();
    actor.send({ type: 'STREAM_TOKEN', stream: 'events', position: 3, rooms: ['!r'] });
    actor.send({ type: 'MEMBERSHIP_CHANGED', roomId: '!r', userId: '@a:hs', membership: 'join' });
    assert.equal(routed.length, 1);
    assert.equal(memberships.length, 1);
    assert.equal(actor.getSnapshot().context.routed, 1);
    assert.equal(actor.getSnapshot().context.membershipChanges, 1);
    assert.deepEqual(JSON.parse(JSON.stringify(actor.getSnapshot().context)), actor.getSnapshot().context);
  });

  test('every state is reachable (@xstate/graph)', () => {
    const events: SupervisorEvent[] = [
      { type: 'EXPIRY_SCHEDULED', inMs: 10 },
      { type: 'EXPIRY_SCHEDULED', inMs: null },
      { type: 'DEMOTION_SCHEDULED', inMs: 10 },
      { type: 'DEMOTION_SCHEDULED', inMs: null },
      { type: 'xstate.after.idleStreamExpiry.supervisor.expiry.scheduled' } as unknown as SupervisorEvent,
      { type: 'xstate.after.relistenGrace.supervisor.demotion.scheduled' } as unknown as SupervisorEvent,
    ];
    const paths = getShortestPaths(supervisorMachine, { events, serializeState: (s) => JSON.stringify(s.value) });
    const reached = new Set(paths.map((p) => JSON.stringify(p.state.value)));
    for (const expiry of ['unscheduled', 'scheduled']) {
      for (const demotion of ['unscheduled', 'scheduled']) {
        assert.ok(reached.has(JSON.stringify({ expiry, demotion })), `${expiry}/${demotion}`);
      }
    }
  });
});
