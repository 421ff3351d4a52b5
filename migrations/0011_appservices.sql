-- Application services (issue 7): where each registered service stands on the `events` stream, whether it is UP
-- or DOWN, and the transactions built for it but not yet acknowledged.
--
-- `appservice_state`: one row per service id (the registration file's `id`), created when the service is first
-- seen, at the then current events position (a new service is not replayed the server's history).
-- `stream_position` is the last events stream ordering the service has been given or found uninteresting;
-- `last_txn_id` is a counter bumped in the same transaction that stores a new transaction, so transaction ids
-- never repeat, across restarts too. `backoff_step` is the recoverer's n (the next retry waits 2^n s).
--
-- `appservice_transactions`: the transactions stored before their PUT (so a crash resends the same txnId with the
-- same contents). `contents` is the request body as sent (JSON text); `to_position` is where the service's
-- stream position moves when the service acknowledges it, and the row is then deleted.
CREATE TABLE appservice_state (
  service_id text PRIMARY KEY,
  state text NOT NULL DEFAULT 'up' CHECK (state IN ('up', 'down')),
  stream_position bigint NOT NULL,
  backoff_step integer NOT NULL DEFAULT 0,
  last_txn_id bigint NOT NULL DEFAULT 0
);

CREATE TABLE appservice_transactions (
  service_id text NOT NULL REFERENCES appservice_state (service_id),
  txn_id bigint NOT NULL,
  contents text NOT NULL,
  to_position bigint NOT NULL,
  event_count integer NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (service_id, txn_id)
);
