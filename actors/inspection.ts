// Connecting the actor system to the XState inspector (DESIGN.md §6), through @statelyai/inspect's
// WebSocket inspector, and a relay for it bound to loopback only.
//
// What leaves is decided here, in three steps:
//   1. Filter at the source, before anything is serialised: appservice, destination and pusher actors (and
//      the actors they invoke) always; user streams only for the configured users; the supervisor only
//      registers itself (as the root of the tree), its STREAM_TOKEN traffic would flood the inspector.
//   2. Each inspection event is rebuilt with only the fields the inspector needs (no actor refs, no system,
//      no options or input).
//   3. Contexts and events are sanitised: secret keys are redacted wherever they sit, message contents and
//      queued PDUs/EDUs are reduced to their size, long strings are cut and deep nesting is stopped.
//
// The relay is our own rather than `createInspectorServer` from @statelyai/inspect/server, which listens on
// every interface and opens a browser: this one binds 127.0.0.1, refuses WebSocket connections from web
// pages of other origins (any site the operator visits could otherwise read the stream), and serves the
// same bridge page (the Stately inspector UI in an iframe, fed from the WebSocket).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';

/** Keys whose values never leave, at any depth (compared lower-cased, without `_` and `-`). */
const SECRET_KEYS = new Set(
  [
    'access_token', 'accessToken', 'refresh_token', 'token', 'as_token', 'hs_token', 'asToken', 'hsToken',
    'password', 'new_password', 'passwordHash', 'password_hash', 'registration_shared_secret', 'secret',
    'mac', 'signing_key', 'signingKey', 'private_key', 'privateKey', 'seed', 'key', 'authorization', 'cookie',
    'signatures', 'tokenHash', 'token_hash',
  ].map(normaliseKey),
);
/** Keys that hold message contents or whole events: only their size leaves. */
const CONTENT_KEYS = new Set(
  [
    'content', 'body', 'formatted_body', 'ciphertext', 'contents', 'pdus', 'edus', 'queuedPdus', 'queuedEdus',
    'messages', 'unsigned', 'prev_content',
  ].map(normaliseKey),
);
export const MAX_STRING = 200;
const MAX_DEPTH = 6;
const MAX_ARRAY = 50;
export const REDACTED = '<redacted>';

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

function isSecretKey(key: string): boolean {
  const k = normaliseKey(key);
  return SECRET_KEYS.has(k) || k.endsWith('token') || k.endsWith('secret') || k.endsWith('password');
}

function sizeOf(value: unknown): string {
  if (Array.isArray(value)) return `<${value.length} items>`;
  if (typeof value === 'string') return `<${value.length} chars>`;
  if (value && typeof value === 'object') return `<${Object.keys(value).length} keys>`;
  return REDACTED;
}

/** A JSON-safe copy of `value` with secrets redacted, contents reduced to sizes and long strings cut. */
export function sanitise(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return undefined; // functions, symbols, undefined
  if (depth >= MAX_DEPTH) return '<…>';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ARRAY).map((v) => sanitise(v, depth + 1));
    if (value.length > MAX_ARRAY) items.push(`<${value.length - MAX_ARRAY} more>`);
    return items;
  }
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (isSecretKey(key)) out[key] = REDACTED;
    else if (CONTENT_KEYS.has(normaliseKey(key)) && typeof v !== 'number') out[key] = sizeOf(v);
    else {
      const s = sanitise(v, depth + 1);
      if (s !== undefined) out[key] = s;
    }
  }
  return out;
}

interface InspectedSnapshotLike {
  status?: unknown;
  value?: unknown;
  context?: unknown;
  output?: unknown;
  error?: unknown;
}

function snapshotOf(snapshot: InspectedSnapshotLike | undefined): Record<string, unknown> {
  const s = snapshot ?? {};
  return {
    status: s.status,
    ...(s.value !== undefined ? { value: sanitise(s.value) } : {}),
    ...(s.context !== undefined ? { context: sanitise(s.context) } : {}),
    ...(s.output !== undefined ? { output: sanitise(s.output) } : {}),
    ...(s.error !== undefined ? { error: s.error instanceof Error ? s.error.message.slice(0, MAX_STRING) : sanitise(s.error) } : {}),
  };
}

/** Rebuilds an inspection event with only what the inspector needs, sanitised. */
export function sanitiseInspectionEvent(event: StatelyInspectionEvent): StatelyInspectionEvent {
  const base = {
    type: event.type,
    sessionId: event.sessionId,
    rootId: event.rootId,
    createdAt: event.createdAt,
    id: event.id,
    _version: event._version,
  };
  switch (event.type) {
    case '@xstate.actor':
      return {
        ...base,
        type: event.type,
        name: event.name,
        parentId: event.parentId,
        definition: event.definition,
        snapshot: snapshotOf(event.snapshot as InspectedSnapshotLike),
      } as StatelyInspectionEvent;
    case '@xstate.snapshot':
      return {
        ...base,
        type: event.type,
        event: sanitise(event.event),
        snapshot: snapshotOf(event.snapshot as InspectedSnapshotLike),
      } as StatelyInspectionEvent;
    case '@xstate.event':
      return { ...base, type: event.type, sourceId: event.sourceId, event: sanitise(event.event) } as StatelyInspectionEvent;
    default:
      return base as unknown as StatelyInspectionEvent;
  }
}

export interface InspectionFilterOptions {
  /** User ids whose user-stream actors are inspected (others never are). */
  users?: readonly string[];
}

type RefLike = AnyActorRef & { _parent?: RefLike };

/** Whether an inspection event concerns an actor the inspector is meant to see. */
export function createInspectionFilter(options: InspectionFilterOptions = {}): (event: InspectionEvent) => boolean {
  const users = new Set(options.users ?? []);
  const wanted = (id: string): boolean | undefined => {
    if (id.startsWith('as:') || id.startsWith('dest:') || id.startsWith('pusher:')) return true;
    if (id.startsWith('user:')) return users.has(id.slice('user:'.length));
    return undefined; // decided by the parent (invoked actors are named after their logic)
  };
  return (event) => {
    // Microsteps and actions are not shown by the inspector UI; skip them before any work.
    if (event.type !== '@xstate.snapshot' && event.type !== '@xstate.event' && event.type !== '@xstate.actor') return false;
    let ref: RefLike | undefined = event.actorRef as RefLike;
    if (!ref._parent) {
      // The root (supervisor): its registration only.
      return event.type === '@xstate.actor';
    }
    while (ref) {
      const verdict = wanted(ref.id);
      if (verdict !== undefined) return verdict;
      ref = ref._parent;
      if (ref && !ref._parent) return false; // reached the supervisor without a verdict
    }
    return false;
  };
}

export interface ActorInspection {
  /** Hand this to startActorSystem({ inspect }). */
  inspect: Observer<InspectionEvent>;
  stop(): void;
}

/** An inspector that sends the filtered, sanitised inspection stream to the WebSocket at `url`. */
export function createActorInspection(options: InspectionFilterOptions & { url: string }): ActorInspection {
  const inspector = createWebSocketInspector({
    url: options.url,
    serialize: sanitiseInspectionEvent,
    // Contexts and events are rebuilt by serialize; these make sure nothing unsanitised is even copied.
    sanitizeContext: (context) => sanitise(context) as Record<string, unknown>,
    sanitizeEvent: (event) => sanitise(event) as { type: string },
  });
  const keep = createInspectionFilter(options);
  return {
    inspect: {
      next: (event) => {
        if (keep(event)) inspector.inspect.next?.(event);
      },
    },
    stop: () => inspector.stop(),
  };
}

export interface InspectorRelay {
  /** ws://127.0.0.1:<port> for the inspector; the bridge page is at http://127.0.0.1:<port>/. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const STATELY_INSPECTOR_UI = 'https://stately.ai/inspect';

function bridgePage(wsUrl: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Troupe actors: XState inspector</title>
<style>html,body,iframe{margin:0;width:100%;height:100%;border:0}</style></head>
<body><iframe id="ui" src="${STATELY_INSPECTOR_UI}"></iframe>
<script>
// Inspection events arrive on the relay's WebSocket and are posted into the inspector UI once it says it is ready.
const ui = document.getElementById('ui');
const pending = [];
let ready = false;
addEventListener('message', (e) => {
  if (e.data && e.data.type === '@statelyai.connected') {
    ready = true;
    for (const m of pending.splice(0)) ui.contentWindow.postMessage(m, '*');
  }
});
const socket = new WebSocket(${JSON.stringify(wsUrl)});
socket.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (ready) ui.contentWindow.postMessage(m, '*'); else pending.push(m);
};
</script></body></html>`;
}

/**
 * A WebSocket relay on 127.0.0.1: what one client (the actor system's inspector) sends goes to every other
 * client (the bridge page, test clients), and the last `replay` messages are replayed to a client that
 * connects later. Port 0 picks a free one.
 */
export async function startInspectorRelay(options: { port: number; replay?: number }): Promise<InspectorRelay> {
  const replay = options.replay ?? 500;
  const history: string[] = [];
  let port = options.port;
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  const http = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '/') !== '/') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(bridgePage(`ws://127.0.0.1:${port}`));
  });
  const wss = new WebSocketServer({
    server: http,
    // No Origin: a program (the inspector client). With one: only the bridge page served here.
    verifyClient: ({ origin }: { origin?: string }) => !origin || allowedOrigins().has(origin),
  });
  wss.on('connection', (socket) => {
    for (const message of history) socket.send(message);
    socket.on('message', (data) => {
      const message = data.toString();
      history.push(message);
      if (history.length > replay) history.shift();
      for (const client of wss.clients) {
        if (client !== socket && client.readyState === WebSocket.OPEN) client.send(message);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
