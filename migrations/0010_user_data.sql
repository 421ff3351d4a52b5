-- Per-user data streams served by /sync next to the rooms: account data, receipts, to-device messages, device
-- list changes and presence. Each row carries the id it was written under on its stream (StreamIdGenerator of
-- the same name); a rewrite takes a new id, so "what changed since position P" is `stream_id > P`. The stream's
-- position at boot is the largest id stored (typing is in memory and has no table).

-- Global account data has room_id '' (room ids are never empty); room account data includes m.tag.
CREATE TABLE account_data (
  user_id text NOT NULL,
  room_id text NOT NULL,
  type text NOT NULL,
  content jsonb NOT NULL,
  stream_id bigint NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);

CREATE INDEX account_data_by_stream ON account_data (user_id, stream_id);

-- The newest receipt of each (room, type, user, thread); thread_id '' for an unthreaded receipt. m.read.private
-- rows are only ever served to their user.
CREATE TABLE receipts (
  room_id text NOT NULL,
  receipt_type text NOT NULL,
  user_id text NOT NULL,
  thread_id text NOT NULL,
  event_id text NOT NULL,
  -- The stream ordering of event_id: how far the user has read, for unread counts.
  event_stream_ordering bigint NOT NULL,
  ts bigint NOT NULL,
  stream_id bigint NOT NULL,
  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);

CREATE INDEX receipts_by_stream ON receipts (room_id, stream_id);
CREATE INDEX receipts_by_user ON receipts (user_id, room_id);

-- To-device messages waiting for their device. One send takes one stream id for all its target devices; rows are
-- deleted once the device syncs with a `since` at or past them.
CREATE TABLE to_device_messages (
  user_id text NOT NULL,
  device_id text NOT NULL,
  stream_id bigint NOT NULL,
  sender text NOT NULL,
  type text NOT NULL,
  content jsonb NOT NULL,
  PRIMARY KEY (user_id, device_id, stream_id)
);

-- /sendToDevice transaction ids (idempotency per sender device). Kept after delivery: they also keep the stream's
-- largest id when every message has been deleted.
CREATE TABLE to_device_txns (
  user_id text NOT NULL,
  device_id text NOT NULL,
  txn_id text NOT NULL,
  stream_id bigint NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);

-- The newest change to each user's device list (a device created, renamed or deleted).
CREATE TABLE device_list_changes (
  user_id text PRIMARY KEY,
  stream_id bigint NOT NULL
);

CREATE INDEX device_list_changes_by_stream ON device_list_changes (stream_id);

CREATE TABLE presence (
  user_id text PRIMARY KEY,
  state text NOT NULL,
  status_msg text,
  last_active_ts bigint NOT NULL,
  currently_active boolean NOT NULL,
  stream_id bigint NOT NULL
);

CREATE INDEX presence_by_stream ON presence (stream_id);
