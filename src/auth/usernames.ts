// Which localparts a user may register: the current strict grammar (lower case `a-z 0-9 . _ = - / +`) within the
// 255-byte user id limit; not starting with `_` (kept for application services' namespaces, as Synapse does) and
// not all digits (kept for generated localparts). Usernames are lower-cased first, as Synapse does.
import { MatrixError } from '../http/errors.ts';
import { validateUserLocalpart } from '../protocol/identifiers.ts';

/** The localpart for a requested username, or a 400 M_INVALID_USERNAME. */
export function localpartForUsername(username: string, serverName: string): string {
  const localpart = username.toLowerCase();
  const valid = validateUserLocalpart(localpart, serverName);
  if (!valid.ok) throw new MatrixError(400, 'M_INVALID_USERNAME', `Invalid username: ${valid.reason}`);
  if (localpart.startsWith('_')) throw new MatrixError(400, 'M_INVALID_USERNAME', 'Usernames may not start with "_"');
  if (/^[0-9]+$/.test(localpart)) throw new MatrixError(400, 'M_INVALID_USERNAME', 'Numeric usernames are reserved');
  return localpart;
}
