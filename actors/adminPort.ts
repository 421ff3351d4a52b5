// The admin port (src/admin/actorsPort.ts) on the running actor system: the listing enriched with each
// actor's key figures, change notification through XState inspection (subscribed only while someone
// listens, so it costs nothing otherwise), retry commands, wake-up counts and machine diagrams.
import type { AnyActorRef, AnyStateMachine, InspectionEvent, Subscription } from 'xstate';
import type { ActorKind, ActorListing, ActorsPort, MachineDiagram, RetryableKind } from '../src/admin/actorsPort.ts';
import { STREAM_NAMES } from '../src/streams/names.ts';
import { appserviceFigures, appserviceMachine } from '../machines/appservice.ts';
import type { AppserviceSnapshot } from '../machines/appservice.ts';
import { destinationFigures, destinationMachine } from '../machines/destination.ts';
import type { DestinationContext } from '../machines/destination.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { userStreamMachine } from '../machines/userStream.ts';
import { stateString } from './system.ts';
import type { TroupeActors } from './system.ts';

export interface AdminPort extends ActorsPort {
  /**
   * Makes an actor that is not a child of the supervisor visible to the listing, retries and metrics
   * (until it stops). Issue 7 spawns appservices as supervisor children; until then tests attach them here.
   */
  attach(actor: AnyActorRef): void;
}

function kindOf(id: string): ActorKind {
  if (id.startsWith('dest:')) return 'destination';
  if (id.startsWith('as:')) return 'appservice';
  if (id.startsWith('pusher:')) return 'pusher';
  if (id.startsWith('user:')) return 'userStream';
  return 'unknown';
}

function listingOf(id: string, actor: AnyActorRef): ActorListing {
  const snapshot = actor.getSnapshot() as { value?: unknown; context?: unknown };
  const kind = kindOf(id);
  let figures: ActorListing['figures'] = {};
  if (kind === 'appservice') figures = appserviceFigures(snapshot as AppserviceSnapshot);
  else if (kind === 'destination') {
    const c = snapshot.context as DestinationContext;
    const backingOff = stateString(snapshot.value) === 'backingOff';
    figures = {
      ...destinationFigures(c),
      lastRetryTs: c.lastRetryTs,
      // When the back-off ends, as far as the last failure's time tells.
      nextRetryAt: backingOff && c.lastRetryTs !== null ? c.lastRetryTs + c.retryIntervalMs : null,
    };
  }
  return { id, kind, state: stateString(snapshot.value), figures };
}

export function createAdminPort(system: TroupeActors): AdminPort {
  const attached = new Map<string, AnyActorRef>();
  const listeners = new Set<() => void>();
  let inspection: Subscription | null = null;

  const children = (): Record<string, AnyActorRef | undefined> =>
    system.supervisor.getSnapshot().children as Record<string, AnyActorRef | undefined>;

  const find = (id: string): AnyActorRef | undefined => {
    const actor = children()[id] ?? attached.get(id);
    return actor && actor.getSnapshot().status === 'active' ? actor : undefined;
  };

  const onInspection = (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot' && event.type !== '@xstate.actor') return;
    for (const listener of listeners) listener();
  };

  return {
    list(options = {}) {
      let rows: ActorListing[];
      if (options.userStreams === false) {
        // The supervisor and its children only: never a walk over every user stream.
        const snapshot = system.supervisor.getSnapshot() as { value: unknown; context: Record<string, number> };
        rows = [
          {
            id: 'supervisor',
            kind: 'supervisor',
            state: stateString(snapshot.value),
            figures: { ...snapshot.context, ...system.userStreams.counts(), wakeUps: system.userStreams.wakeUps },
          },
        ];
        for (const [id, actor] of Object.entries(children())) {
          if (actor && !id.startsWith('user:')) rows.push(listingOf(id, actor));
        }
      } else {
        rows = system.list().map((row) => {
          // Figures of supervisor children come from the actor itself (the system lists appservices without).
          if (row.kind === 'supervisor' || row.kind === 'userStream') return row;
          const actor = children()[row.id];
          return actor ? listingOf(row.id, actor) : row;
        });
      }
      const seen = new Set(rows.map((r) => r.id));
      for (const [id, actor] of attached) {
        if (actor.getSnapshot().status !== 'active') {
          attached.delete(id);
          continue;
        }
        if (!seen.has(id)) rows.push(listingOf(id, actor));
      }
      return rows;
    },
    subscribe(listener) {
      listeners.add(listener);
      inspection ??= system.supervisor.system.inspect(onInspection);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && inspection) {
          inspection.unsubscribe();
          inspection = null;
        }
      };
    },
    retry(kind: RetryableKind, id: string) {
      if (kindOf(id) !== kind) return false;
      const actor = find(id);
      if (!actor) return false;
      // A destination has no separate command: any sign of life from the remote wakes it at once.
      actor.send(kind === 'appservice' ? { type: 'RETRY_NOW' } : { type: 'REMOTE_UP' });
      return true;
    },
    userStreamCounts() {
      const c = system.userStreams.counts();
      return { waiting: c.waitingStreams, lingering: c.lingering, idle: c.idle, waitingRequests: c.waitingRequests };
    },
    wakeUps() {
      const counts = system.userStreams.wakeUpsByStream;
      return Object.fromEntries(STREAM_NAMES.map((name, i) => [name, counts[i] ?? 0]));
    },
    machines() {
      return [
        diagramOf(supervisorMachine, 'supervisor'),
        diagramOf(userStreamMachine, 'userStream'),
        diagramOf(appserviceMachine, 'appservice'),
        diagramOf(destinationMachine, 'destination'),
      ];
    },
    attach(actor) {
      attached.set(actor.id, actor);
      // Anyone watching should see it appear.
      for (const listener of listeners) listener();
    },
  };
}

interface NodeLike {
  id: string;
  key: string;
  type: string;
  path: string[];
  states: Record<string, NodeLike>;
  parent?: NodeLike;
  initial?: { target: NodeLike[] };
  transitions: Map<string, { target?: NodeLike[] | undefined }[]>;
  always?: { target?: NodeLike[] | undefined }[];
}

/** `xstate.after.retryDelay.appservice.down.waiting` -> `after retryDelay`, done/error events shortened. */
export function transitionLabel(eventType: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return /^[0-9]+$/.test(after[1] ?? '') ? `after ${after[1]} ms` : `after ${after[1]}`;
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `done: ${done[1]}`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `error: ${error[1]}`;
  if (eventType.startsWith('xstate.done.state.')) return 'done';
  return eventType;
}

/** States and transitions of a machine, from its definition. */
export function diagramOf(machine: AnyStateMachine, kind: ActorKind): MachineDiagram {
  const root = machine.root as unknown as NodeLike;
  const states: MachineDiagram['states'] = [];
  const transitions: MachineDiagram['transitions'] = [];
  const walk = (node: NodeLike, depth: number) => {
    for (const child of Object.values(node.states)) {
      const initial = node.initial?.target.some((t) => t === child) ?? false;
      states.push({ id: child.id, path: child.path.join('.'), depth, type: child.type, initial });
      const edges: [string, { target?: NodeLike[] | undefined }[]][] = [...child.transitions.entries()];
      if (child.always) edges.push(['always', child.always]);
      for (const [eventType, defs] of edges) {
        for (const def of defs) {
          for (const target of def.target ?? []) {
            transitions.push({ source: child.id, target: target.id, label: transitionLabel(eventType) });
          }
        }
      }
      walk(child, depth + 1);
    }
  };
  walk(root, 0);
  return { kind, id: root.id, states, transitions };
}
