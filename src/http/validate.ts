// Request bodies checked against a JSON Schema: a wrongly typed or missing field is 400 M_BAD_JSON naming the
// field, a body that is not a JSON object is 400 M_NOT_JSON, and nothing is changed before the check passes.
import { Ajv, type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';
import { MatrixError, notJson } from './errors.ts';
import { errorPath } from '../jsonSchemaErrors.ts';

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });
const compiled = new WeakMap<object, ValidateFunction>();

function describe(error: ErrorObject): string {
  return `${errorPath(error) || 'body'}: ${error.keyword === 'required' ? 'is required' : error.message ?? 'is invalid'}`;
}

/** Returns the body typed as T, or throws the Matrix error for it. */
export function parseBody<T>(schema: JSONSchemaType<T> | object, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw notJson('Request body is not a JSON object');
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (!validate(body)) {
    throw new MatrixError(400, 'M_BAD_JSON', describe((validate.errors ?? [])[0] as ErrorObject));
  }
  return body as T;
}
