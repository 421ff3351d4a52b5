// Tells the notifier about a stream's advances with the right audience. Ids complete out of order, so
// the fact that completes last is not the only one becoming readable: when the position jumps from 1
// to 3, the users and rooms of facts 2 and 3 must both hear of it. Writers record each id's audience;
// on every advance this sends one notification with the union of the audiences of the ids that just
// became readable (rolled-back ids have none and are skipped).
import type { StreamIdGenerator } from './idGenerator.ts';
import type { StreamNotification } from '../notifier.ts';

export interface Audience {
  users?: readonly string[];
  rooms?: readonly string[];
}

export class StreamAnnouncer {
  private readonly audiences = new Map<number, Audience>();
  private readonly generator: StreamIdGenerator;
  private readonly notify: (n: StreamNotification) => void;
  private readonly unsubscribe: () => void;

  constructor(generator: StreamIdGenerator, notify: (n: StreamNotification) => void) {
    this.generator = generator;
    this.notify = notify;
    this.unsubscribe = generator.onAdvance((position, stream, previous) => {
      const users = new Set<string>();
      const rooms = new Set<string>();
      for (let id = previous + 1; id <= position; id++) {
        const audience = this.audiences.get(id);
        if (!audience) continue;
        this.audiences.delete(id);
        for (const u of audience.users ?? []) users.add(u);
        for (const r of audience.rooms ?? []) rooms.add(r);
      }
      this.notify({
        stream,
        position,
        ...(users.size > 0 ? { users: [...users] } : {}),
        ...(rooms.size > 0 ? { rooms: [...rooms] } : {}),
      });
    });
  }

  /** Who must hear of the fact written under `id`; call before the id completes. */
  setAudience(id: number, audience: Audience): void {
    if (id <= this.generator.position) throw new Error(`id ${id} is already readable; set its audience before completing it`);
    this.audiences.set(id, audience);
  }

  /** Like the generator's withNextId, with the audience recorded when the write succeeds. */
  async write<T>(run: (id: number) => Promise<{ result: T; audience: Audience }>, writer?: string): Promise<T> {
    return this.generator.withNextId(async (id) => {
      const { result, audience } = await run(id);
      this.setAudience(id, audience);
      return result;
    }, writer);
  }

  close(): void {
    this.unsubscribe();
  }
}
