// The keyring: remote servers' signing keys, fetched from each server directly (GET /_matrix/key/v2/server),
// checked (self-signed by every key it lists, about the right server), cached in server_keys, and handed out only
// while valid. Notaries (trusted_key_servers) are asked only when the server itself does not give us the keys,
// and only if configured. Our own keys never touch the network or the cache.
import type { Logger } from '../log.ts';
import type { JsonObject } from '../protocol/json.ts';
import { isJsonObject } from '../protocol/json.ts';
import {
  capValidUntilTs,
  checkJsonSignature,
  verifyKeyFromBase64,
  type ServerVerifyKeys,
  type SigningKey,
  type VerifyKey,
} from '../protocol/signing.ts';
import type { FederationFetcher } from './client.ts';
import { checkServerKeys, ownServerKeys, type OldVerifyKey } from './serverKeys.ts';
import type { ServerKeyStore, StoredServerKey } from './serverKeyStore.ts';

export interface TrustedKeyServer {
  serverName: string;
  /** Key id -> unpadded Base64 public key: a notary's answers must be signed with one of these. */
  verifyKeys: Readonly<Record<string, string>>;
}

export interface KeyringOptions {
  /** Our server name and key: asked about ourselves, the keyring answers with these. */
  serverName: string;
  signingKey: SigningKey;
  /** Our keys retired by rotations: published in old_verify_keys and still checked for what they signed. */
  oldVerifyKeys?: readonly OldVerifyKey[];
  store: ServerKeyStore;
  fetcher: FederationFetcher;
  trustedKeyServers?: readonly TrustedKeyServer[];
  now(): number;
  logger?: Logger;
  /**
   * A server whose keys were fetched less than this long ago is not asked again, even for a key id it did not
   * list: an unknown key id in a request must not turn us into a cannon pointed at the named server. Default 30 s.
   */
  refetchIntervalMs?: number;
}

const DEFAULT_REFETCH_INTERVAL_MS = 30_000;
const MEMORY_CACHE_SERVERS = 10_000;

interface CachedKeys {
  rows: StoredServerKey[];
  keys: Map<string, VerifyKey & { old: boolean }>;
}

/** A key's trusted lifetime: `valid_until_ts` capped at 7 days after the fetch (room versions 5+), or expired_ts. */
export function effectiveValidUntil(row: Pick<StoredServerKey, 'old' | 'validUntilTs' | 'fetchedTs'>): number {
  return row.old ? row.validUntilTs : capValidUntilTs(row.validUntilTs, row.fetchedTs);
}

export class Keyring {
  readonly #options: KeyringOptions;
  readonly #memory = new Map<string, CachedKeys>();
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #lastFetch = new Map<string, number>();
  /** Bumped per server whenever keys are stored, so a read that began before cannot cache what it saw. */
  readonly #stored = new Map<string, number>();

  constructor(options: KeyringOptions) {
    this.#options = options;
  }

  get serverName(): string {
    return this.#options.serverName;
  }

  /** Our signed /_matrix/key/v2/server document. */
  ownKeys(): JsonObject {
    return ownServerKeys(this.#options.serverName, this.#options.signingKey, this.#options.now(), undefined, this.#options.oldVerifyKeys);
  }

  /**
   * The keys of `serverName` that are valid until at least `minimumValidUntilTs` (pass the event's
   * origin_server_ts for room versions 5+, now for requests, 0 for room versions 1–4, which ignore validity),
   * fetching when the cache has none valid or lacks one of `keyIds`. May be empty: the server is unreachable and
   * nothing valid is cached. Each key's `validUntilTs` is its effective limit, for checkJsonSignature's `validAt`.
   */
  async getVerifyKeys(serverName: string, minimumValidUntilTs: number, keyIds: readonly string[] = []): Promise<ServerVerifyKeys> {
    if (serverName === this.#options.serverName) {
      const own = this.#options.signingKey;
      const keys = new Map<string, VerifyKey>([[own.keyId, { key: own.publicKey }]]);
      // A retired key of ours is trusted only for what was signed before it expired, as for any server's.
      for (const old of this.#options.oldVerifyKeys ?? []) {
        if (old.keyId === own.keyId || old.expiredTs < minimumValidUntilTs) continue;
        try {
          keys.set(old.keyId, { key: verifyKeyFromBase64(old.key), validUntilTs: old.expiredTs });
        } catch {
          // Config validation checks the shape only; a key Node cannot load verifies nothing.
        }
      }
      return keys;
    }
    let valid = this.#valid(await this.#cached(serverName), minimumValidUntilTs);
    if (!this.#satisfied(valid, keyIds)) {
      await this.#fetch(serverName, minimumValidUntilTs, keyIds);
      valid = this.#valid(await this.#cached(serverName), minimumValidUntilTs);
    }
    return valid;
  }

  /**
   * For the notary endpoints: the stored self-signed responses for `serverName`, after asking the server itself
   * when none is valid until `minimumValidUntilTs` or one of `keyIds` is missing. When the server cannot be
   * reached, what is cached is returned anyway (possibly stale), as the spec allows.
   */
  async keyResponses(serverName: string, minimumValidUntilTs: number, keyIds: readonly string[] = []): Promise<JsonObject[]> {
    if (serverName === this.#options.serverName) return [this.ownKeys()];
    let cached = await this.#cached(serverName);
    const current = cached.rows.filter((r) => r.validUntilTs >= minimumValidUntilTs);
    const ids = new Set(cached.rows.map((r) => r.keyId));
    if (current.length === 0 || keyIds.some((id) => !ids.has(id))) {
      await this.#fetch(serverName, minimumValidUntilTs, keyIds, { notaries: false });
      cached = await this.#cached(serverName);
    }
    const texts = new Set(cached.rows.map((r) => r.responseJson));
    return [...texts].map((text) => JSON.parse(text) as JsonObject);
  }

  #valid(cached: CachedKeys, minimumValidUntilTs: number): Map<string, VerifyKey> {
    const out = new Map<string, VerifyKey>();
    for (const [keyId, key] of cached.keys) {
      if (key.validUntilTs !== undefined && key.validUntilTs < minimumValidUntilTs) continue;
      out.set(keyId, { key: key.key, ...(key.validUntilTs !== undefined ? { validUntilTs: key.validUntilTs } : {}) });
    }
    return out;
  }

  #satisfied(valid: ReadonlyMap<string, VerifyKey>, keyIds: readonly string[]): boolean {
    return valid.size > 0 && keyIds.every((id) => valid.has(id));
  }

  async #cached(serverName: string): Promise<CachedKeys> {
    const hit = this.#memory.get(serverName);
    if (hit) return hit;
    const generation = this.#stored.get(serverName) ?? 0;
    const rows = await this.#options.store.keysOf(serverName);
    const keys = new Map<string, VerifyKey & { old: boolean }>();
    for (const row of rows) {
      try {
        keys.set(row.keyId, { key: verifyKeyFromBase64(row.verifyKey), validUntilTs: effectiveValidUntil(row), old: row.old });
      } catch {
        // A malformed stored key is skipped; a new fetch replaces it.
      }
    }
    const entry = { rows, keys };
    // Keys stored while this read ran: answer from the read, but leave the cache to the next one.
    if ((this.#stored.get(serverName) ?? 0) !== generation) return entry;
    if (this.#memory.size >= MEMORY_CACHE_SERVERS) this.#memory.clear();
    this.#memory.set(serverName, entry);
    return entry;
  }

  async #fetch(serverName: string, minimumValidUntilTs: number, keyIds: readonly string[], options: { notaries?: boolean } = {}): Promise<void> {
    const now = this.#options.now();
    const last = this.#lastFetch.get(serverName);
    if (last !== undefined && now - last < (this.#options.refetchIntervalMs ?? DEFAULT_REFETCH_INTERVAL_MS)) {
      // Wait for a fetch still running rather than start another.
      await this.#inFlight.get(serverName);
      return;
    }
    const running = this.#inFlight.get(serverName);
    if (running) return running;
    this.#lastFetch.set(serverName, now);
    const work = (async () => {
      const direct = await this.#fetchDirect(serverName);
      if (direct) {
        const valid = this.#valid(await this.#cached(serverName), minimumValidUntilTs);
        if (this.#satisfied(valid, keyIds)) return;
      }
      if (options.notaries === false) return;
      for (const notary of this.#options.trustedKeyServers ?? []) {
        if (notary.serverName === serverName) continue;
        await this.#fetchFromNotary(notary, serverName, minimumValidUntilTs, keyIds);
        const valid = this.#valid(await this.#cached(serverName), minimumValidUntilTs);
        if (this.#satisfied(valid, keyIds)) return;
      }
    })().finally(() => this.#inFlight.delete(serverName));
    this.#inFlight.set(serverName, work);
    return work;
  }

  /** Asks the server itself; true when a valid response was stored. */
  async #fetchDirect(serverName: string): Promise<boolean> {
    const log = this.#options.logger;
    try {
      const response = await this.#options.fetcher.request(serverName, { method: 'GET', path: '/_matrix/key/v2/server' });
      if (response.status !== 200) {
        log?.warn({ server: serverName, status: response.status }, 'fetching server keys failed');
        return false;
      }
      return await this.#storeDocument(serverName, response.body, serverName);
    } catch (error) {
      log?.warn({ server: serverName, err: (error as Error).message }, 'fetching server keys failed');
      return false;
    }
  }

  async #fetchFromNotary(notary: TrustedKeyServer, serverName: string, minimumValidUntilTs: number, keyIds: readonly string[]): Promise<void> {
    const log = this.#options.logger;
    const criteria: JsonObject = Object.fromEntries(keyIds.map((id) => [id, { minimum_valid_until_ts: minimumValidUntilTs }]));
    let body: unknown;
    try {
      const response = await this.#options.fetcher.request(notary.serverName, {
        method: 'POST',
        path: '/_matrix/key/v2/query',
        body: { server_keys: { [serverName]: criteria } },
      });
      if (response.status !== 200) {
        log?.warn({ server: serverName, notary: notary.serverName, status: response.status }, 'notary key query failed');
        return;
      }
      body = response.body;
    } catch (error) {
      log?.warn({ server: serverName, notary: notary.serverName, err: (error as Error).message }, 'notary key query failed');
      return;
    }
    const documents = isJsonObject(body) && Array.isArray(body['server_keys']) ? body['server_keys'] : [];
    const notaryKeys = new Map<string, VerifyKey>();
    for (const [keyId, key] of Object.entries(notary.verifyKeys)) {
      try {
        notaryKeys.set(keyId, { key: verifyKeyFromBase64(key) });
      } catch {
        // Config validation keeps these well formed.
      }
    }
    for (const document of documents) {
      if (!isJsonObject(document) || document['server_name'] !== serverName) continue;
      const cosigned = checkJsonSignature(document, notary.serverName, notaryKeys);
      if (!cosigned.ok) {
        log?.warn({ server: serverName, notary: notary.serverName, reason: cosigned.reason }, 'notary answer not signed by the notary');
        continue;
      }
      await this.#storeDocument(serverName, document, notary.serverName);
    }
  }

  async #storeDocument(serverName: string, document: unknown, fetchedFrom: string): Promise<boolean> {
    const checked = checkServerKeys(document, serverName);
    if (!checked.ok) {
      this.#options.logger?.warn({ server: serverName, from: fetchedFrom, reason: checked.reason }, 'rejected server keys');
      return false;
    }
    // Keep only the server's own signatures: others' (a notary's) are not ours to pass on.
    const doc = document as JsonObject;
    const signatures = doc['signatures'] as JsonObject;
    const responseJson = JSON.stringify({ ...doc, signatures: { [serverName]: signatures[serverName] ?? {} } });
    const fetchedTs = this.#options.now();
    await this.#options.store.storeResponse(
      checked.keys.map((k) => ({
        serverName,
        keyId: k.keyId,
        verifyKey: k.key,
        old: k.old,
        validUntilTs: k.validUntilTs,
        fetchedTs,
        fetchedFrom,
        responseJson,
      })),
    );
    this.#stored.set(serverName, (this.#stored.get(serverName) ?? 0) + 1);
    this.#memory.delete(serverName);
    return true;
  }
}
