// The redaction algorithm (room version pages, "Redactions"): which top-level keys of an event survive, and which
// keys of its content. It is also the first step of the reference hash and of event signing, so an error here
// changes event ids and breaks signatures: the tables below follow the spec's lists word for word.
//
// v1–v5   top level keeps origin, membership, prev_state; content per type incl. m.room.aliases `aliases`.
// v6–v7   m.room.aliases loses its special case.
// v8      m.room.join_rules also keeps `allow`.
// v9–v10  m.room.member also keeps `join_authorised_via_users_server`.
// v11+    top level drops origin, membership, prev_state; m.room.create keeps all content; m.room.power_levels keeps
//         `invite`; m.room.redaction keeps `redacts`; m.room.member keeps `third_party_invite.signed`.
import type { JsonObject, JsonValue } from './json.ts';
import { isJsonObject } from './json.ts';
import type { RoomVersion } from './roomVersions.ts';

const TOP_LEVEL_BASE = [
  'event_id',
  'type',
  'room_id',
  'sender',
  'state_key',
  'content',
  'hashes',
  'signatures',
  'depth',
  'prev_events',
  'auth_events',
  'origin_server_ts',
] as const;
/** Dropped from the kept list by room version 11. */
const TOP_LEVEL_BEFORE_V11 = ['prev_state', 'origin', 'membership'] as const;

const POWER_LEVELS_BASE = ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'];

/** The top-level keys an event of this room version keeps when redacted. */
export function keptTopLevelKeys(version: RoomVersion): ReadonlySet<string> {
  return version.redaction === 'v11' ? TOP_V11 : TOP_V1;
}

/**
 * The content keys an event of `type` keeps when redacted: a set, `'all'` (v11+ m.room.create), or an empty set.
 * m.room.member's nested `third_party_invite.signed` (v11+) is not listed here; `redactEvent` handles it.
 */
export function keptContentKeys(type: string, version: RoomVersion): ReadonlySet<string> | 'all' {
  const v11 = version.redaction === 'v11';
  switch (type) {
    case 'm.room.member': {
      const keys = ['membership'];
      if (version.restrictedJoinRuleFix) keys.push('join_authorised_via_users_server');
      return new Set(keys);
    }
    case 'm.room.create':
      return v11 ? 'all' : new Set(['creator']);
    case 'm.room.join_rules':
      // `allow` is kept from v8, which introduced restricted rooms.
      return new Set(version.restrictedJoinRule ? ['join_rule', 'allow'] : ['join_rule']);
    case 'm.room.power_levels':
      return new Set(v11 ? [...POWER_LEVELS_BASE, 'invite'] : POWER_LEVELS_BASE);
    case 'm.room.history_visibility':
      return new Set(['history_visibility']);
    case 'm.room.aliases':
      return new Set(version.redaction === 'v1' ? ['aliases'] : []);
    case 'm.room.redaction':
      return new Set(v11 ? ['redacts'] : []);
    default:
      return EMPTY;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
const TOP_V11: ReadonlySet<string> = new Set(TOP_LEVEL_BASE);
const TOP_V1: ReadonlySet<string> = new Set([...TOP_LEVEL_BASE, ...TOP_LEVEL_BEFORE_V11]);

/**
 * Returns a redacted copy of `event` (a PDU, or a client-format event: the same keys apply). The input is not
 * modified; kept values are shared, not copied. Redacting a redacted event changes nothing.
 */
export function redactEvent(event: JsonObject, version: RoomVersion): JsonObject {
  const top = keptTopLevelKeys(version);
  const out: JsonObject = {};
  for (const key of Object.keys(event)) {
    if (top.has(key)) out[key] = event[key] as JsonValue;
  }
  const content = event['content'];
  if (isJsonObject(content)) {
    out['content'] = redactContent(typeof event['type'] === 'string' ? event['type'] : '', content, version);
  }
  return out;
}

/** The content an event of `type` keeps when redacted. */
export function redactContent(type: string, content: JsonObject, version: RoomVersion): JsonObject {
  const kept = keptContentKeys(type, version);
  if (kept === 'all') return content;
  const out: JsonObject = {};
  for (const key of Object.keys(content)) {
    if (kept.has(key)) out[key] = content[key] as JsonValue;
  }
  if (type === 'm.room.member' && version.redaction === 'v11') {
    const invite = content['third_party_invite'];
    if (isJsonObject(invite) && 'signed' in invite) out['third_party_invite'] = { signed: invite['signed'] as JsonValue };
  }
  return out;
}
