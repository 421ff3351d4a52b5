// The queries behind Synapse's user admin API (/_synapse/admin/v2/users): listing with Synapse's filters
// and one user's details with their profile. Troupe has no guests, threepids, SSO ids, shadow bans or locks
// yet, so those fields are constant.
import type { Queryable } from '../storage/database.ts';

export interface AdminUserSummary {
  name: string;
  is_guest: boolean;
  admin: boolean;
  user_type: string | null;
  deactivated: boolean;
  erased: boolean;
  shadow_banned: boolean;
  displayname: string | null;
  avatar_url: string | null;
  /** Milliseconds, as Synapse's list gives it. */
  creation_ts: number;
  approved: boolean;
  locked: boolean;
  last_seen_ts: number | null;
}

export interface ListUsersQuery {
  from: number;
  limit: number;
  /** Substring of the user id (ignored when `name` is given). */
  userId?: string;
  /** Substring of the localpart or the display name. */
  name?: string;
  /** false: leave guests out (Troupe has none). */
  guests: boolean;
  /** true: only admins; false: no admins; undefined: both. */
  admins?: boolean;
  /** true: include deactivated accounts (Synapse's default is to leave them out). */
  deactivated: boolean;
  orderBy: 'name' | 'admin' | 'user_type' | 'deactivated' | 'displayname' | 'avatar_url' | 'creation_ts';
  dir: 'f' | 'b';
}

export const USER_ORDERS: readonly ListUsersQuery['orderBy'][] = [
  'name', 'admin', 'user_type', 'deactivated', 'displayname', 'avatar_url', 'creation_ts',
];

interface Row {
  user_id: string;
  admin: boolean;
  user_type: string | null;
  deactivated: boolean;
  creation_ts: number;
  displayname: unknown;
  avatar_url: unknown;
}

const ORDER_COLUMNS: Record<ListUsersQuery['orderBy'], string> = {
  name: 'u.user_id',
  admin: 'u.admin',
  user_type: 'u.user_type',
  deactivated: 'u.deactivated',
  displayname: 'displayname',
  avatar_url: 'avatar_url',
  creation_ts: 'u.creation_ts',
};

const SELECT = `SELECT u.user_id, u.admin, u.user_type, u.deactivated, u.creation_ts,
  (SELECT value FROM profile_fields p WHERE p.user_id = u.user_id AND p.field = 'displayname') AS displayname,
  (SELECT value FROM profile_fields p WHERE p.user_id = u.user_id AND p.field = 'avatar_url') AS avatar_url
  FROM users u`;

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function summary(r: Row): AdminUserSummary {
  return {
    name: r.user_id,
    is_guest: false,
    admin: r.admin,
    user_type: r.user_type,
    deactivated: r.deactivated,
    erased: false,
    shadow_banned: false,
    displayname: text(r.displayname),
    avatar_url: text(r.avatar_url),
    creation_ts: r.creation_ts,
    approved: true,
    locked: false,
    last_seen_ts: null,
  };
}

/** `LIKE` with the pattern's own wildcards taken literally. */
function contains(value: string): string {
  return `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function listUsers(db: Queryable, q: ListUsersQuery): Promise<{ users: AdminUserSummary[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.name !== undefined) {
    params.push(contains(q.name));
    const p = `$${params.length}`;
    // The localpart is what lies between '@' and the first ':'.
    where.push(`(split_part(substr(u.user_id, 2), ':', 1) ILIKE ${p} OR
      (SELECT value #>> '{}' FROM profile_fields p WHERE p.user_id = u.user_id AND p.field = 'displayname') ILIKE ${p})`);
  } else if (q.userId !== undefined) {
    params.push(contains(q.userId));
    where.push(`u.user_id ILIKE $${params.length}`);
  }
  if (q.admins !== undefined) {
    params.push(q.admins);
    where.push(`u.admin = $${params.length}`);
  }
  if (!q.deactivated) where.push('u.deactivated = false');
  const whereSql = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  const { rows: counted } = await db.query<{ n: number }>(`SELECT count(*) AS n FROM users u${whereSql}`, params);
  const dir = q.dir === 'b' ? 'DESC' : 'ASC';
  const order = ORDER_COLUMNS[q.orderBy];
  const { rows } = await db.query<Row>(
    `${SELECT}${whereSql} ORDER BY ${order} ${dir} NULLS LAST, u.user_id ${dir} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, q.limit, q.from],
  );
  return { users: rows.map(summary), total: counted[0]?.n ?? 0 };
}

export async function getUserSummary(db: Queryable, userId: string): Promise<AdminUserSummary | null> {
  const { rows } = await db.query<Row>(`${SELECT} WHERE u.user_id = $1`, [userId]);
  return rows[0] ? summary(rows[0]) : null;
}

/** Synapse's "Query User Account" shape (creation_ts in seconds there). */
export function userDetails(s: AdminUserSummary): Record<string, unknown> {
  return {
    name: s.name,
    displayname: s.displayname,
    threepids: [],
    avatar_url: s.avatar_url,
    is_guest: s.is_guest,
    admin: s.admin,
    deactivated: s.deactivated,
    erased: s.erased,
    shadow_banned: s.shadow_banned,
    creation_ts: Math.floor(s.creation_ts / 1000),
    last_seen_ts: s.last_seen_ts,
    appservice_id: null,
    consent_server_notice_sent: null,
    consent_version: null,
    consent_ts: null,
    external_ids: [],
    user_type: s.user_type,
    locked: s.locked,
    suspended: false,
  };
}

export async function setAdmin(db: Queryable, userId: string, admin: boolean): Promise<void> {
  await db.query('UPDATE users SET admin = $2 WHERE user_id = $1', [userId, admin]);
}

export async function setUserType(db: Queryable, userId: string, userType: string | null): Promise<void> {
  await db.query('UPDATE users SET user_type = $2 WHERE user_id = $1', [userId, userType]);
}

/** Reactivation (the password is set separately; Synapse requires one for a password account). */
export async function reactivate(db: Queryable, userId: string): Promise<void> {
  await db.query('UPDATE users SET deactivated = false WHERE user_id = $1', [userId]);
}
