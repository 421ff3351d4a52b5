// Checks response bodies against the official Matrix API definitions in ../shared/matrix-spec (v1.19).
//
//   await assertMatchesSpec('GET', '/_matrix/client/v3/rooms/!r:hs/state', 200, res.body);
//   await assertMatchesSpec('POST', '/_matrix/client/v3/login', 200, res.body);   // a template path works too
//
// The operation is found by method and path (a concrete path is matched against the path templates of every API
// file, the most literal template winning), then the response schema for that status is compiled with Ajv's
// draft 2020-12 build. A mismatch throws an AssertionError listing every schema error. Loaded files and compiled
// schemas are cached for the whole test process.
import { AssertionError } from 'node:assert';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import $RefParser from '@apidevtools/json-schema-ref-parser';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import YAML from 'yaml';

export const SPEC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'matrix-spec');
const API_DIR = path.join(SPEC_DIR, 'data', 'api');
const API_AREAS = ['client-server', 'server-server', 'application-service', 'identity', 'push-gateway'];
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

interface Operation {
  file: string;
  method: string;
  /** The full path template, base path included, e.g. /_matrix/client/v3/rooms/{roomId}/state. */
  template: string;
  /** The key as written in the file (it may end in a space). */
  pathKey: string;
  segments: string[];
  literalSegments: number;
}

let operations: Promise<Operation[]> | undefined;
const dereferenced = new Map<string, Promise<Record<string, unknown>>>();
const validators = new Map<string, ValidateFunction>();

// The spec's formats are checked loosely: the prefix the spec's own comments suggest, or just "a string".
const MX_FORMATS: Record<string, RegExp> = {
  'mx-user-id': /^@/,
  'mx-event-id': /^\$/,
  'mx-room-id': /^!/,
  'mx-room-alias': /^#/,
  'mx-mxc-uri': /^mxc:\/\//,
  'mx-server-name': /^\S+$/,
  'mx-unpadded-base64': /^[A-Za-z0-9+/]*$/,
  'mx-urlsafe-unpadded-base64': /^[A-Za-z0-9_-]*$/,
};

const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false, addUsedSchema: false, validateFormats: true });
// ajv-formats is CommonJS with a default export; under Node's ESM interop the function is on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv2020) => void;
addFormats(ajv);
for (const [name, pattern] of Object.entries(MX_FORMATS)) ajv.addFormat(name, pattern);

function parseYaml(text: string): unknown {
  return YAML.parse(text);
}

async function apiFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const area of API_AREAS) {
    const dir = path.join(API_DIR, area);
    for (const name of await readdir(dir)) {
      if (name.endsWith('.yaml') || name.endsWith('.json')) files.push(path.join(dir, name));
    }
  }
  return files.sort();
}

function basePathOf(doc: Record<string, unknown>): string {
  const servers = doc['servers'] as { url?: string; variables?: Record<string, { default?: string }> }[] | undefined;
  const server = servers?.[0];
  if (!server) return '';
  const url = server.url ?? '';
  // `{protocol}://{hostname}{basePath}`: keep only the path variable(s).
  return url.replace(/^.*\{hostname\}/, '').replace(/\{(\w+)\}/g, (_, name: string) => server.variables?.[name]?.default ?? '');
}

async function loadOperations(): Promise<Operation[]> {
  const result: Operation[] = [];
  for (const file of await apiFiles()) {
    const doc = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown> | null;
    if (!doc || typeof doc['openapi'] !== 'string') continue;
    const base = basePathOf(doc);
    const paths = (doc['paths'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [pathKey, item] of Object.entries(paths)) {
      const template = (base + pathKey.trim()).replace(/\/{2,}/g, '/');
      const segments = template.split('/');
      for (const method of Object.keys(item)) {
        if (!HTTP_METHODS.includes(method)) continue;
        result.push({
          file,
          method: method.toUpperCase(),
          template,
          pathKey,
          segments,
          literalSegments: segments.filter((s) => !/^\{.+\}$/.test(s)).length,
        });
      }
    }
  }
  return result;
}

function segmentMatches(template: string, concrete: string): boolean {
  if (template === concrete) return true;
  if (/^\{.+\}$/.test(template)) return concrete.length > 0;
  return false;
}

/** The operations for this method and path (several when two files define the same path, e.g. the invite). */
export async function findOperations(method: string, pathOrTemplate: string): Promise<Operation[]> {
  operations ??= loadOperations();
  const all = await operations;
  const wanted = method.toUpperCase();
  const bare = pathOrTemplate.split('?')[0] ?? '';
  const exact = all.filter((op) => op.method === wanted && op.template === bare);
  if (exact.length > 0) return exact;
  const segments = bare.split('/');
  const matching = all.filter(
    (op) =>
      op.method === wanted &&
      op.segments.length === segments.length &&
      op.segments.every((s, i) => segmentMatches(s, segments[i] ?? '')),
  );
  const best = Math.max(...matching.map((op) => op.literalSegments));
  return matching.filter((op) => op.literalSegments === best);
}

function dereferencedFile(file: string): Promise<Record<string, unknown>> {
  let doc = dereferenced.get(file);
  if (!doc) {
    doc = $RefParser.dereference(file, {
      parse: { yaml: { parse: (f: { data: Buffer | string }) => parseYaml(f.data.toString()) } },
      dereference: { mergeKeys: false, circular: true },
    } as never) as unknown as Promise<Record<string, unknown>>;
    dereferenced.set(file, doc);
  }
  return doc;
}

async function validatorFor(op: Operation, status: number): Promise<ValidateFunction | null | 'no-status'> {
  const key = `${op.file} ${op.method} ${op.pathKey} ${status}`;
  const cached = validators.get(key);
  if (cached) return cached;
  const doc = await dereferencedFile(op.file);
  const paths = doc['paths'] as Record<string, Record<string, { responses?: Record<string, unknown> }>>;
  const responses = paths[op.pathKey]?.[op.method.toLowerCase()]?.responses ?? {};
  const response = (responses[String(status)] ?? responses[`${String(status).charAt(0)}XX`] ?? responses['default']) as
    | { content?: Record<string, { schema?: object }> }
    | undefined;
  if (!response) return 'no-status';
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return null;
  const validate = ajv.compile(schema);
  validators.set(key, validate);
  return validate;
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => `  ${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`)
    .join('\n');
}

/**
 * Throws unless `body` matches the spec's response schema for `method path` with `status`. A response that the
 * spec defines without a JSON body passes for any body. An unknown endpoint or an undocumented status throws.
 */
export async function assertMatchesSpec(method: string, pathOrTemplate: string, status: number, body: unknown): Promise<void> {
  const ops = await findOperations(method, pathOrTemplate);
  if (ops.length === 0) {
    throw new AssertionError({ message: `No operation in the Matrix spec for ${method.toUpperCase()} ${pathOrTemplate}` });
  }
  const failures: string[] = [];
  for (const op of ops) {
    const validate = await validatorFor(op, status);
    const where = `${op.method} ${op.template} (${path.relative(API_DIR, op.file)})`;
    if (validate === 'no-status') {
      failures.push(`${where}: the spec defines no ${status} response`);
      continue;
    }
    if (validate === null || validate(body)) return;
    failures.push(`${where} ${status}:\n${describeErrors(validate.errors)}`);
  }
  throw new AssertionError({
    message: `Response does not match the Matrix spec:\n${failures.join('\n')}\nbody: ${JSON.stringify(body)?.slice(0, 2000)}`,
    actual: body,
  });
}
