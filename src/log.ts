// The one pino logger. Secrets are redacted by key wherever they appear, and query strings lose access tokens.
import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'access_token', 'refresh_token', 'password', 'new_password', 'as_token', 'hs_token', 'token',
  'registration_shared_secret', 'mac', 'signing_key', 'private_key', 'seed', 'authorization',
];

// pino's redaction paths do not recurse, so name the depths where secrets can sit.
const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

const SECRET_QUERY_PARAMS = /([?&](?:access_token|token|hs_token|as_token)=)[^&#]*/gi;

/** A URL fit for logs: the values of secret query parameters are replaced. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, '$1<redacted>');
}

export function createLogger(options: { level?: string; pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '<redacted>' },
      base: { name: 'troupe' },
      ...(options.pretty && !options.destination ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
    },
    options.destination as pino.DestinationStream | undefined,
  );
}
