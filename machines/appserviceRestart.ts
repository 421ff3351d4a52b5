// The restarts of one application service's `as:<id>` actor after it crashed (DESIGN.md §2 and §4): actors are
// rebuilt from storage, and one that crashes again on every start must not spin.
//
//   CRASHED (n crashes in a row) ──n = 1──▶ reading ──row read──▶ idle (respawn)
//            └──────────────────n > 1──▶ waiting ──restartDelay──▶ reading ──failed──▶ CRASHED again
//
// The n-th crash in a row waits restartDelayMs(n) (named delay `restartDelay`). A crash more than CRASH_MEMORY_MS
// after the previous one counts as a first crash again (named delay `crashMemory`, region `memory`). The actor's
// input is read from the service's row by the injected `readRow`; a failed read is one more crash.
import { assign, fromPromise, raise, setup } from 'xstate';
import type { AppserviceInput } from './appservice.ts';

/** A crash longer than this after the previous one of the same service counts as a first crash again. */
export const CRASH_MEMORY_MS = 10 * 60_000;
export const MAX_RESTART_DELAY_MS = 60_000;

/**
 * How long before the n-th crash in a row is restarted: the first at once, then 1 s, 2 s, 4 s, ... up to 60 s, so
 * a service whose actor crashes again on every start does not spin.
 */
export function restartDelayMs(crashesInARow: number): number {
  if (crashesInARow <= 1) return 0;
  return Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** (crashesInARow - 2));
}

export interface AppserviceRestartContext {
  serviceId: string;
  crashesInARow: number;
}

export interface CrashLog {
  serviceId: string;
  error: unknown;
  restartInMs: number;
}

export const appserviceRestartMachine = setup({
  types: {
    context: {} as AppserviceRestartContext,
    input: {} as { serviceId: string },
    /** The service's actor crashed (or its row could not be read for a restart). */
    events: {} as { type: 'CRASHED'; error: unknown },
  },
  actors: {
    // Provided by actors/: the actor's input from the service's stored row.
    readRow: fromPromise<AppserviceInput, { serviceId: string }>(() => Promise.reject(new Error('readRow is not provided'))),
  },
  actions: {
    // Provided by actors/.
    logCrash: (_args, _crash: CrashLog) => {},
    // Provided by actors/: start the actor again with this input.
    respawn: (_args, _input: AppserviceInput) => {},
    countCrash: assign({ crashesInARow: ({ context }) => context.crashesInARow + 1 }),
    forgetCrashes: assign({ crashesInARow: 0 }),
  },
  guards: {
    restartAtOnce: ({ context }) => restartDelayMs(context.crashesInARow) === 0,
  },
  delays: {
    restartDelay: ({ context }) => restartDelayMs(context.crashesInARow),
    crashMemory: CRASH_MEMORY_MS,
  },
}).createMachine({
  id: 'appserviceRestart',
  type: 'parallel',
  context: ({ input }) => ({ serviceId: input.serviceId, crashesInARow: 0 }),
  on: {
    CRASHED: {
      // Both regions are entered anew: the crash memory counts from this crash.
      target: ['.memory.remembering', '.restart.scheduling'],
      actions: [
        'countCrash',
        {
          type: 'logCrash',
          params: ({ context, event }) => ({ serviceId: context.serviceId, error: event.error, restartInMs: restartDelayMs(context.crashesInARow) }),
        },
      ],
    },
  },
  states: {
    memory: {
      initial: 'forgotten',
      states: {
        forgotten: {},
        remembering: {
          after: { crashMemory: { target: 'forgotten', actions: 'forgetCrashes' } },
        },
      },
    },
    restart: {
      initial: 'idle',
      states: {
        idle: {},
        scheduling: {
          always: [{ guard: 'restartAtOnce', target: 'reading' }, { target: 'waiting' }],
        },
        waiting: {
          after: { restartDelay: 'reading' },
        },
        reading: {
          invoke: {
            src: 'readRow',
            input: ({ context }) => ({ serviceId: context.serviceId }),
            onDone: { target: 'idle', actions: { type: 'respawn', params: ({ event }) => event.output } },
            onError: { target: 'idle', actions: raise(({ event }) => ({ type: 'CRASHED' as const, error: event.error })) },
          },
        },
      },
    },
  },
});
