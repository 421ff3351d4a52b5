// The auth chain of a set of events: their auth_events, those events' auth_events, and so on (server-server API
// "Auth chain"), read from the event_auth edges in one recursive query. Auth events fetched from other servers to
// check a received event (event_outliers kind 'outlier', with their event_auth edges) belong to the chain too,
// though they are not in the timeline: without them a server could not check what we send it.
import type { JsonObject } from '../../protocol/json.ts';
import type { Queryable } from '../../storage/database.ts';
import { EVENT_COLUMNS, toStoredEvent, type StoredEvent } from '../../storage/events.ts';

export type ChainEvent = Pick<StoredEvent, 'eventId' | 'pdu' | 'redactedBy'>;

/**
 * Every event in the auth chains of `eventIds` (not the events themselves unless one authorises another), oldest
 * first: the outliers (by depth; they were fetched as auth events of older events), then the timeline's in order.
 */
export async function authChain(db: Queryable, eventIds: readonly string[]): Promise<ChainEvent[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await db.query<Parameters<typeof toStoredEvent>[0] & { chain_id: string }>(
    `WITH RECURSIVE chain(event_id) AS (
       SELECT auth_event_id FROM event_auth WHERE event_id = ANY($1::text[])
       UNION
       SELECT a.auth_event_id FROM event_auth a JOIN chain c ON a.event_id = c.event_id
     )
     SELECT chain.event_id AS chain_id, ${EVENT_COLUMNS} FROM chain LEFT JOIN events e ON e.event_id = chain.event_id
     ORDER BY e.stream_ordering`,
    [[...eventIds]],
  );
  const inTimeline = rows.filter((r) => r.event_id !== null).map(toStoredEvent);
  const elsewhere = rows.filter((r) => r.event_id === null).map((r) => r.chain_id);
  if (elsewhere.length === 0) return inTimeline;
  const outliers = await db.query<{ event_id: string; pdu: string }>(
    // A fetched auth event may have been soft-failed since, when it arrived as a PDU of its own: it still authorises.
    `SELECT event_id, pdu FROM event_outliers WHERE event_id = ANY($1::text[]) AND kind IN ('outlier', 'soft_failed')`,
    [elsewhere],
  );
  const fetched = outliers.rows
    .map((r) => ({ eventId: r.event_id, pdu: JSON.parse(r.pdu) as JsonObject, redactedBy: null }))
    .sort((a, b) => depthOf(a.pdu) - depthOf(b.pdu));
  return [...fetched, ...inTimeline];
}

function depthOf(pdu: JsonObject): number {
  return typeof pdu['depth'] === 'number' ? pdu['depth'] : 0;
}
