-- Devices and the access tokens that belong to them. Tokens are never stored: only their SHA-256.
-- Deleting a device deletes its tokens.
CREATE TABLE devices (
  user_id text NOT NULL REFERENCES users (user_id),
  device_id text NOT NULL,
  display_name text,
  last_seen_ts bigint,
  last_seen_ip text,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
  token_hash bytea PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  created_ts bigint NOT NULL,
  -- Set when the token was issued with a refresh token: after this time it is refused (soft logout).
  valid_until_ts bigint,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

CREATE INDEX access_tokens_by_device ON access_tokens (user_id, device_id);
