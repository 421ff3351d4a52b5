// The room versions table (spec: "Room versions"). Every rule that differs between versions is a named
// property here, so that code asks "does this version do X" instead of comparing version strings.

/** 1: v1–v2 ids `$opaque:server`, prev/auth events as [id, hashes] pairs. 2: v3 ids, standard base64. 3: v4+ URL-safe base64. */
export type EventFormat = 1 | 2 | 3;
export type StateResolution = 'v1' | 'v2' | 'v2.1';
/**
 * Which redaction algorithm: the kept keys differ across v1–v5, v6–v8, v9–v10 and v11+. Within v6–v8, v8 also keeps
 * m.room.join_rules `allow` (read `restrictedJoinRule`); v11 moves `redacts` into content.
 */
export type RedactionRules = 'v1' | 'v6' | 'v9' | 'v11';

export interface RoomVersion {
  readonly id: string;
  readonly stable: boolean;
  readonly eventFormat: EventFormat;
  readonly stateResolution: StateResolution;
  readonly redaction: RedactionRules;
  /** v5+: signing keys must be valid at the event's origin_server_ts. */
  readonly enforceKeyValidity: boolean;
  /** v1–v5: m.room.aliases has its own auth rule (sender domain must match state_key). */
  readonly specialCaseAliasesAuth: boolean;
  /** v6+: integers outside ±(2^53−1) and floats make an event invalid. */
  readonly strictCanonicalJson: boolean;
  /** v6+: the `notifications` key of m.room.power_levels is checked like the others. */
  readonly limitNotificationsPowerLevels: boolean;
  /**
   * v1–v2: the auth rules allow a redaction whose event id has the same domain as the redacted event's id. From v3
   * event ids have no domain, and that check moves to the time a redaction is served.
   */
  readonly redactionAuthChecksEventIdDomain: boolean;
  /** v7+: join_rule `knock` and membership `knock`. */
  readonly knockJoinRule: boolean;
  /** v8+: join_rule `restricted` with `join_authorised_via_users_server`. */
  readonly restrictedJoinRule: boolean;
  /** v9+: `join_authorised_via_users_server` survives redaction (the v8 fix). */
  readonly restrictedJoinRuleFix: boolean;
  /** v10+: join_rule `knock_restricted`. */
  readonly knockRestrictedJoinRule: boolean;
  /** v10+: power level values must be integers, not strings. */
  readonly enforceIntPowerLevels: boolean;
  /** v11+: the creator is the create event's sender; `content.creator` is gone. */
  readonly implicitRoomCreator: boolean;
  /** v12+: creators (sender + additional_creators) have infinite power and are not in power_levels.users. */
  readonly privilegedCreators: boolean;
  /** v12+: the room id is `!` + the create event's reference hash; the create event has no room_id. */
  readonly roomIdFromCreateEvent: boolean;
}

function version(id: string, n: number): RoomVersion {
  return {
    id,
    stable: true,
    eventFormat: n <= 2 ? 1 : n === 3 ? 2 : 3,
    stateResolution: n === 1 ? 'v1' : n >= 12 ? 'v2.1' : 'v2',
    redaction: n <= 5 ? 'v1' : n <= 8 ? 'v6' : n <= 10 ? 'v9' : 'v11',
    enforceKeyValidity: n >= 5,
    specialCaseAliasesAuth: n <= 5,
    strictCanonicalJson: n >= 6,
    limitNotificationsPowerLevels: n >= 6,
    redactionAuthChecksEventIdDomain: n <= 2,
    knockJoinRule: n >= 7,
    restrictedJoinRule: n >= 8,
    restrictedJoinRuleFix: n >= 9,
    knockRestrictedJoinRule: n >= 10,
    enforceIntPowerLevels: n >= 10,
    implicitRoomCreator: n >= 11,
    privilegedCreators: n >= 12,
    roomIdFromCreateEvent: n >= 12,
  };
}

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  Array.from({ length: 12 }, (_, i) => {
    const v = version(String(i + 1), i + 1);
    return [v.id, v] as const;
  }),
);

export function getRoomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id);
}
