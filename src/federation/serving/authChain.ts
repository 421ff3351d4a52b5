// The auth chain of a set of events: their auth_events, those events' auth_events, and so on (server-server API
// "Auth chain"), read from the event_auth edges in one recursive query.
import type { Queryable } from '../../storage/database.ts';
import { EVENT_COLUMNS, toStoredEvent, type StoredEvent } from '../../storage/events.ts';

/** Every event in the auth chains of `eventIds` (not the events themselves unless one authorises another), oldest first. */
export async function authChain(db: Queryable, eventIds: readonly string[]): Promise<StoredEvent[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await db.query<Parameters<typeof toStoredEvent>[0]>(
    `WITH RECURSIVE chain(event_id) AS (
       SELECT auth_event_id FROM event_auth WHERE event_id = ANY($1::text[])
       UNION
       SELECT a.auth_event_id FROM event_auth a JOIN chain c ON a.event_id = c.event_id
     )
     SELECT ${EVENT_COLUMNS} FROM chain JOIN events e ON e.event_id = chain.event_id ORDER BY e.stream_ordering`,
    [[...eventIds]],
  );
  return rows.map(toStoredEvent);
}
