// What PostgreSQL text and jsonb cannot hold: the NUL character (text rejects it, jsonb rejects \u0000) and
// unpaired UTF-16 surrogates (they cannot be encoded as UTF-8; the driver would silently store U+FFFD instead).
// Input is checked with this before it reaches a query, so such a request is a 400 rather than a 500 or a quiet
// change of the value.

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** Where in a JSON value the first unstorable string (value or key) is, e.g. `auth.identifier.user`; null if none. */
export function unstorableText(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path || '(value)';
  if (typeof value !== 'object' || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableText(value[i], `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  for (const [key, inner] of Object.entries(value)) {
    const where = path ? `${path}.${key}` : key;
    if (!isStorableText(key)) return where;
    const found = unstorableText(inner, where);
    if (found !== null) return found;
  }
  return null;
}
