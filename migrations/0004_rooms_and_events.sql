-- Rooms and their events.
--
-- Events. Every accepted event is one row of `events`, holding the PDU exactly as signed (text, so that the bytes
-- that were hashed are the bytes served), with the columns queries need pulled out. `stream_ordering` is the
-- event's position on the `events` stream (StreamIdGenerator 'events'); it orders a room's timeline and is what
-- sync and /messages tokens point at. Rejected events are never stored. `redacted_by` is set, in the same
-- transaction as the redaction, on the event it redacts; the PDU itself is kept whole and redacted when served.
--
-- State. A room's state is kept two ways, written in the same transaction as the event:
--   * `current_state`: one row per (room, type, state_key) with the event that holds it now. Reading the current
--     state (for auth, /state, /members) is a primary-key range scan.
--   * `state_history`: one row per accepted state event, keyed by the event's stream ordering. The state of a room
--     at stream position S (after every event up to S) is, for each (type, state_key), the newest row at or below S
--     ("DISTINCT ON (type, state_key) ... ORDER BY stream_ordering DESC"); the state that changed between positions
--     A and B is exactly the rows with A < stream_ordering <= B, which is what incremental sync needs. The state
--     after a given event is the state at that event's stream ordering.
-- This linear model holds because a room's events are created one at a time in stream order on this server (the
-- room writer serialises them). Events received over federation, whose state comes from state resolution rather
-- than from the previous event, will need state groups keyed by event; that is a later migration.
--
-- Memberships of local users get their own table (`local_memberships`, keyed by user first) for /joined_rooms, the
-- notifier's loadRoomsForUser and /forget. Transaction ids make /send idempotent per (user, device, txn_id).

CREATE TABLE rooms (
  room_id text PRIMARY KEY,
  room_version text NOT NULL,
  creator text NOT NULL,
  -- Published in the room directory (createRoom `visibility: public`).
  is_public boolean NOT NULL DEFAULT false,
  created_ts bigint NOT NULL
);

CREATE TABLE events (
  stream_ordering bigint PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  room_id text NOT NULL REFERENCES rooms (room_id),
  type text NOT NULL,
  -- null for a message event; '' is a valid state key.
  state_key text,
  sender text NOT NULL,
  depth bigint NOT NULL,
  origin_server_ts bigint NOT NULL,
  -- For m.room.redaction: the event it redacts.
  redacts text,
  -- The redaction event that redacted this one (only set when the redaction was allowed).
  redacted_by text,
  -- The PDU as signed, canonical JSON text.
  pdu text NOT NULL
);

CREATE INDEX events_by_room ON events (room_id, stream_ordering);

-- The DAG: an event's prev_events and auth_events.
CREATE TABLE event_edges (
  event_id text NOT NULL,
  prev_event_id text NOT NULL,
  PRIMARY KEY (event_id, prev_event_id)
);

CREATE TABLE event_auth (
  event_id text NOT NULL,
  auth_event_id text NOT NULL,
  PRIMARY KEY (event_id, auth_event_id)
);

-- The events of a room that no other event points at yet: the next local event's prev_events.
CREATE TABLE forward_extremities (
  room_id text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (room_id, event_id)
);

CREATE TABLE current_state (
  room_id text NOT NULL,
  type text NOT NULL,
  state_key text NOT NULL,
  event_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  -- For m.room.member: content.membership, so member lists need no JSON parsing.
  membership text,
  PRIMARY KEY (room_id, type, state_key)
);

CREATE TABLE state_history (
  room_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  type text NOT NULL,
  state_key text NOT NULL,
  event_id text NOT NULL,
  -- The event that held (type, state_key) before, or null if nothing did.
  prev_event_id text,
  membership text,
  PRIMARY KEY (room_id, stream_ordering, type, state_key)
);

CREATE INDEX state_history_by_key ON state_history (room_id, type, state_key, stream_ordering);

CREATE TABLE local_memberships (
  user_id text NOT NULL,
  room_id text NOT NULL,
  membership text NOT NULL,
  event_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  -- Set by /forget after leaving; cleared when the user's membership changes again.
  forgotten boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, room_id)
);

CREATE INDEX local_memberships_by_room ON local_memberships (room_id);

CREATE TABLE event_txn_ids (
  user_id text NOT NULL,
  device_id text NOT NULL,
  txn_id text NOT NULL,
  event_id text NOT NULL,
  room_id text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE INDEX event_txn_ids_by_event ON event_txn_ids (event_id);
