-- Federation, inbound: auth events fetched to check a received PDU (GET /_matrix/federation/v1/event_auth from its
-- origin) are kept in event_outliers too, as kind 'outlier': they passed the format, signature and auth checks against
-- their own auth events, but were never checked against the room's state and have no place in the timeline. Such an
-- event may later arrive as a PDU of its own; it then goes through every check and, if accepted, moves to `events`.
ALTER TABLE event_outliers DROP CONSTRAINT event_outliers_kind_check;
ALTER TABLE event_outliers ADD CONSTRAINT event_outliers_kind_check CHECK (kind IN ('soft_failed', 'rejected', 'outlier'));
