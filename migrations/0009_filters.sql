-- Filters uploaded through POST /user/{userId}/filter, kept per user. `filter_id` counts up from 0 per user and is
-- what the client gets back (as a string). `filter_json` is the filter as canonical JSON, so that uploading the same
-- filter again (matrix-js-sdk does on every start) answers the id it already has instead of adding a row.
CREATE TABLE user_filters (
  user_id text NOT NULL,
  filter_id bigint NOT NULL,
  filter_json text NOT NULL,
  PRIMARY KEY (user_id, filter_id)
);

CREATE UNIQUE INDEX user_filters_by_json ON user_filters (user_id, filter_json);
