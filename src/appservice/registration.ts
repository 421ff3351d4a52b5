// Application service registration files (Application Service API, "Registration"), in the YAML format
// Synapse and the bridges share. Each file is parsed and validated as a whole (one line per problem, each
// naming the file and the field), namespace regexes are compiled, and a set of files is checked for
// clashes. Tokens are secrets: no message ever contains one, and they are kept off the enumerable
// properties of a Registration so JSON.stringify, util.inspect and pino never print them.
import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import { errorPath } from '../jsonSchemaErrors.ts';

/** One compiled namespace entry. `regex` matches the way Synapse's Python `re.match` does (see compileNamespaceRegex). */
export interface Namespace {
  /** The regex as written in the file. */
  source: string;
  regex: RegExp;
  exclusive: boolean;
}

export interface Namespaces {
  users: Namespace[];
  aliases: Namespace[];
  rooms: Namespace[];
}

export interface Registration {
  /** The file it came from, for messages. */
  file: string;
  id: string;
  /** Null (explicitly, in the file): the service wants no pushes and no queries. No trailing slash. */
  url: string | null;
  /** The service -> homeserver secret. Not enumerable: never serialised or logged. */
  readonly asToken: string;
  /** The homeserver -> service secret. Not enumerable: never serialised or logged. */
  readonly hsToken: string;
  senderLocalpart: string;
  /** `@sender_localpart:server_name`. */
  senderUserId: string;
  namespaces: Namespaces;
  /** Whether requests from masqueraded users are rate-limited (default true, as Synapse; the sender never is). */
  rateLimited: boolean;
  protocols: string[];
  /** receive_ephemeral (stable, Matrix 1.13) or one of the unstable MSC2409 names. */
  receiveEphemeral: boolean;
  /**
   * Whether to-device messages are pushed (MSC4203). MSC4203 defines no registration flag of its own;
   * `push_to_device` sets it explicitly, otherwise it follows the ephemeral opt-in, as Synapse does
   * (to-device rode along with MSC2409 before it was split off).
   */
  receiveToDevice: boolean;
  /** org.matrix.msc3202: device lists and one-time-key counts in transactions. */
  msc3202: boolean;
  /** io.element.msc4190: device management without login. */
  msc4190: boolean;
}

/** Transaction body keys the HTTP layer fills for services that asked (stable and the unstable names Synapse sends). */
export const TRANSACTION_KEYS = {
  events: 'events',
  ephemeral: 'ephemeral',
  ephemeralUnstable: 'de.sorunome.msc2409.ephemeral',
  toDevice: 'to_device',
  toDeviceUnstable: 'de.sorunome.msc2409.to_device',
} as const;

/** Raised for registration files that cannot be used; `problems` holds one line per problem. */
export class RegistrationError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid application service registration:\n${problems.join('\n')}`);
    this.name = 'RegistrationError';
    this.problems = problems;
  }
}

const namespaceList = {
  type: 'array',
  items: {
    type: 'object',
    required: ['regex', 'exclusive'],
    properties: {
      regex: { type: 'string', minLength: 1 },
      exclusive: { type: 'boolean' },
    },
  },
} as const;

// Registration files carry vendor keys (org.matrix.msc3202, io.element.msc4190, com.beeper.*, ...), so
// unknown keys are allowed; the keys we read must have the right types.
const registrationSchema = {
  type: 'object',
  required: ['id', 'url', 'as_token', 'hs_token', 'sender_localpart', 'namespaces'],
  properties: {
    // Any text (the spec's own example is "IRC Bridge"); it is URL-encoded where it appears in a path.
    id: { type: 'string', minLength: 1, maxLength: 255 },
    url: { type: ['string', 'null'], format: 'http-url' },
    as_token: { type: 'string', minLength: 1 },
    hs_token: { type: 'string', minLength: 1 },
    sender_localpart: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9._=\\-/+]+$' },
    namespaces: {
      type: 'object',
      properties: { users: namespaceList, aliases: namespaceList, rooms: namespaceList },
    },
    rate_limited: { type: 'boolean' },
    protocols: { type: 'array', items: { type: 'string', minLength: 1 } },
    receive_ephemeral: { type: 'boolean' },
    'de.sorunome.msc2409.push_ephemeral': { type: 'boolean' },
    push_ephemeral: { type: 'boolean' },
    push_to_device: { type: 'boolean' },
    'org.matrix.msc3202': { type: 'boolean' },
    'io.element.msc4190': { type: 'boolean' },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addFormat('http-url', (v: string) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol));
const validate = ajv.compile(registrationSchema);

interface RawNamespace {
  regex: string;
  exclusive: boolean;
}

interface RawRegistration {
  id: string;
  url: string | null;
  as_token: string;
  hs_token: string;
  sender_localpart: string;
  namespaces: { users?: RawNamespace[]; aliases?: RawNamespace[]; rooms?: RawNamespace[] };
  rate_limited?: boolean;
  protocols?: string[];
  receive_ephemeral?: boolean;
  'de.sorunome.msc2409.push_ephemeral'?: boolean;
  push_ephemeral?: boolean;
  push_to_device?: boolean;
  'org.matrix.msc3202'?: boolean;
  'io.element.msc4190'?: boolean;
}

// Messages describe what is wanted, never the value found (which might be a token).
function describe(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return error.params['missingProperty'] === 'url' ? 'is required (a URL, or null for no pushes)' : 'is required';
    case 'type':
      return `must be ${String(error.params['type']).split(',').join(' or ')}`;
    case 'format':
      return 'must be an http or https URL';
    case 'pattern':
      // Only sender_localpart has a pattern: the user ID grammar, plus the upper case Synapse accepts.
      return 'must contain only a-z, A-Z, 0-9 and . _ = - / +';
    case 'minLength':
      return 'must not be empty';
    case 'maxLength':
      return `must be at most ${String(error.params['limit'])} characters`;
    default:
      return error.message ?? 'is invalid';
  }
}

/**
 * Compiles a namespace regex with the meaning Synapse gives it: Python's `re.match`, anchored at the
 * start of the string only (so `@irc_.*` cannot match `@evil:x` containing `@irc_` later, while a regex
 * without `$` still matches any suffix). Python spellings that JavaScript lacks are translated: named
 * groups `(?P<n>...)` / `(?P=n)` and a leading global `(?i)`. Returns an error message instead of
 * throwing when the regex does not compile.
 */
export function compileNamespaceRegex(source: string): RegExp | string {
  let body = source;
  let flags = '';
  const inline = /^\(\?([aiLmsux]+)\)/.exec(body);
  if (inline) {
    const letters = inline[1] ?? '';
    if (/[Lux]/.test(letters)) return `inline flags (?${letters}) are not supported`;
    if (letters.includes('i')) flags += 'i';
    if (letters.includes('m')) flags += 'm';
    if (letters.includes('s')) flags += 's';
    body = body.slice(inline[0].length);
  }
  body = body.replace(/\(\?P</g, '(?<').replace(/\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/g, '\\k<$1>');
  try {
    // Compile alone first: only a regex that compiles by itself has balanced groups, so wrapping it
    // cannot change its meaning (e.g. `a)|(b` would otherwise escape the anchor).
    new RegExp(body, flags);
    return new RegExp(`^(?:${body})`, flags);
  } catch (error) {
    // V8 quotes the whole regex in its message; keep only the reason (a mistyped token must not leak).
    const reason = /: ([^:/]+)$/.exec((error as Error).message)?.[1];
    return `does not compile${reason ? `: ${reason}` : ''}`;
  }
}

function compileNamespaces(raw: RawRegistration['namespaces'], problems: string[], file: string): Namespaces {
  const out: Namespaces = { users: [], aliases: [], rooms: [] };
  for (const kind of ['users', 'aliases', 'rooms'] as const) {
    (raw[kind] ?? []).forEach((entry, i) => {
      const regex = compileNamespaceRegex(entry.regex);
      if (typeof regex === 'string') problems.push(`${file}: namespaces.${kind}[${i}].regex: ${regex}`);
      else out[kind].push({ source: entry.regex, regex, exclusive: entry.exclusive });
    });
  }
  return out;
}

/**
 * Parses and validates one registration document. `file` names it in messages; `serverName` makes the
 * sender's user ID. Throws RegistrationError with one line per problem.
 */
export function parseRegistration(text: string, file: string, serverName: string): Registration {
  let document: unknown;
  try {
    document = YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    // Only the first line: the rest quotes the source, which may hold a token.
    const first = ((error as Error).message.split('\n')[0] ?? 'unreadable').replace(/:$/, '');
    throw new RegistrationError([`${file}: (yaml): ${first}`]);
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new RegistrationError([`${file}: (top level): must be a mapping of registration keys`]);
  }
  if (!validate(document)) {
    const lines = (validate.errors ?? []).map((e) => `${file}: ${errorPath(e) || '(top level)'}: ${describe(e)}`);
    throw new RegistrationError([...new Set(lines)]);
  }
  const raw = document as RawRegistration;
  const problems: string[] = [];
  const namespaces = compileNamespaces(raw.namespaces, problems, file);
  if (problems.length > 0) throw new RegistrationError(problems);

  const receiveEphemeral =
    raw.receive_ephemeral === true || raw['de.sorunome.msc2409.push_ephemeral'] === true || raw.push_ephemeral === true;
  const registration = {
    file,
    id: raw.id,
    url: raw.url === null ? null : raw.url.replace(/\/+$/, ''),
    senderLocalpart: raw.sender_localpart,
    senderUserId: `@${raw.sender_localpart}:${serverName}`,
    namespaces,
    rateLimited: raw.rate_limited ?? true,
    protocols: raw.protocols ?? [],
    receiveEphemeral,
    receiveToDevice: raw.push_to_device ?? receiveEphemeral,
    msc3202: raw['org.matrix.msc3202'] ?? false,
    msc4190: raw['io.element.msc4190'] ?? false,
  } as Registration;
  Object.defineProperty(registration, 'asToken', { value: raw.as_token, enumerable: false });
  Object.defineProperty(registration, 'hsToken', { value: raw.hs_token, enumerable: false });
  return Object.freeze(registration);
}

/**
 * Refuses clashes across registrations: the same id, as_token, hs_token or sender (each would let one
 * service act as, or be taken for, another). One line per clash; tokens are never quoted.
 */
export function checkRegistrationClashes(registrations: readonly Registration[]): string[] {
  const problems: string[] = [];
  const seen = {
    id: new Map<string, string>(),
    as_token: new Map<string, string>(),
    hs_token: new Map<string, string>(),
    sender_localpart: new Map<string, string>(),
  };
  for (const r of registrations) {
    const values = { id: r.id, as_token: r.asToken, hs_token: r.hsToken, sender_localpart: r.senderLocalpart };
    for (const field of ['id', 'as_token', 'hs_token', 'sender_localpart'] as const) {
      const earlier = seen[field].get(values[field]);
      if (earlier !== undefined) {
        const shown = field === 'id' || field === 'sender_localpart' ? ` (${JSON.stringify(values[field])})` : '';
        problems.push(`${r.file}: ${field}: the same ${field}${shown} is already used by ${earlier}; each service needs its own`);
      } else {
        seen[field].set(values[field], r.file);
      }
    }
  }
  // A token may not double as the other kind of token of another service either.
  const asTokens = new Map(registrations.map((r) => [r.asToken, r.file]));
  for (const r of registrations) {
    const other = asTokens.get(r.hsToken);
    if (other !== undefined) problems.push(`${r.file}: hs_token: equals the as_token of ${other}; tokens must differ`);
  }
  return problems;
}

/**
 * Loads `app_service_config_files` in order. Every file is read and checked before anything is
 * refused, so one startup error lists every problem. Throws RegistrationError.
 */
export async function loadRegistrations(files: readonly string[], serverName: string): Promise<Registration[]> {
  const problems: string[] = [];
  const registrations: Registration[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push(`${file}: (file): cannot read: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`);
      continue;
    }
    try {
      registrations.push(parseRegistration(text, file, serverName));
    } catch (error) {
      if (error instanceof RegistrationError) problems.push(...error.problems);
      else throw error;
    }
  }
  problems.push(...checkRegistrationClashes(registrations));
  if (problems.length > 0) throw new RegistrationError(problems);
  return registrations;
}
