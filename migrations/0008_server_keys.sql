-- Remote servers' signing keys, as fetched from the server itself or from a notary (src/federation/keyring.ts).
-- One row per (server, key id). valid_until_ts is the response's valid_until_ts for a current key (callers cap it
-- at fetched_ts + 7 days for room versions 5+) or the key's expired_ts for a key listed in old_verify_keys.
-- response_json is the whole self-signed /_matrix/key/v2/server response the key came in, exactly as verified,
-- so this server can answer notary queries with it. Times are milliseconds since the Unix epoch.
CREATE TABLE server_keys (
  server_name text NOT NULL,
  key_id text NOT NULL,
  verify_key text NOT NULL,
  old boolean NOT NULL,
  valid_until_ts bigint NOT NULL,
  fetched_ts bigint NOT NULL,
  fetched_from text NOT NULL,
  response_json text NOT NULL,
  PRIMARY KEY (server_name, key_id)
);
