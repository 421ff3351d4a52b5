// The root actor (systemId `supervisor`, DESIGN.md §4). It receives STREAM_TOKEN from writers and
// membership changes, owns the timers that demote and expire user streams (named delays), and is the
// parent of the user-stream actors (children `user:<userId>`).
//
// User-stream actors (`user:<userId>`) are created with this actor as their parent (same system, seen
// by inspection, their done event comes here), but their refs are kept in the registry rather than in
// `snapshot.children`: XState copies the children object on every spawn and stop, which is O(n) per
// change; measured at 20,000 streams, one demotion cost 5.8 ms. The registry's map is O(1).
//
// The routing tables (room -> users with a stream, user -> token and waiting requests) are not in the
// context: they change on every event for up to 100,000 users, and copying them into a JSON context on
// each change would be O(n) per event. They live in the registry the provided actions close over
// (actors/userStreams.ts); the context holds only JSON figures.
import { assign, enqueueActions, not, setup, spawnChild, stopChild } from 'xstate';
import type { AnyActorRef, DoneActorEvent, ErrorActorEvent } from 'xstate';
import type { StreamName } from '../src/streams/names.ts';
import { appserviceMachine } from './appservice.ts';
import type { AppserviceInput } from './appservice.ts';

/** A stream nobody has listened to for this long ends, with every index entry it had. */
export const USER_STREAM_IDLE_EXPIRY_MS = 10 * 60_000;
/**
 * A user-stream actor whose requests all finished is kept this long for the client's next poll before
 * it is demoted to a compact idle record (the 10-minute expiry counts from the last listener anyway).
 */
export const USER_STREAM_RELISTEN_GRACE_MS = 30_000;

export interface StreamTokenEvent {
  type: 'STREAM_TOKEN';
  stream: StreamName;
  position: number;
  users?: readonly string[];
  rooms?: readonly string[];
}

export interface MembershipChangedEvent {
  type: 'MEMBERSHIP_CHANGED';
  roomId: string;
  userId: string;
  membership: 'join' | 'leave' | 'ban' | 'invite' | 'knock';
}

/** Start the appservice actor of one registration (child `as:<id>`), from its stored rows. */
export interface SpawnAppserviceEvent {
  type: 'SPAWN_APPSERVICE';
  input: AppserviceInput;
}

export type SupervisorEvent =
  | StreamTokenEvent
  | SpawnAppserviceEvent
  | MembershipChangedEvent
  /** The next idle stream expires in `inMs` (null: none left). */
  | { type: 'EXPIRY_SCHEDULED'; inMs: number | null }
  /** The next lingering actor loses its grace in `inMs` (null: none left). */
  | { type: 'DEMOTION_SCHEDULED'; inMs: number | null }
  /** A child reached its final state (a user stream lapsed). */
  | DoneActorEvent<unknown, string>
  /** A child crashed: an error escaped it (an action or guard threw). */
  | ErrorActorEvent<unknown, string>;

export interface SupervisorContext {
  expiryInMs: number;
  demotionInMs: number;
  routed: number;
  membershipChanges: number;
  /** Children that crashed and were handed to restartCrashedChild. */
  childCrashes: number;
}


export function userStreamActorId(userId: string): string {
  return `user:${userId}`;
}

/** The streams whose advances may give an appservice something to send. */
const APPSERVICE_STREAMS: ReadonlySet<StreamName> = new Set<StreamName>(['events', 'receipts', 'typing', 'presence', 'to_device']);

export function appserviceActorId(serviceId: string): string {
  return `as:${serviceId}`;
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
  actors: {
    // Provided by actors/ with the real effects.
    appservice: appserviceMachine,
  },
  actions: {
    // New events (or receipts, typing, presence, to-device messages) are committed: every appservice reads what interests it from storage
    // (cheaper than routing per event here, which would need room facts the supervisor does not keep).
    notifyAppservices: enqueueActions(({ event, self, enqueue }) => {
      const e = event as StreamTokenEvent;
      if (!APPSERVICE_STREAMS.has(e.stream)) return;
      const notify = e.stream === 'events' ? { type: 'NOTIFY', position: e.position } : { type: 'NOTIFY' };
      for (const [id, child] of Object.entries(self.getSnapshot().children as Record<string, unknown>)) {
        if (id.startsWith('as:') && child) enqueue.sendTo(child as AnyActorRef, notify);
      }
    }),
    // Provided by actors/: wake the affected waiting requests and advance their users' tokens.
    routeStreamToken: () => {},
    // Provided by actors/: keep the room -> users index current for users who have a stream.
    updateRoomIndex: () => {},
    // Provided by actors/: end every idle stream whose last listener left USER_STREAM_IDLE_EXPIRY_MS ago,
    // then report the next deadline with EXPIRY_SCHEDULED.
    expireIdleUserStreams: () => {},
    // Provided by actors/: send LISTENERS_LAPSED to actors whose grace has passed with nobody listening,
    // then report the next deadline with DEMOTION_SCHEDULED.
    demoteLapsedUserStreams: () => {},
    // Provided by actors/: start a crashed child (the event is its xstate.error.actor.<id>) again from its rows
    // (DESIGN.md §2: actors are rebuilt from storage), by sending SPAWN_APPSERVICE once they are read.
    restartCrashedChild: () => {},
    setExpiry: assign({ expiryInMs: ({ event }) => Math.max(0, (event as { inMs?: number | null }).inMs ?? 0) }),
    setDemotion: assign({ demotionInMs: ({ event }) => Math.max(0, (event as { inMs?: number | null }).inMs ?? 0) }),
  },
  guards: {
    hasDeadline: ({ event }) => (event as { inMs?: number | null }).inMs != null,
  },
  delays: {
    idleStreamExpiry: ({ context }) => context.expiryInMs,
    relistenGrace: ({ context }) => context.demotionInMs,
  },
}).createMachine({
  id: 'supervisor',
  context: { expiryInMs: 0, demotionInMs: 0, routed: 0, membershipChanges: 0, childCrashes: 0 },
  type: 'parallel',
  on: {
    STREAM_TOKEN: {
      actions: ['routeStreamToken', 'notifyAppservices', assign({ routed: ({ context }) => context.routed + 1 })],
    },
    SPAWN_APPSERVICE: {
      actions: spawnChild('appservice', {
        id: ({ event }) => appserviceActorId((event as SpawnAppserviceEvent).input.serviceId),
        input: ({ event }) => (event as SpawnAppserviceEvent).input,
      }),
    },
    MEMBERSHIP_CHANGED: {
      actions: ['updateRoomIndex', assign({ membershipChanges: ({ context }) => context.membershipChanges + 1 })],
    },
    // A spawned child finished: drop its ref. (User streams lapse this way too; their refs are not in
    // `children`, so for them this does nothing.)
    'xstate.done.actor.*': {
      actions: stopChild(({ event }) => event.actorId),
    },
    // A child crashed: drop its dead ref (so its id can be spawned again), then have it restarted from storage.
    'xstate.error.actor.*': {
      actions: [
        stopChild(({ event }) => event.actorId),
        'restartCrashedChild',
        assign({ childCrashes: ({ context }) => context.childCrashes + 1 }),
      ],
    },
  },
  states: {
    expiry: {
      initial: 'unscheduled',
      states: {
        unscheduled: {
          on: {
            EXPIRY_SCHEDULED: { guard: 'hasDeadline', target: 'scheduled', actions: 'setExpiry' },
          },
        },
        scheduled: {
          after: { idleStreamExpiry: { target: 'unscheduled', actions: 'expireIdleUserStreams' } },
          on: {
            EXPIRY_SCHEDULED: [
              { guard: not('hasDeadline'), target: 'unscheduled' },
              { target: 'scheduled', reenter: true, actions: 'setExpiry' },
            ],
          },
        },
      },
    },
    demotion: {
      initial: 'unscheduled',
      states: {
        unscheduled: {
          on: {
            DEMOTION_SCHEDULED: { guard: 'hasDeadline', target: 'scheduled', actions: 'setDemotion' },
          },
        },
        scheduled: {
          after: { relistenGrace: { target: 'unscheduled', actions: 'demoteLapsedUserStreams' } },
          on: {
            DEMOTION_SCHEDULED: [
              { guard: not('hasDeadline'), target: 'unscheduled' },
              { target: 'scheduled', reenter: true, actions: 'setDemotion' },
            ],
          },
        },
      },
    },
  },
});
