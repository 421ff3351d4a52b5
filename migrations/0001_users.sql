-- Local user accounts. user_id is the full Matrix user id (@localpart:server_name).
-- password_hash is null for accounts that cannot log in with a password (e.g. appservice users).
-- creation_ts is milliseconds since the Unix epoch.
CREATE TABLE users (
  user_id text PRIMARY KEY,
  password_hash text,
  admin boolean NOT NULL DEFAULT false,
  deactivated boolean NOT NULL DEFAULT false,
  creation_ts bigint NOT NULL
);
