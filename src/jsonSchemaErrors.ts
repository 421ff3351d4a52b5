// Where a JSON Schema (ajv) error points, as a person writes it: `listeners[0].port`, `namespaces.users[1].regex`.
import type { ErrorObject } from 'ajv';

export function errorPath(error: ErrorObject): string {
  const parts = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'additionalProperties') parts.push(String(error.params['additionalProperty']));
  if (error.keyword === 'required') parts.push(String(error.params['missingProperty']));
  return parts.reduce((acc, p) => (/^[0-9]+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}
