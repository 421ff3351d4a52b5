-- Federation, inbound: events received from other servers that are not in the timeline, and remembered
-- transaction responses.
--
-- `event_outliers` holds remote events that have no place in `events` (which is the timeline: every row there has a
-- stream ordering that sync and /messages serve):
--   * 'soft_failed': passed the auth checks against its auth events and the state before it, failed against the
--     room's current state. Kept so that the DAG stays whole (later events may name it as a prev or auth event), but
--     never served to clients and never a forward extremity.
--   * 'rejected': failed the auth checks against its auth events or the state before it. Never in the timeline; kept
--     (with the reason) only so that an event that cites it as an auth event is rejected in turn, and a resent copy
--     gets the same answer without new work.
-- The PDU is kept as received (redacted when its content hash did not match).
CREATE TABLE event_outliers (
  event_id text PRIMARY KEY,
  room_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('soft_failed', 'rejected')),
  reason text,
  pdu text NOT NULL,
  received_ts bigint NOT NULL
);

CREATE INDEX event_outliers_by_room ON event_outliers (room_id);

-- PUT /_matrix/federation/v1/send/{txnId} is idempotent per (origin, txn_id): the response to a transaction is
-- stored once it is processed, and a repeat gets that response without anything being processed again.
CREATE TABLE federation_inbound_transactions (
  origin text NOT NULL,
  txn_id text NOT NULL,
  response text NOT NULL,
  received_ts bigint NOT NULL,
  PRIMARY KEY (origin, txn_id)
);
