// Maps read together as one: the parts of a /sync response (a room's shared part, the user's own rooms) each answer
// for their own rooms, and the response reads them all.

/** The entries of maps with distinct keys, to be read only (the one map itself when only one has any). */
export function merged<V>(maps: readonly ReadonlyMap<string, V>[]): ReadonlyMap<string, V> {
  const some = maps.filter((m) => m.size > 0);
  if (some.length <= 1) return some[0] ?? new Map<string, V>();
  const out = new Map<string, V>();
  for (const map of some) for (const [key, value] of map) out.set(key, value);
  return out;
}
