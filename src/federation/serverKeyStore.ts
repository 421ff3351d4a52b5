// The remote server keys cache (migrations/0008_server_keys.sql): one row per (server, key id), each with the
// whole signed response it arrived in so the notary endpoints can hand it on unchanged.
import type { Queryable } from '../storage/database.ts';

export interface StoredServerKey {
  serverName: string;
  keyId: string;
  /** Unpadded Base64 of the 32-byte ed25519 public key. */
  verifyKey: string;
  /** Listed in old_verify_keys: `validUntilTs` is then its expired_ts. */
  old: boolean;
  /** As published (not capped); see migrations/0008. */
  validUntilTs: number;
  fetchedTs: number;
  /** The server the response came from: the key's own server, or a notary. */
  fetchedFrom: string;
  /** The self-signed /_matrix/key/v2/server response, as JSON text. */
  responseJson: string;
}

export interface ServerKeyStore {
  keysOf(serverName: string): Promise<StoredServerKey[]>;
  /** Stores every key of one verified response (newer fetches replace older rows of the same key id). */
  storeResponse(keys: readonly StoredServerKey[]): Promise<void>;
}

interface Row {
  server_name: string;
  key_id: string;
  verify_key: string;
  old: boolean;
  valid_until_ts: number;
  fetched_ts: number;
  fetched_from: string;
  response_json: string;
}

export class PostgresServerKeyStore implements ServerKeyStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async keysOf(serverName: string): Promise<StoredServerKey[]> {
    const { rows } = await this.#db.query<Row>(
      `SELECT server_name, key_id, verify_key, old, valid_until_ts, fetched_ts, fetched_from, response_json
       FROM server_keys WHERE server_name = $1 ORDER BY key_id`,
      [serverName],
    );
    return rows.map((r) => ({
      serverName: r.server_name,
      keyId: r.key_id,
      verifyKey: r.verify_key,
      old: r.old,
      validUntilTs: r.valid_until_ts,
      fetchedTs: r.fetched_ts,
      fetchedFrom: r.fetched_from,
      responseJson: r.response_json,
    }));
  }

  async storeResponse(keys: readonly StoredServerKey[]): Promise<void> {
    // One statement: the rows of a response land together or not at all.
    if (keys.length === 0) return;
    const values: unknown[] = [];
    const tuples = keys.map((k, i) => {
      values.push(k.serverName, k.keyId, k.verifyKey, k.old, k.validUntilTs, k.fetchedTs, k.fetchedFrom, k.responseJson);
      const b = i * 8;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8})`;
    });
    // A response fetched earlier than the stored one (a slow notary answer) never replaces it.
    await this.#db.query(
      `INSERT INTO server_keys (server_name, key_id, verify_key, old, valid_until_ts, fetched_ts, fetched_from, response_json)
       VALUES ${tuples.join(', ')}
       ON CONFLICT (server_name, key_id) DO UPDATE SET
         verify_key = EXCLUDED.verify_key, old = EXCLUDED.old, valid_until_ts = EXCLUDED.valid_until_ts,
         fetched_ts = EXCLUDED.fetched_ts, fetched_from = EXCLUDED.fetched_from, response_json = EXCLUDED.response_json
       WHERE server_keys.fetched_ts <= EXCLUDED.fetched_ts`,
      values,
    );
  }
}
