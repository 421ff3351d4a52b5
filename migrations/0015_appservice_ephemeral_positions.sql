-- Application services (issue 7 follow-up): how far each service has been sent receipts, presence and to-device
-- messages is a row too, so what is written while Troupe is down, or while the service is DOWN across a restart,
-- is delivered after recovery, exactly once. Typing is not here: it lives in memory and starts again at restart.
--
-- `appservice_state`: `receipts_position` and `presence_position` are the last stream ids of those streams the
-- service has been sent (or found uninteresting). To-device messages of one send share a stream id, so their
-- position is the last message given as (stream id, user id, device id), in the order they are read in:
-- `to_device_user_id` and `to_device_device_id` are NULL when every message of `to_device_position` is behind.
-- Services that existed before this migration start at the streams' current positions (no history replayed).
--
-- `appservice_transactions`: where each of those moves when the transaction is acknowledged (NULL: it does not
-- move), applied in the statement that deletes the row.
ALTER TABLE appservice_state
  ADD COLUMN receipts_position bigint,
  ADD COLUMN presence_position bigint,
  ADD COLUMN to_device_position bigint,
  ADD COLUMN to_device_user_id text,
  ADD COLUMN to_device_device_id text;

UPDATE appservice_state SET
  receipts_position = (SELECT COALESCE(max(stream_id), 0) FROM receipts),
  presence_position = (SELECT COALESCE(max(stream_id), 0) FROM presence),
  to_device_position = GREATEST(
    (SELECT COALESCE(max(stream_id), 0) FROM to_device_messages),
    (SELECT COALESCE(max(stream_id), 0) FROM to_device_txns)
  );

ALTER TABLE appservice_state
  ALTER COLUMN receipts_position SET NOT NULL,
  ALTER COLUMN presence_position SET NOT NULL,
  ALTER COLUMN to_device_position SET NOT NULL;

ALTER TABLE appservice_transactions
  ADD COLUMN receipts_to bigint,
  ADD COLUMN presence_to bigint,
  ADD COLUMN to_device_to bigint,
  ADD COLUMN to_device_user_id text,
  ADD COLUMN to_device_device_id text;

-- The services' reads go through these streams by stream id from their positions (not by room or by device).
CREATE INDEX to_device_messages_by_stream ON to_device_messages (stream_id, user_id, device_id);
CREATE INDEX receipts_by_stream_id ON receipts (stream_id);
