// The application services as the HTTP layer sees them: who an as_token belongs to, the homeserver -> service
// requests made on a client's behalf (ping, user and alias queries, third-party lookups), and the hooks that
// tell the transaction builder about alias changes and the running actor about a successful ping.
// Every request to a service carries its hs_token in the Authorization header, never in the query string.
import type { UserStore } from '../storage/users.ts';
import { isUniqueViolation } from '../storage/errors.ts';
import type { Registration } from './registration.ts';

/** How long a query (user, alias, third-party) may take; a slow service must not hold a client's request long. */
const QUERY_TIMEOUT_MS = 10_000;

export type PingResult =
  | { ok: true; durationMs: number }
  | { ok: false; errcode: 'M_URL_NOT_SET' | 'M_CONNECTION_FAILED' | 'M_CONNECTION_TIMEOUT' }
  | { ok: false; errcode: 'M_BAD_STATUS'; status: number; body: string };

/** A third-party lookup answer: the service's JSON, or null when it failed or answered with something else. */
export type ThirdPartyAnswer = unknown;

export interface AppservicesOptions {
  registrations: readonly Registration[];
  /** The service answered a ping: its actor retries a DOWN service at once. */
  pingSucceeded?(serviceId: string): void;
  /** An alias of the room was created or deleted (room interest may change). */
  roomAliasesChanged?(roomId: string): void;
  /** How long the ping may take (the spec leaves it to the server). */
  pingTimeoutMs?: number;
}

export class Appservices {
  readonly registrations: readonly Registration[];
  readonly #byToken = new Map<string, Registration>();
  readonly #byId = new Map<string, Registration>();
  readonly #opts: AppservicesOptions;

  constructor(opts: AppservicesOptions) {
    this.#opts = opts;
    this.registrations = opts.registrations;
    for (const reg of opts.registrations) {
      this.#byToken.set(reg.asToken, reg);
      this.#byId.set(reg.id, reg);
    }
  }

  byAsToken(token: string): Registration | undefined {
    return this.#byToken.get(token);
  }

  byId(id: string): Registration | undefined {
    return this.#byId.get(id);
  }

  roomAliasesChanged(roomId: string): void {
    this.#opts.roomAliasesChanged?.(roomId);
  }

  /** POST /_matrix/app/v1/ping on the service (Client-Server API, appservice ping). */
  async ping(reg: Registration, transactionId: string | undefined): Promise<PingResult> {
    if (reg.url === null) return { ok: false, errcode: 'M_URL_NOT_SET' };
    const started = performance.now();
    const timeout = AbortSignal.timeout(this.#opts.pingTimeoutMs ?? QUERY_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(`${reg.url}/_matrix/app/v1/ping`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reg.hsToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(transactionId !== undefined ? { transaction_id: transactionId } : {}),
        signal: timeout,
      });
    } catch {
      return { ok: false, errcode: timeout.aborted ? 'M_CONNECTION_TIMEOUT' : 'M_CONNECTION_FAILED' };
    }
    let body: string;
    try {
      body = await response.text();
    } catch {
      return { ok: false, errcode: timeout.aborted ? 'M_CONNECTION_TIMEOUT' : 'M_CONNECTION_FAILED' };
    }
    if (response.status < 200 || response.status >= 300) return { ok: false, errcode: 'M_BAD_STATUS', status: response.status, body };
    const durationMs = Math.round(performance.now() - started);
    this.#opts.pingSucceeded?.(reg.id);
    return { ok: true, durationMs };
  }

  /** GET /_matrix/app/v1/users/{userId}: true when the service says the user exists (it has created them). */
  async queryUser(reg: Registration, userId: string): Promise<boolean> {
    return (await this.#get(reg, `/_matrix/app/v1/users/${encodeURIComponent(userId)}`)) !== null;
  }

  /** GET /_matrix/app/v1/rooms/{roomAlias}: true when the service says it has created the alias. */
  async queryAlias(reg: Registration, alias: string): Promise<boolean> {
    return (await this.#get(reg, `/_matrix/app/v1/rooms/${encodeURIComponent(alias)}`)) !== null;
  }

  /** A GET under /_matrix/app/v1/thirdparty/ (path after it, already encoded); the JSON, or null. */
  thirdParty(reg: Registration, pathAndQuery: string): Promise<ThirdPartyAnswer | null> {
    return this.#get(reg, `/_matrix/app/v1/thirdparty/${pathAndQuery}`);
  }

  /** The services that registered the protocol, in registration order. */
  servicesForProtocol(protocol: string): Registration[] {
    return this.registrations.filter((r) => r.url !== null && r.protocols.includes(protocol));
  }

  /** The 2xx JSON answer, or null for anything else (no answer, an error status, not JSON). */
  async #get(reg: Registration, path: string): Promise<unknown> {
    if (reg.url === null) return null;
    try {
      const response = await fetch(`${reg.url}${path}`, {
        headers: { authorization: `Bearer ${reg.hsToken}` },
        signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
      });
      const text = await response.text();
      if (response.status < 200 || response.status >= 300) return null;
      return text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      return null;
    }
  }
}

/** Each service's sender user exists (an account without a password: only the service acts as it). */
export async function ensureSenderUsers(users: UserStore, registrations: readonly Registration[], now: number): Promise<void> {
  for (const reg of registrations) {
    if (await users.getUser(reg.senderUserId)) continue;
    try {
      await users.createUser({ userId: reg.senderUserId, passwordHash: null, creationTs: now });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
  }
}
