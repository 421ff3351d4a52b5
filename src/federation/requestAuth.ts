// Request authentication (spec "Request Authentication"): the X-Matrix Authorization scheme. A request is signed
// as the JSON object {method, uri, origin, destination, content?} with the origin's key; the header carries the
// origin, the destination, the key id and the signature.
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { CanonicalJsonError } from '../protocol/canonicalJson.ts';
import { parseServerName } from '../protocol/identifiers.ts';
import type { JsonObject, JsonValue } from '../protocol/json.ts';
import { checkJsonSignature, signJson, type SigningKey, type VerifyKey } from '../protocol/signing.ts';
import { MatrixError } from '../http/errors.ts';
import type { ReportRemoteUp } from './remoteUp.ts';

export interface XMatrixCredentials {
  origin: string;
  /** Absent in requests from servers older than spec v1.3. */
  destination?: string;
  key: string;
  sig: string;
}

// RFC 9110 auth-param: token = 1*tchar; quoted-string with backslash escapes. Matrix senders also put bare
// server names with ':' (a port) in unquoted values, so unquoted values run to the next comma.
const PARAM = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]*?))\s*(?:,|$)/y;

/** Parses one Authorization header value of the X-Matrix scheme; undefined when it is not one or is malformed. */
export function parseXMatrix(header: string): XMatrixCredentials | undefined {
  const match = /^\s*X-Matrix\s+/i.exec(header);
  if (!match) return undefined;
  const params = new Map<string, string>();
  const rest = header.slice(match[0].length);
  PARAM.lastIndex = 0;
  while (PARAM.lastIndex < rest.length) {
    const start = PARAM.lastIndex;
    const m = PARAM.exec(rest);
    if (!m || PARAM.lastIndex === start) return undefined;
    const name = (m[1] as string).toLowerCase();
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    if (params.has(name)) return undefined;
    params.set(name, value);
  }
  const origin = params.get('origin');
  const key = params.get('key');
  const sig = params.get('sig');
  const destination = params.get('destination');
  if (!origin || !key || !sig) return undefined;
  return destination === undefined ? { origin, key, sig } : { origin, destination, key, sig };
}

function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

export interface SignRequestInput {
  method: string;
  /** Path and query string as sent, e.g. `/_matrix/federation/v1/query/profile?user_id=...`. */
  uri: string;
  origin: string;
  destination: string;
  content?: JsonValue;
  key: SigningKey;
}

/** The JSON object a request's signature covers. */
export function requestJson(input: Omit<SignRequestInput, 'key'>): JsonObject {
  const json: JsonObject = { method: input.method, uri: input.uri, origin: input.origin, destination: input.destination };
  if (input.content !== undefined) json['content'] = input.content;
  return json;
}

/** The Authorization header value for an outbound request (X-Matrix, all values quoted). */
export function signRequest(input: SignRequestInput): string {
  const { key, ...rest } = input;
  const signed = signJson(requestJson(rest), input.origin, key);
  const sig = ((signed.signatures as JsonObject)[input.origin] as JsonObject)[key.keyId] as string;
  return `X-Matrix origin=${quote(input.origin)},destination=${quote(input.destination)},key=${quote(key.keyId)},sig=${quote(sig)}`;
}

/** What request authentication needs of the keyring. */
export interface RequestKeySource {
  getVerifyKeys(serverName: string, minimumValidUntilTs: number, keyIds?: readonly string[]): Promise<ReadonlyMap<string, VerifyKey>>;
}

export interface RequestAuthOptions {
  serverName: string;
  keys: RequestKeySource;
  /** Only these servers may talk to us; undefined: everyone. */
  domainWhitelist?: readonly string[];
  remoteUp: ReportRemoteUp;
  now(): number;
}

const unauthorized = (message: string) => new MatrixError(401, 'M_UNAUTHORIZED', message);

/**
 * Authenticates one request: returns the origin server, or throws 401 M_UNAUTHORIZED (missing, malformed,
 * wrong destination, unknown key, bad signature) or 403 M_FORBIDDEN (not in federation_domain_whitelist).
 * Several X-Matrix headers may be sent (one per key); one that verifies is enough.
 */
export async function authenticateRequest(
  input: { method: string; uri: string; authorization: readonly string[]; content: unknown },
  options: RequestAuthOptions,
): Promise<string> {
  const headers = input.authorization.filter((h) => /^\s*X-Matrix\s/i.test(h));
  if (headers.length === 0) throw unauthorized('Missing X-Matrix Authorization header');
  const credentials = headers.map(parseXMatrix);
  const first = credentials[0];
  if (!first || credentials.some((c) => c === undefined || c.origin !== first.origin)) {
    throw unauthorized('Malformed X-Matrix Authorization header');
  }
  const origin = first.origin;
  if (!parseServerName(origin).ok) throw unauthorized('The X-Matrix origin is not a valid server name');
  for (const c of credentials) {
    if (c?.destination !== undefined && c.destination !== options.serverName) {
      throw unauthorized(`The request is for ${c.destination}, not this server`);
    }
  }
  if (options.domainWhitelist && !options.domainWhitelist.includes(origin)) {
    throw new MatrixError(403, 'M_FORBIDDEN', `Federation denied with ${origin}`);
  }
  if (origin === options.serverName) throw unauthorized('The request claims to come from this server');
  const now = options.now();
  const keyIds = [...new Set(credentials.map((c) => (c as XMatrixCredentials).key))];
  const keys = await options.keys.getVerifyKeys(origin, now, keyIds);
  let reason = `No valid key of ${origin} with id ${keyIds.join(', ')}`;
  for (const c of credentials as XMatrixCredentials[]) {
    const known = keys.get(c.key);
    if (!known) continue;
    const json = requestJson({
      method: input.method,
      uri: input.uri,
      origin,
      destination: options.serverName,
      ...(input.content !== undefined ? { content: input.content as JsonValue } : {}),
    });
    json['signatures'] = { [origin]: { [c.key]: c.sig } };
    let check: ReturnType<typeof checkJsonSignature>;
    try {
      check = checkJsonSignature(json, origin, new Map([[c.key, known]]), { validAt: now });
    } catch (error) {
      // Content canonical JSON cannot encode (floats, huge integers) cannot have been signed.
      if (error instanceof CanonicalJsonError) throw new MatrixError(400, 'M_BAD_JSON', `Request content is not canonical JSON: ${error.message}`);
      throw error;
    }
    if (check.ok) {
      options.remoteUp(origin);
      return origin;
    }
    reason = `Invalid signature: ${check.reason}`;
  }
  throw unauthorized(reason);
}

const origins = new WeakMap<FastifyRequest, string>();

/** The authenticated origin server of a request that passed `federationAuthPreHandler`. */
export function requestOrigin(request: FastifyRequest): string {
  const origin = origins.get(request);
  if (origin === undefined) throw new Error('requestOrigin() on a request federation authentication did not pass');
  return origin;
}

function authorizationHeaders(request: FastifyRequest): string[] {
  // Node keeps only the first Authorization header in `headers`; the raw list has them all.
  const raw = request.raw.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'authorization') out.push(raw[i + 1] as string);
  }
  return out;
}

/** A preHandler for federation routes: authenticates the request (after its body is parsed) or answers an error. */
export function federationAuthPreHandler(options: RequestAuthOptions): preHandlerAsyncHookHandler {
  return async (request) => {
    const origin = await authenticateRequest(
      {
        method: request.method,
        uri: request.raw.url ?? request.url,
        authorization: authorizationHeaders(request),
        content: request.body,
      },
      options,
    );
    origins.set(request, origin);
  };
}
