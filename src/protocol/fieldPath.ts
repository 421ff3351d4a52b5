// Dot-separated property paths (spec appendix), as push rule condition keys and filters' event_fields use them.

/** Splits a dot-separated property path; `\.` is a literal dot and `\\` a literal backslash. */
export function splitFieldPath(path: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as string;
    const next = path[i + 1];
    if (c === '\\' && (next === '.' || next === '\\')) {
      current += next;
      i++;
    } else if (c === '.') {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}
