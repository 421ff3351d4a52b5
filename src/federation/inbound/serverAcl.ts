// Server ACLs (m.room.server_acl): which servers may take part in a room at the federation level. A server's port
// is never considered; `allow` and `deny` are globs with `*` and `?`; in order: no ACL -> allow; an IP literal when
// allow_ip_literals is false -> deny; a deny match -> deny; an allow match -> allow; otherwise deny.
import { isIP } from 'node:net';
import type { JsonObject, JsonValue } from '../../protocol/json.ts';

/** The server name without its port: `evil.com:8448` and `[::1]:8448` become `evil.com` and `[::1]`. */
export function hostOf(serverName: string): string {
  if (serverName.startsWith('[')) {
    const end = serverName.indexOf(']');
    return end === -1 ? serverName : serverName.slice(0, end + 1);
  }
  const colon = serverName.lastIndexOf(':');
  return colon === -1 ? serverName : serverName.slice(0, colon);
}

function isIpLiteral(host: string): boolean {
  return host.startsWith('[') ? isIP(host.slice(1, -1)) === 6 : isIP(host) === 4;
}

function globMatches(glob: string, host: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`, 'i').test(host);
}

function globs(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.filter((g): g is string => typeof g === 'string') : [];
}

/** Whether the room's ACL (the content of its m.room.server_acl, or undefined when it has none) lets `serverName` in. */
export function serverAclAllows(serverName: string, acl: JsonObject | undefined): boolean {
  if (!acl) return true;
  const host = hostOf(serverName);
  if (acl['allow_ip_literals'] === false && isIpLiteral(host)) return false;
  if (globs(acl['deny']).some((g) => globMatches(g, host))) return false;
  return globs(acl['allow']).some((g) => globMatches(g, host));
}
