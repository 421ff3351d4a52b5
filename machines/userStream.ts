// The stream of one user who is syncing (DESIGN.md §4, User stream), as seen by inspection.
//
// The hot path never goes through this actor: waking 100,000 waiting requests must cost a few µs each,
// and an XState event costs 8-27 µs and an actor ~4 KB. So the user's token and waiting requests live
// in a compact record kept by the supervisor's wiring (actors/userStreams.ts), and this actor exists
// while the user is actively syncing: it is spawned when a request starts waiting on a stream that had
// no actor, and told LISTENERS_LAPSED once nobody has listened for the re-listen grace (a sync client
// re-polls within it). It then ends, and the stream stays a compact idle record until it expires.
import { setup } from 'xstate';

export interface UserStreamContext {
  userId: string;
}

export interface UserStreamInput {
  userId: string;
}

export type UserStreamEvent = { type: 'LISTENERS_LAPSED' };

export const userStreamMachine = setup({
  types: {
    context: {} as UserStreamContext,
    input: {} as UserStreamInput,
    events: {} as UserStreamEvent,
    output: {} as { userId: string },
  },
}).createMachine({
  id: 'userStream',
  context: ({ input }) => ({ userId: input.userId }),
  initial: 'syncing',
  states: {
    // Some request is waiting on the stream, or was within the re-listen grace.
    syncing: {
      on: { LISTENERS_LAPSED: 'lapsed' },
    },
    lapsed: { type: 'final' },
  },
  output: ({ context }) => ({ userId: context.userId }),
});
