// The JSON Schema of troupe.yaml. Key names follow Synapse's where an admin would know them.
import { DURATION_PATTERN } from './duration.ts';

const duration = {
  oneOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', pattern: DURATION_PATTERN },
  ],
};

const rate = {
  type: 'object',
  additionalProperties: false,
  properties: {
    per_second: { type: 'number', exclusiveMinimum: 0 },
    burst_count: { type: 'number', minimum: 1 },
  },
};

const nestedRates = (...keys: string[]) => ({
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(keys.map((key) => [key, rate])),
});

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server_name'],
  properties: {
    server_name: { type: 'string', minLength: 1, format: 'server-name' },
    public_baseurl: { type: 'string', format: 'http-url' },
    data_directory: { type: 'string', minLength: 1 },
    signing_key_path: { type: 'string', minLength: 1 },
    old_signing_keys: {
      type: 'object',
      propertyNames: { pattern: '^ed25519:[A-Za-z0-9_]+$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'expired_ts'],
        properties: {
          key: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}$' },
          expired_ts: { type: 'integer', minimum: 0, maximum: 9007199254740991 },
        },
      },
    },
    listeners: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['port'],
        properties: {
          port: { type: 'integer', minimum: 0, maximum: 65535 },
          bind_addresses: { type: 'array', minItems: 1, items: { type: 'string', format: 'ip' } },
          type: { const: 'http' },
          tls: { type: 'boolean' },
          x_forwarded: { type: 'boolean' },
          resources: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['names'],
              properties: {
                names: {
                  type: 'array',
                  minItems: 1,
                  items: { enum: ['client', 'federation', 'keys', 'media', 'admin', 'metrics', 'health'] },
                },
                compress: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
    tls_certificate_path: { type: 'string', minLength: 1 },
    tls_private_key_path: { type: 'string', minLength: 1 },
    database: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { enum: ['pglite', 'postgres', 'psycopg2'] },
        args: {
          type: 'object',
          additionalProperties: false,
          properties: {
            url: { type: 'string', pattern: '^postgres(ql)?://' },
            path: { type: 'string', minLength: 1 },
            user: { type: 'string' },
            password: { type: 'string' },
            database: { type: 'string' },
            host: { type: 'string' },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
            cp_min: { type: 'integer', minimum: 0 },
            cp_max: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    enable_registration: { type: 'boolean' },
    registration_requires_token: { type: 'boolean' },
    registration_shared_secret: { type: 'string', minLength: 1 },
    app_service_config_files: { type: 'array', items: { type: 'string', minLength: 1 } },
    app_service_transaction_timeout: duration,
    federation_ip_range_blacklist: { type: 'array', items: { type: 'string', format: 'cidr' } },
    federation_domain_whitelist: { type: ['array', 'null'], items: { type: 'string', format: 'server-name' } },
    federation_custom_ca_list: { type: 'array', items: { type: 'string', minLength: 1 } },
    trusted_key_servers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['server_name', 'verify_keys'],
        properties: {
          server_name: { type: 'string', format: 'server-name' },
          verify_keys: {
            type: 'object',
            minProperties: 1,
            propertyNames: { pattern: '^ed25519:[A-Za-z0-9_]+$' },
            additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9+/_-]{43}={0,1}$' },
          },
        },
      },
    },
    serve_server_wellknown: { type: 'boolean' },
    federation: {
      type: 'object',
      additionalProperties: false,
      properties: {
        destination_min_retry_interval: duration,
        destination_retry_multiplier: { type: 'number', minimum: 1 },
        destination_max_retry_interval: duration,
      },
    },
    rc_message: rate,
    rc_registration: rate,
    rc_registration_token_validity: rate,
    rc_login: nestedRates('address', 'account', 'failed_attempts'),
    rc_joins: nestedRates('local', 'remote'),
    rc_invites: nestedRates('per_room', 'per_user', 'per_issuer'),
    rc_admin_redaction: rate,
    presence: {
      type: 'object',
      additionalProperties: false,
      properties: { enabled: { type: 'boolean' } },
    },
    inspector: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        users: { type: 'array', items: { type: 'string', minLength: 1 } },
      },
    },
    logging: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
        pretty: { type: 'boolean' },
      },
    },
  },
} as const;
