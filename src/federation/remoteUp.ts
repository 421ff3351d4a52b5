// The port through which request authentication says "this server just talked to us". The destination actor for
// that server (machines/destination.ts) treats it as REMOTE_UP: a backing-off destination retries at once.
// Destinations are not spawned yet, so src/main.ts wires this to a lookup that does nothing when no destination
// actor exists for the server.
export type ReportRemoteUp = (serverName: string) => void;

export const ignoreRemoteUp: ReportRemoteUp = () => {};

/** Wraps a hook so a failing one can never fail the request that reported it. */
export function safeRemoteUp(hook: ReportRemoteUp, onError?: (error: unknown) => void): ReportRemoteUp {
  return (serverName) => {
    try {
      hook(serverName);
    } catch (error) {
      onError?.(error);
    }
  };
}
