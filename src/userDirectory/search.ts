// The user directory, answered straight from room state (no table of its own): the users a requester may find are
// those joined to a room the requester is joined to, or to a room that is public (join rule `public`) or
// world_readable (history visibility) — the minimum the spec asks for. Local users are matched and shown with their
// global profile (kept in step with their member events by src/rooms/profilePropagation.ts); users without a local
// account (remote members) with the display name of one of their join events. Deactivated users are left out.
import type { Queryable } from '../storage/database.ts';

export interface UserDirectoryResult {
  user_id: string;
  display_name?: string;
  avatar_url?: string;
}

export interface UserDirectorySearch {
  results: UserDirectoryResult[];
  limited: boolean;
}

export const DEFAULT_SEARCH_LIMIT = 10;
/** Larger limits are served as this many. */
export const MAX_SEARCH_LIMIT = 500;

/** `term` with LIKE's own characters escaped (escape character `\`). */
function likeEscape(term: string): string {
  return term.replace(/[\\%_]/g, (c) => `\\${c}`);
}

// $1 requester, $2 the term as a LIKE pattern matching it anywhere, $3 the term, $4 limit + 1, $5 the term as a prefix
// pattern. Both sides go through PostgreSQL's lower(), so they are folded alike whatever the database's locale.
const SEARCH_SQL = `
WITH visible_rooms AS (
  SELECT room_id FROM local_memberships WHERE user_id = $1 AND membership = 'join'
  UNION
  SELECT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
   WHERE cs.state_key = ''
     AND ((cs.type = 'm.room.join_rules' AND (e.pdu::jsonb -> 'content' ->> 'join_rule') = 'public')
       OR (cs.type = 'm.room.history_visibility' AND (e.pdu::jsonb -> 'content' ->> 'history_visibility') = 'world_readable'))
),
members AS (
  SELECT DISTINCT cs.state_key AS user_id
    FROM current_state cs JOIN visible_rooms v ON v.room_id = cs.room_id
   WHERE cs.type = 'm.room.member' AND cs.membership = 'join'
),
profiles AS (
  SELECT m.user_id,
         CASE WHEN u.user_id IS NOT NULL THEN (CASE WHEN jsonb_typeof(dn.value) = 'string' THEN dn.value #>> '{}' END)
              ELSE (SELECT e.pdu::jsonb -> 'content' ->> 'displayname'
                      FROM visible_rooms v JOIN current_state cs ON cs.room_id = v.room_id JOIN events e ON e.event_id = cs.event_id
                     WHERE cs.type = 'm.room.member' AND cs.state_key = m.user_id AND cs.membership = 'join' LIMIT 1) END AS display_name,
         CASE WHEN u.user_id IS NOT NULL THEN (CASE WHEN jsonb_typeof(av.value) = 'string' THEN av.value #>> '{}' END)
              ELSE (SELECT e.pdu::jsonb -> 'content' ->> 'avatar_url'
                      FROM visible_rooms v JOIN current_state cs ON cs.room_id = v.room_id JOIN events e ON e.event_id = cs.event_id
                     WHERE cs.type = 'm.room.member' AND cs.state_key = m.user_id AND cs.membership = 'join' LIMIT 1) END AS avatar_url
    FROM members m
    LEFT JOIN users u ON u.user_id = m.user_id
    LEFT JOIN profile_fields dn ON dn.user_id = m.user_id AND dn.field = 'displayname'
    LEFT JOIN profile_fields av ON av.user_id = m.user_id AND av.field = 'avatar_url'
   WHERE u.deactivated IS NOT TRUE
)
SELECT user_id, display_name, avatar_url
  FROM profiles
 WHERE lower(user_id) LIKE lower($2::text) ESCAPE '\\' OR lower(display_name) LIKE lower($2::text) ESCAPE '\\'
 ORDER BY (lower(display_name) = lower($3::text) OR lower(substr(user_id, 2, length($3::text))) = lower($3::text)) IS TRUE DESC,
          (lower(display_name) LIKE lower($5::text) ESCAPE '\\') IS TRUE DESC,
          (display_name IS NOT NULL) DESC,
          (avatar_url IS NOT NULL) DESC,
          user_id
 LIMIT $4`;

export class UserDirectory {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Users visible to `requester` whose user id or display name contains `term` (case-insensitively). */
  async search(requester: string, term: string, limit = DEFAULT_SEARCH_LIMIT): Promise<UserDirectorySearch> {
    const served = Math.min(Math.max(limit, 0), MAX_SEARCH_LIMIT);
    if (served === 0) {
      const { results } = await this.search(requester, term, 1);
      return { results: [], limited: results.length > 0 };
    }
    const escaped = likeEscape(term);
    const { rows } = await this.#db.query<{ user_id: string; display_name: string | null; avatar_url: string | null }>(SEARCH_SQL, [
      requester,
      `%${escaped}%`,
      term,
      served + 1,
      `${escaped}%`,
    ]);
    const results = rows.slice(0, served).map((r) => ({
      user_id: r.user_id,
      ...(r.display_name !== null ? { display_name: r.display_name } : {}),
      ...(r.avatar_url !== null ? { avatar_url: r.avatar_url } : {}),
    }));
    return { results, limited: rows.length > served };
  }
}
