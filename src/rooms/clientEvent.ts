// Events as clients see them (Client-Server API "ClientEvent"): the PDU's client-visible keys, `unsigned.age`, the
// sender's own `transaction_id`, and for a redacted event the content the room version keeps plus
// `unsigned.redacted_because`.
import type { JsonObject } from '../protocol/json.ts';
import { redactContent } from '../protocol/redaction.ts';
import type { RoomVersion } from '../protocol/roomVersions.ts';
import type { StoredEvent } from '../storage/events.ts';

export interface ClientEventOptions {
  now: number;
  /** txn ids of the requesting device, by event id. */
  txnIds?: ReadonlyMap<string, string>;
  /** Redaction events by id, for redacted_because. */
  redactions?: ReadonlyMap<string, StoredEvent>;
  /** For state events: the event each replaced (replaces_state), by event id. */
  replaces?: ReadonlyMap<string, string>;
  /** Replaced events the requester may see, by id (prev_content). */
  previous?: ReadonlyMap<string, StoredEvent>;
}

export function toClientEvent(e: StoredEvent, version: RoomVersion, opts: ClientEventOptions): JsonObject {
  const pdu = e.pdu;
  const content = (pdu['content'] ?? {}) as JsonObject;
  const unsigned: JsonObject = { age: Math.max(0, opts.now - e.originServerTs) };
  const txnId = opts.txnIds?.get(e.eventId);
  if (txnId !== undefined) unsigned['transaction_id'] = txnId;
  const out: JsonObject = {
    content,
    event_id: e.eventId,
    origin_server_ts: e.originServerTs,
    room_id: e.roomId,
    sender: e.sender,
    type: e.type,
  };
  if (e.stateKey !== null) {
    out['state_key'] = e.stateKey;
    const replaced = opts.replaces?.get(e.eventId);
    if (replaced !== undefined) {
      unsigned['replaces_state'] = replaced;
      const previous = opts.previous?.get(replaced);
      if (previous) {
        const prevContent = (previous.pdu['content'] ?? {}) as JsonObject;
        unsigned['prev_content'] = previous.redactedBy !== null ? redactContent(previous.type, prevContent, version) : prevContent;
      }
    }
  }
  if (e.redacts !== null) out['redacts'] = e.redacts;
  if (e.redactedBy !== null) {
    out['content'] = redactContent(e.type, content, version);
    const because = opts.redactions?.get(e.redactedBy);
    if (because) unsigned['redacted_because'] = toClientEvent(because, version, { now: opts.now });
  }
  out['unsigned'] = unsigned;
  return out;
}
