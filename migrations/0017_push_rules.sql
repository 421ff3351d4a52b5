-- Push rules: one row per user who changed anything, holding that user's own rules (per kind, most important
-- first) and their changes to server-default rules (enabled, actions). The server-default rules themselves are
-- code (src/pushRules/rules.ts), so a new spec version's defaults reach every user without a migration.
-- stream_id is the push_rules stream id of the latest change; the stream's position at boot is the largest one.
CREATE TABLE push_rules (
  user_id text PRIMARY KEY,
  rules jsonb NOT NULL,
  stream_id bigint NOT NULL
);

CREATE INDEX push_rules_by_stream ON push_rules (stream_id);
