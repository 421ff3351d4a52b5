// A stream's id generator with its announcer: write a fact under the next id, and once the stream's position
// reaches it, the notifier wakes its audience.
import type { Database, Transaction } from '../storage/database.ts';
import type { Notifier } from '../notifier.ts';
import { StreamAnnouncer, type Audience } from '../streams/announcer.ts';
import { StreamIdGenerator } from '../streams/idGenerator.ts';
import type { StreamName } from '../streams/names.ts';

export class StreamWriter {
  readonly generator: StreamIdGenerator;
  private readonly announcer: StreamAnnouncer;
  private readonly db: Database;

  constructor(db: Database, notifier: Notifier, stream: StreamName, initialPosition: number) {
    this.db = db;
    this.generator = new StreamIdGenerator({ stream, initialPosition });
    this.announcer = new StreamAnnouncer(this.generator, (n) => notifier.notify(n));
  }

  get position(): number {
    return this.generator.position;
  }

  /** Runs `write` in one transaction under a new stream id; `audience` hears of it after commit. */
  async write<T>(write: (tx: Transaction, id: number) => Promise<{ result: T; audience: Audience }>): Promise<T> {
    return this.announcer.write((id) => this.db.transaction((tx) => write(tx, id)));
  }

  close(): void {
    this.announcer.close();
  }
}
