// The running actor system: the supervisor (systemId `supervisor`) with its effects provided, the
// notifier port the HTTP layer uses, and the run-time listing of live actors.
import { createActor } from 'xstate';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import type { Membership, Notifier, StreamNotification, WaitResult } from '../src/notifier.ts';
import type { StreamToken } from '../src/streams/token.ts';
import { supervisorMachine, userStreamActorId } from '../machines/supervisor.ts';
import type { MembershipChangedEvent, StreamTokenEvent } from '../machines/supervisor.ts';
import { userStreamMachine } from '../machines/userStream.ts';
import { destinationFigures } from '../machines/destination.ts';
import type { DestinationContext } from '../machines/destination.ts';
import type { AppserviceInput } from '../machines/appservice.ts';
import type { AppserviceRestarter, provideAppservice } from './appservice.ts';
import { realClock } from './clock.ts';
import type { SystemClock } from './clock.ts';
import { UserStreamRegistry } from './userStreams.ts';
import type { LoadRoomsForUser } from './userStreams.ts';

export interface ActorSystemOptions {
  /** Backed by storage (the user's joined rooms); tests pass a fake. */
  loadRoomsForUser: LoadRoomsForUser;
  /** Defaults to the real clock; tests pass xstate's SimulatedClock. */
  clock?: SystemClock;
  /** The streams' positions at boot (read from storage by the caller). */
  initialToken?: StreamToken;
  /** XState inspection (the inspector, the admin page); see DESIGN.md §6. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** The appservice machine with its effects, and one input per service to spawn as `as:<id>` (actors/appservice.ts). */
  appservices?: {
    logic: ReturnType<typeof provideAppservice>;
    inputs: readonly AppserviceInput[];
    /** Sees every stream notification before the supervisor routes it (typing changes, by room). */
    observe(n: StreamNotification): void;
    /** Starts a crashed `as:<id>` actor again from its rows (without one, a crashed service stays stopped). */
    restarter?: AppserviceRestarter;
  };
}

/** One live actor as the admin page and metrics see it. */
export interface ActorListing {
  id: string;
  kind: 'supervisor' | 'userStream' | 'destination' | 'appservice' | 'pusher' | 'unknown';
  /** The XState state value as a dotted string, or for a user stream without an actor, its record state. */
  state: string;
  figures: Record<string, number | string | boolean | null>;
}

export interface TroupeActors {
  readonly supervisor: AnyActorRef;
  readonly notifier: Notifier;
  readonly userStreams: UserStreamRegistry;
  /** Every live actor (and every user-stream record): id, kind, state and key figures. */
  list(): ActorListing[];
  stop(): void;
}

export function startActorSystem(options: ActorSystemOptions): TroupeActors {
  const clock = options.clock ?? realClock;
  const registry = new UserStreamRegistry({
    clock,
    loadRoomsForUser: options.loadRoomsForUser,
    initialToken: options.initialToken,
  });

  const machine = supervisorMachine.provide({
    actions: {
      routeStreamToken: ({ event }) => registry.route(event as StreamTokenEvent),
      updateRoomIndex: ({ event }) => {
        const e = event as MembershipChangedEvent;
        registry.membershipChanged(e.roomId, e.userId, e.membership);
      },
      expireIdleUserStreams: () => registry.expireIdle(),
      demoteLapsedUserStreams: () => registry.demoteLapsed(),
      restartCrashedChild: ({ event }) => {
        const { actorId, error } = event as { actorId: string; error: unknown };
        if (!actorId.startsWith('as:')) return;
        options.appservices?.restarter?.restart(actorId.slice('as:'.length), error, (input) => {
          if (supervisor.getSnapshot().status === 'active') supervisor.send({ type: 'SPAWN_APPSERVICE', input });
        });
      },
    },
    ...(options.appservices ? { actors: { appservice: options.appservices.logic } } : {}),
  });
  const supervisor = createActor(machine, {
    systemId: 'supervisor',
    clock,
    inspect: options.inspect,
  });

  registry.attach({
    activate: (userId) =>
      createActor(userStreamMachine, { parent: supervisor, id: userStreamActorId(userId), input: { userId } }).start(),
    lapse: (actor) => actor.send({ type: 'LISTENERS_LAPSED' }),
    scheduleDemotion: (inMs) => supervisor.send({ type: 'DEMOTION_SCHEDULED', inMs }),
    scheduleExpiry: (inMs) => supervisor.send({ type: 'EXPIRY_SCHEDULED', inMs }),
  });
  supervisor.start();
  for (const input of options.appservices?.inputs ?? []) supervisor.send({ type: 'SPAWN_APPSERVICE', input });

  // One number per local user whose membership changed since the start (a few bytes each), and one for all rooms.
  const membershipVersions = new Map<string, number>();
  let historyVisibilityVersion = 0;
  const notifier: Notifier = {
    waitForEvents: (userId: string, since: StreamToken, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> =>
      registry.wait(userId, since, timeoutMs, signal),
    notify: (n: StreamNotification) => {
      options.appservices?.observe(n);
      supervisor.send({ type: 'STREAM_TOKEN', stream: n.stream, position: n.position, users: n.users, rooms: n.rooms });
    },
    membershipChanged: (roomId: string, userId: string, membership: Membership) => {
      membershipVersions.set(userId, (membershipVersions.get(userId) ?? 0) + 1);
      supervisor.send({ type: 'MEMBERSHIP_CHANGED', roomId, userId, membership });
    },
    historyVisibilityChanged: () => {
      historyVisibilityVersion++;
    },
    // Both only ever grow, so their sum moves whenever either does.
    roomsVersion: (userId: string) => (membershipVersions.get(userId) ?? 0) + historyVisibilityVersion,
    currentToken: () => registry.currentToken(),
  };

  function list(): ActorListing[] {
    const snapshot = supervisor.getSnapshot();
    const rows: ActorListing[] = [
      {
        id: 'supervisor',
        kind: 'supervisor',
        state: stateString(snapshot.value),
        figures: { ...snapshot.context, ...registry.counts(), wakeUps: registry.wakeUps },
      },
    ];
    const children = snapshot.children as Record<string, AnyActorRef | undefined>;
    for (const s of registry.all()) {
      rows.push({
        id: userStreamActorId(s.userId),
        kind: 'userStream',
        state: s.state,
        figures: {
          actor: s.actor ? stateString((s.actor.getSnapshot() as { value?: unknown }).value) : null,
          token: s.token.toString(),
          waitingRequests: s.waiters?.length ?? 0,
          rooms: s.rooms.length,
          lastListenedAt: s.lastListenedAt,
        },
      });
    }
    for (const [id, child] of Object.entries(children)) {
      if (!child || id.startsWith('user:')) continue;
      const childSnapshot = child.getSnapshot() as { value?: unknown; context?: unknown };
      const kind = kindOf(id);
      rows.push({
        id,
        kind,
        state: stateString(childSnapshot.value),
        figures: kind === 'destination' ? destinationFigures(childSnapshot.context as DestinationContext) : {},
      });
    }
    return rows;
  }

  return {
    supervisor,
    notifier,
    userStreams: registry,
    list,
    stop: () => {
      registry.closeAll();
      options.appservices?.restarter?.stop();
      supervisor.stop();
    },
  };
}

function kindOf(id: string): ActorListing['kind'] {
  if (id.startsWith('dest:')) return 'destination';
  if (id.startsWith('as:')) return 'appservice';
  if (id.startsWith('pusher:')) return 'pusher';
  return 'unknown';
}

/** `{ expiry: 'scheduled', demotion: 'unscheduled' }` -> `expiry.scheduled,demotion.unscheduled`. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => {
        const inner = stateString(v);
        return inner ? `${k}.${inner}` : k;
      })
      .join(',');
  }
  return '';
}
