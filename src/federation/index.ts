// Assembling the federation services from the configuration: the outbound HTTPS client, the keyring over the
// server_keys cache, and the remote-up port request authentication reports to.
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { SigningKey } from '../protocol/signing.ts';
import type { Queryable } from '../storage/database.ts';
import { HttpsFederationClient, type FederationFetcher } from './client.ts';
import { Keyring } from './keyring.ts';
import { ignoreRemoteUp, safeRemoteUp, type ReportRemoteUp } from './remoteUp.ts';
import { PostgresServerKeyStore } from './serverKeyStore.ts';

export interface FederationServices {
  keyring: Keyring;
  /** Outbound requests (signed or not) to other servers. */
  fetcher: FederationFetcher;
  remoteUp: ReportRemoteUp;
  close(): void;
}

export interface FederationParts {
  config: Config;
  db: Queryable;
  signingKey: SigningKey;
  logger: Logger;
  remoteUp?: ReportRemoteUp;
  /** Tests: another transport than HTTPS. */
  fetcher?: FederationFetcher;
  now?: () => number;
}

export async function createFederation(parts: FederationParts): Promise<FederationServices> {
  const now = parts.now ?? Date.now;
  const logger = parts.logger.child({ component: 'federation' });
  const extraCaCertificates = await Promise.all(parts.config.federationCustomCaList.map((file) => readFile(file, 'utf8')));
  const client = parts.fetcher
    ? undefined
    : new HttpsFederationClient({
        ipRangeBlacklist: parts.config.federationIpRangeBlacklist,
        extraCaCertificates,
        origin: parts.config.serverName,
        signingKey: parts.signingKey,
        now,
      });
  const fetcher = parts.fetcher ?? (client as HttpsFederationClient);
  const keyring = new Keyring({
    serverName: parts.config.serverName,
    signingKey: parts.signingKey,
    oldVerifyKeys: parts.config.oldSigningKeys,
    store: new PostgresServerKeyStore(parts.db),
    fetcher,
    trustedKeyServers: parts.config.trustedKeyServers,
    now,
    logger,
  });
  const remoteUp = safeRemoteUp(parts.remoteUp ?? ignoreRemoteUp, (error) =>
    logger.warn({ err: (error as Error).message }, 'reporting a remote server up failed'),
  );
  return { keyring, fetcher, remoteUp, close: () => client?.close() };
}
