-- Accounts: user types for shared-secret registration, generated localparts, profiles, refresh tokens and
-- user-interactive authentication sessions.

-- Synapse's user_type ('bot', 'support' or null for a normal user), set by shared-secret registration.
ALTER TABLE users ADD COLUMN user_type text;

-- Localparts generated for /register without a username are numbers taken from this sequence (a user cannot
-- choose an all-digit localpart, so the two never collide).
CREATE SEQUENCE generated_localparts START 1;

-- Profile fields, one row per (user, key): displayname, avatar_url, m.tz and custom namespaced keys.
CREATE TABLE profile_fields (
  user_id text NOT NULL REFERENCES users (user_id),
  field text NOT NULL,
  value jsonb NOT NULL,
  PRIMARY KEY (user_id, field)
);

-- Refresh tokens, stored only as their SHA-256 like access tokens. Each is paired with the access token issued
-- with it; using it (POST /refresh) deletes both and issues a new pair. Deleting a device deletes its tokens.
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  access_token_hash bytea NOT NULL,
  created_ts bigint NOT NULL,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

CREATE INDEX refresh_tokens_by_access_token ON refresh_tokens (access_token_hash);
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (user_id, device_id);

-- User-interactive authentication sessions (src/auth/uia.ts). A session is bound to one operation (method and
-- path) and, for authenticated operations, to one user; `completed` lists the stages done so far. Kept in the
-- database so that a session survives a restart; expired sessions are deleted when new ones are created.
CREATE TABLE uia_sessions (
  session_id text PRIMARY KEY,
  operation text NOT NULL,
  user_id text,
  completed jsonb NOT NULL,
  created_ts bigint NOT NULL,
  expires_ts bigint NOT NULL
);

CREATE INDEX uia_sessions_by_expiry ON uia_sessions (expires_ts);
