// Identifier grammar (spec appendix "Identifier Grammar"): server names, user ids, room ids, room aliases and
// event ids. Each parser returns the parts or a reason, never throws, so callers can map the reason to M_INVALID_PARAM
// or to dropping a PDU as they see fit.
import { Buffer } from 'node:buffer';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Every identifier, sigil and domain included, is at most 255 bytes of UTF-8. */
export const MAX_IDENTIFIER_BYTES = 255;

export type HostKind = 'dns' | 'ipv4' | 'ipv6';

export interface ServerName {
  /** The hostname as written: a DNS name, a dotted quad, or an IPv6 literal with its brackets. */
  host: string;
  kind: HostKind;
  port?: number;
}

export interface UserId {
  localpart: string;
  serverName: string;
  /** False for historical ids: a localpart outside U+0021–U+007E, or an empty one (the spec's "non-compliant"). */
  compliant: boolean;
}

export interface RoomAlias {
  localpart: string;
  serverName: string;
}

/** `!opaque:server` (room versions 1–11), or `!` + the URL-safe hash of the create event (12+). */
export type RoomId = { kind: 'domain'; opaque: string; serverName: string } | { kind: 'hash'; hash: string };

/** `$opaque:server` (v1–v2), `$` + standard Base64 hash (v3), `$` + URL-safe Base64 hash (v4+). */
export type EventIdFormat = 'v1' | 'v3' | 'v4';
export type EventId = { format: 'v1'; opaque: string; serverName: string } | { format: 'v3' | 'v4'; hash: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

const DIGITS = /^[0-9]+$/;
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;
const DOTTED_DIGITS = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/;

/**
 * Parses `hostname [":" port]` where hostname is a dotted-quad IPv4 literal (each part 0–255), a bracketed IPv6
 * literal (RFC 3513 §2.2 text forms) or a DNS name of letters, digits, `-` and `.`. The port is 1–5 digits, 1–65535.
 * Server names are case-sensitive and are returned as written.
 */
export function parseServerName(name: string): Parsed<ServerName> {
  if (name.length === 0) return fail('server name is empty');
  let host: string;
  let portText: string | undefined;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close === -1) return fail('IPv6 literal has no closing bracket');
    host = name.slice(0, close + 1);
    const rest = name.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return fail('unexpected characters after the IPv6 literal');
      portText = rest.slice(1);
    }
    const inner = host.slice(1, -1);
    if (!IPV6_CHARS.test(inner) || !isIPv6(inner)) return fail(`"${inner}" is not a valid IPv6 address`);
  } else {
    const colon = name.indexOf(':');
    if (colon === -1) host = name;
    else {
      host = name.slice(0, colon);
      portText = name.slice(colon + 1);
    }
    if (host === '') return fail('hostname is empty');
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!DIGITS.test(portText) || portText.length > 5) return fail(`port "${portText}" is not 1 to 5 digits`);
    port = Number(portText);
    if (port < 1 || port > 65535) return fail(`port ${port} is out of range`);
  }
  let kind: HostKind;
  if (host.startsWith('[')) kind = 'ipv6';
  else if (DOTTED_DIGITS.test(host)) {
    // A dotted quad is an IPv4 literal, so it must be one: 256.1.1.1 is not a host name either.
    if (!isIPv4(host)) return fail(`"${host}" is not a valid IPv4 address`);
    kind = 'ipv4';
  } else {
    if (!DNS_NAME.test(host)) return fail(`"${host}" is not a valid DNS name (letters, digits, "-" and "." only)`);
    kind = 'dns';
  }
  return ok(port === undefined ? { host, kind } : { host, kind, port });
}

export function isValidServerName(name: string): boolean {
  return parseServerName(name).ok;
}

/** Options for parsing user ids. */
export interface UserIdOptions {
  /**
   * Strict is the current grammar, for creating new local users: a non-empty localpart of `a-z 0-9 . _ = - / +`.
   * The default accepts historical ids, as clients and servers MUST for ids received: any localpart of non-surrogate
   * code points except `:` and NUL, including the empty one.
   */
  readonly strict?: boolean;
}

const STRICT_LOCALPART = /^[a-z0-9._=\-/+]+$/;
const COMPLIANT_LOCALPART = /^[\x21-\x7e]+$/;

/** Parses `@localpart:domain`. */
export function parseUserId(id: string, options?: UserIdOptions): Parsed<UserId> {
  const parts = splitSigilled(id, '@', 'user id');
  if (!parts.ok) return parts;
  const { localpart, serverName } = parts.value;
  if (options?.strict) {
    if (localpart === '') return fail('user id localpart is empty');
    if (!STRICT_LOCALPART.test(localpart)) {
      return fail('user id localpart may only contain a-z, 0-9, ".", "_", "=", "-", "/" and "+"');
    }
  }
  return ok({ localpart, serverName, compliant: COMPLIANT_LOCALPART.test(localpart) });
}

/** Checks a localpart alone against the strict grammar (for registration), with the 255-byte limit of the whole id. */
export function validateUserLocalpart(localpart: string, serverName: string): Parsed<string> {
  const parsed = parseUserId(`@${localpart}:${serverName}`, { strict: true });
  return parsed.ok ? ok(localpart) : fail(parsed.reason);
}

export function isValidUserId(id: string, options?: UserIdOptions): boolean {
  return parseUserId(id, options).ok;
}

/** Parses `#localpart:domain`. The localpart may be any non-surrogate code points except `:` and NUL. */
export function parseRoomAlias(alias: string): Parsed<RoomAlias> {
  return splitSigilled(alias, '#', 'room alias');
}

export function isValidRoomAlias(alias: string): boolean {
  return parseRoomAlias(alias).ok;
}

const HASH_URL_SAFE = /^[A-Za-z0-9_-]{43}$/;
const HASH_STANDARD = /^[A-Za-z0-9+/]{43}$/;

/**
 * Parses a room id. With no `roomIdFromCreateEvent` given, either form is accepted: `!opaque:domain`, or `!` and 43
 * URL-safe Base64 characters (v12+, the create event's reference hash). Given true or false, only that version's form.
 */
export function parseRoomId(id: string, roomIdFromCreateEvent?: boolean): Parsed<RoomId> {
  if (!id.startsWith('!')) return fail('room id does not start with "!"');
  const size = checkSize(id, 'room id');
  if (size) return fail(size);
  if (!id.includes(':')) {
    if (roomIdFromCreateEvent === false) return fail('room id has no ":domain"');
    const hash = id.slice(1);
    if (!HASH_URL_SAFE.test(hash)) return fail('room id without a domain must be 43 URL-safe Base64 characters');
    return ok({ kind: 'hash', hash });
  }
  if (roomIdFromCreateEvent === true) return fail('room id must be "!" and the create event\'s hash, without a domain');
  const parts = splitSigilled(id, '!', 'room id');
  if (!parts.ok) return parts;
  return ok({ kind: 'domain', opaque: parts.value.localpart, serverName: parts.value.serverName });
}

export function isValidRoomId(id: string, roomIdFromCreateEvent?: boolean): boolean {
  return parseRoomId(id, roomIdFromCreateEvent).ok;
}

/**
 * Parses an event id. Given a format, only that format is accepted; without one, any: `$opaque:domain` (v1–v2),
 * `$` + 43 standard Base64 characters (v3) or `$` + 43 URL-safe ones (v4+). A hash that uses neither `+`/`/` nor
 * `-`/`_` is valid in both v3 and v4 and is reported as v4.
 */
export function parseEventId(id: string, format?: EventIdFormat): Parsed<EventId> {
  if (!id.startsWith('$')) return fail('event id does not start with "$"');
  const size = checkSize(id, 'event id');
  if (size) return fail(size);
  if (format === 'v1' || (format === undefined && id.includes(':'))) {
    const parts = splitSigilled(id, '$', 'event id');
    if (!parts.ok) return parts;
    return ok({ format: 'v1', opaque: parts.value.localpart, serverName: parts.value.serverName });
  }
  const hash = id.slice(1);
  if (format !== 'v3' && HASH_URL_SAFE.test(hash)) return ok({ format: 'v4', hash });
  if (format !== 'v4' && HASH_STANDARD.test(hash)) return ok({ format: 'v3', hash });
  const alphabet = format === 'v3' ? 'standard' : format === 'v4' ? 'URL-safe' : 'standard or URL-safe';
  return fail(`event id must be "$" and 43 ${alphabet} Base64 characters`);
}

export function isValidEventId(id: string, format?: EventIdFormat): boolean {
  return parseEventId(id, format).ok;
}

/** The server name part of a user id, room alias, v1 room id or v1 event id (everything after the first `:`). */
export function domainOf(id: string): string | undefined {
  const colon = id.indexOf(':');
  return colon === -1 ? undefined : id.slice(colon + 1);
}

// `&localpart:domain`: the localpart runs to the first `:` (it may not contain one), the rest must be a server name.
function splitSigilled(id: string, sigil: string, what: string): Parsed<{ localpart: string; serverName: string }> {
  if (!id.startsWith(sigil)) return fail(`${what} does not start with "${sigil}"`);
  const size = checkSize(id, what);
  if (size) return fail(size);
  const colon = id.indexOf(':');
  if (colon === -1) return fail(`${what} has no ":domain"`);
  const localpart = id.slice(1, colon);
  const serverName = id.slice(colon + 1);
  if (localpart.includes('\u0000')) return fail(`${what} localpart contains NUL`);
  if (!localpart.isWellFormed()) return fail(`${what} localpart contains a lone surrogate`);
  const server = parseServerName(serverName);
  if (!server.ok) return fail(`${what} domain: ${server.reason}`);
  return ok({ localpart, serverName });
}

function checkSize(id: string, what: string): string | undefined {
  // Cheap bound first: a UTF-16 string of n units is at least n bytes of UTF-8.
  if (id.length > MAX_IDENTIFIER_BYTES || Buffer.byteLength(id, 'utf8') > MAX_IDENTIFIER_BYTES) {
    return `${what} is longer than ${MAX_IDENTIFIER_BYTES} bytes`;
  }
  return undefined;
}

function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => p.length >= 1 && p.length <= 3 && DIGITS.test(p) && Number(p) <= 255);
}

// RFC 3513 §2.2: eight groups of 1–4 hex digits, one `::` standing for one or more zero groups, and optionally the
// last two groups written as an IPv4 dotted quad.
function isIPv6(text: string): boolean {
  const doubleColon = text.indexOf('::');
  if (doubleColon !== -1 && text.indexOf('::', doubleColon + 1) !== -1) return false;
  const groupsOf = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  let head: string[] | undefined;
  let tail: string[] | undefined;
  if (doubleColon === -1) {
    head = groupsOf(text);
    tail = [];
  } else {
    head = groupsOf(text.slice(0, doubleColon));
    tail = groupsOf(text.slice(doubleColon + 2));
  }
  if (!head || !tail) return false;
  const groups = [...head, ...tail];
  // The last group ends the address unless a trailing `::` follows it.
  const lastEndsText = doubleColon === -1 || tail.length > 0;
  let units = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as string;
    if (i === groups.length - 1 && lastEndsText && g.includes('.')) {
      // An embedded IPv4 address counts as two groups, and only at the very end.
      if (!isIPv4(g)) return false;
      units += 2;
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) units += 1;
    else return false;
  }
  return doubleColon === -1 ? units === 8 : units <= 7;
}
