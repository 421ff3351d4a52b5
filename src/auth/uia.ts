// User-interactive authentication (spec: Client-Server API, "User-interactive authentication API"), generic over
// the endpoint: the caller names its flows and a handler per stage type, and calls `requireUserInteractiveAuth`
// with the request's `auth` object before changing anything. It resolves when a flow is complete and otherwise
// throws the 401 the spec describes (`flows`, `params`, `session`, `completed`, and `errcode`/`error` when the
// stage just tried failed).
//
// Sessions are rows (src/storage/uia.ts), so one survives a restart; each expires SESSION_TTL_MS after it began.
// A session is bound to its operation (method and concrete path) and to the requesting user, so a session
// completed for one request cannot authorise another; it is deleted once a flow completes.
//
//   await requireUserInteractiveAuth(body.auth, {
//     store, now, operation: 'POST /_matrix/client/v3/delete_devices', userId,
//     flows: [{ stages: ['m.login.password'] }],
//     stages: { 'm.login.password': passwordStage(accounts, serverName) },
//   });
import { randomBytes } from 'node:crypto';
import { MatrixError } from '../http/errors.ts';
import type { UiaSessionStore } from '../storage/uia.ts';

export const SESSION_TTL_MS = 30 * 60 * 1000;

export interface UiaFlow {
  stages: string[];
}

/** Thrown by a stage handler when the client's attempt at that stage failed. */
export class StageFailure extends Error {
  readonly errcode: string;
  constructor(errcode: string, message: string) {
    super(message);
    this.errcode = errcode;
  }
}

/**
 * Checks one stage's auth dict. Resolves when the stage is passed; throws StageFailure when it is not (any other
 * error, e.g. a MatrixError for a malformed dict, is passed through as is). `sessionId` is the session the stage is
 * completed in (a stage may hold something for it, as m.login.registration_token holds a use of its token).
 */
export type StageHandler = (auth: Record<string, unknown>, userId: string | null, sessionId: string) => Promise<void>;

export interface UiaOptions {
  store: UiaSessionStore;
  now: number;
  /** What is being authorised, e.g. `DELETE /_matrix/client/v3/devices/ABC`. */
  operation: string;
  /** The authenticated requester, or null (registration). */
  userId: string | null;
  flows: UiaFlow[];
  /** Per-stage parameters for the client (`params` in the 401). */
  params?: Record<string, unknown>;
  stages: Record<string, StageHandler>;
}

export interface UiaResult {
  sessionId: string;
  completed: string[];
}

function newSessionId(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * The 401 of user-interactive auth. Without a failed stage its body is only the auth response (`flows`, `params`,
 * `session`, `completed`), as in the spec's examples; after a failed stage it carries `errcode` and `error` too.
 */
export class UiaChallenge extends MatrixError {
  readonly failed: boolean;
  constructor(body: Record<string, unknown>, failure?: { errcode: string; error: string }) {
    super(401, failure?.errcode ?? 'M_UNAUTHORIZED', failure?.error ?? 'Additional authentication is required', body);
    this.failed = failure !== undefined;
  }

  override toJSON(): Record<string, unknown> {
    return this.failed ? { errcode: this.errcode, error: this.message, ...this.extra } : { ...this.extra };
  }
}

function challenge(options: UiaOptions, sessionId: string, completed: string[], failure?: { errcode: string; error: string }): MatrixError {
  return new UiaChallenge({ flows: options.flows, params: options.params ?? {}, session: sessionId, completed }, failure);
}

function flowComplete(flows: UiaFlow[], completed: string[]): boolean {
  return flows.some((flow) => flow.stages.every((stage) => completed.includes(stage)));
}

export async function requireUserInteractiveAuth(auth: unknown, options: UiaOptions): Promise<UiaResult> {
  const { store, now } = options;
  const start = async (): Promise<string> => {
    const sessionId = newSessionId();
    await store.createSession(
      { sessionId, operation: options.operation, userId: options.userId, completed: [], expiresTs: now + SESSION_TTL_MS },
      now,
    );
    return sessionId;
  };

  if (auth === undefined || auth === null) throw challenge(options, await start(), []);
  if (typeof auth !== 'object' || Array.isArray(auth)) throw new MatrixError(400, 'M_BAD_JSON', 'auth: must be an object');
  const dict = auth as Record<string, unknown>;
  const type = dict['type'];
  const session = dict['session'];
  if (type !== undefined && typeof type !== 'string') throw new MatrixError(400, 'M_BAD_JSON', 'auth.type: must be a string');
  if (session !== undefined && typeof session !== 'string') throw new MatrixError(400, 'M_BAD_JSON', 'auth.session: must be a string');

  let sessionId: string;
  let completed: string[];
  if (session === undefined) {
    if (type === undefined) throw challenge(options, await start(), []);
    sessionId = await start();
    completed = [];
  } else {
    const stored = await store.getSession(session, now);
    if (!stored) throw new MatrixError(400, 'M_UNKNOWN', 'Unknown or expired user-interactive authentication session');
    if (stored.operation !== options.operation) {
      throw new MatrixError(403, 'M_FORBIDDEN', 'Requested operation has changed during the user-interactive authentication session');
    }
    if (stored.userId !== options.userId) {
      throw new MatrixError(403, 'M_FORBIDDEN', 'This user-interactive authentication session belongs to another user');
    }
    sessionId = stored.sessionId;
    completed = [...stored.completed];
  }

  if (type !== undefined) {
    const offered = options.flows.some((flow) => flow.stages.includes(type));
    const handler = options.stages[type];
    if (!offered || !handler) {
      throw challenge(options, sessionId, completed, { errcode: 'M_UNRECOGNIZED', error: `Authentication type ${type} is not offered here` });
    }
    try {
      await handler(dict, options.userId, sessionId);
    } catch (error) {
      if (error instanceof StageFailure) throw challenge(options, sessionId, completed, { errcode: error.errcode, error: error.message });
      throw error;
    }
    if (!completed.includes(type)) {
      completed.push(type);
      await store.completeStage(sessionId, type);
    }
  }

  if (flowComplete(options.flows, completed)) {
    await store.deleteSession(sessionId);
    return { sessionId, completed };
  }
  throw challenge(options, sessionId, completed);
}

/** `m.login.dummy`: always passes. */
export const dummyStage: StageHandler = async () => {};
