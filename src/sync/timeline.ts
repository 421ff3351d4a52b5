// The timelines of many rooms at once: per room the newest `limit` events in (after, upTo] that the user may see
// (history visibility, not from an ignored user) and that pass the timeline filter. One more such event is looked
// for, so that `limited` is true exactly when a visible event was skipped. Rows are read in one batched statement
// for all rooms; rooms where too many rows were invisible are read further back, again batched.
import type { StoredEvent } from '../storage/events.ts';
import type { SyncReads } from './reads.ts';

export interface TimelineRange {
  roomId: string;
  after: number;
  upTo: number;
}

export interface Timeline {
  /** Oldest first. */
  events: StoredEvent[];
  limited: boolean;
}

export async function loadTimelines(
  store: Pick<SyncReads, 'newestEvents'>,
  ranges: readonly TimelineRange[],
  limit: number,
  accept: (event: StoredEvent) => boolean,
): Promise<Map<string, Timeline>> {
  const wanted = limit + 1;
  // Read a little more than needed, so that a few invisible or filtered events do not cost a second round.
  const batch = Math.min(wanted + 10, wanted * 2);
  const found = new Map<string, StoredEvent[]>(ranges.map((r) => [r.roomId, []]));
  let pending = ranges.filter((r) => r.upTo > r.after).map((r) => ({ ...r }));
  while (pending.length > 0) {
    const rows = await store.newestEvents(pending, batch);
    const next: TimelineRange[] = [];
    for (const range of pending) {
      const list = found.get(range.roomId) as StoredEvent[];
      const events = rows.get(range.roomId) ?? [];
      for (const e of events) {
        range.upTo = e.streamOrdering - 1;
        if (accept(e)) list.push(e);
        if (list.length >= wanted) break;
      }
      if (list.length < wanted && events.length === batch && range.upTo > range.after) next.push(range);
    }
    pending = next;
  }
  const out = new Map<string, Timeline>();
  for (const [roomId, list] of found) {
    const limited = list.length > limit;
    out.set(roomId, { events: list.slice(0, limit).reverse(), limited });
  }
  return out;
}
