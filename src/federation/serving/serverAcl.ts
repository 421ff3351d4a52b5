// Server ACLs (m.room.server_acl): a room can shut servers out, and the spec has every federation endpoint about a
// room's contents or membership refuse a denied server with 403 M_FORBIDDEN. Names are matched without their port;
// `allow` and `deny` are globs (`*`, `?`); an IP literal is refused when allow_ip_literals is false; a server that
// matches no `allow` entry is denied (an absent `allow` allows nobody). Inbound transactions apply the same matching
// to the PDUs and EDUs of each room (inbound/transactions.ts).
import { isJsonObject, type JsonObject } from '../../protocol/json.ts';
import type { EventStore } from '../../storage/events.ts';
import { forbidden } from '../../http/errors.ts';

/** The server name without its port: `evil.com:8448` and `[::1]:8448` become `evil.com` and `[::1]`. */
export function hostOf(serverName: string): string {
  if (serverName.startsWith('[')) return serverName.slice(0, serverName.indexOf(']') + 1);
  const colon = serverName.lastIndexOf(':');
  return colon === -1 ? serverName : serverName.slice(0, colon);
}

function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

function globMatches(glob: string, host: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`, 'i').test(host);
}

const globs = (value: unknown): string[] => (Array.isArray(value) ? value.filter((g): g is string => typeof g === 'string') : []);

export function serverAllowedByAcl(content: JsonObject, serverName: string): boolean {
  const host = hostOf(serverName);
  if (content['allow_ip_literals'] === false && isIpLiteral(host)) return false;
  if (globs(content['deny']).some((g) => globMatches(g, host))) return false;
  return globs(content['allow']).some((g) => globMatches(g, host));
}

/** Whether the room's ACL (the content of its m.room.server_acl, or undefined when it has none) lets `serverName` in. */
export function serverAclAllows(serverName: string, acl: JsonObject | undefined): boolean {
  return acl === undefined || serverAllowedByAcl(acl, serverName);
}

/** 403 M_FORBIDDEN when the room's current server ACL denies `serverName`. */
export async function checkServerAcl(events: EventStore, roomId: string, serverName: string): Promise<void> {
  const acl = await events.currentStateEvent(roomId, 'm.room.server_acl', '');
  const content = acl?.pdu['content'];
  if (acl && acl.redactedBy === null && isJsonObject(content) && !serverAllowedByAcl(content, serverName)) {
    throw forbidden(`Server ${serverName} is banned from room ${roomId} by its server ACL`);
  }
}
