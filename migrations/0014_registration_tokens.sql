-- Registration tokens (m.login.registration_token, spec v1.2), managed through Synapse's admin API.
-- uses_allowed NULL: unlimited; expiry_time NULL: never expires (milliseconds since the epoch otherwise).
CREATE TABLE registration_tokens (
  token text PRIMARY KEY,
  uses_allowed integer CHECK (uses_allowed >= 0),
  completed integer NOT NULL DEFAULT 0,
  expiry_time bigint
);

-- A use held by a registration that passed the token stage and has not finished yet (a "pending" use). It lapses
-- with its user-interactive auth session, so an abandoned registration does not hold a use for ever; a finished one
-- turns it into a completed use in the transaction that creates the account.
CREATE TABLE registration_token_uses (
  session_id text PRIMARY KEY,
  token text NOT NULL REFERENCES registration_tokens (token) ON DELETE CASCADE,
  expires_ts bigint NOT NULL
);

CREATE INDEX registration_token_uses_by_token ON registration_token_uses (token, expires_ts);
