#!/usr/bin/env node
// troupe <command>: start, migrate, generate-config, register-user, rotate-signing-key. Exit codes: 0 ok, 1 failure, 2 bad usage or config.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { createLogger, type Logger } from './log.ts';
import { openStorage, startServer } from './main.ts';
import { hashPassword } from './auth/passwords.ts';
import { PostgresUserStore } from './storage/users.ts';
import { isUniqueViolation } from './storage/errors.ts';
import { validateUserLocalpart } from './protocol/identifiers.ts';
import { rotateSigningKey } from './keys/rotation.ts';

const USAGE = `usage: troupe <command> [options]

commands:
  start             run the homeserver (the default development config when --config is not given)
  migrate           apply database migrations and exit
  generate-config   write a new config file (--server-name NAME [--output FILE])
  register-user     create a local user (--user NAME [--password PW | password on stdin] [--admin])
  rotate-signing-key  (--config PATH) sign with a new key from now on; the old one is added to old_signing_keys
                    in the config file. Restart the server afterwards.

options:
  --config PATH     the YAML config file (see troupe.sample.yaml); DATABASE_URL overrides its database
  --pretty          human-readable logs instead of JSON lines
  --inspect         (start) report the actors to the XState inspector relay on 127.0.0.1 (see inspector in the sample)
`;

class UsageError extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function start(config: Config, logger: Logger): Promise<void> {
  // Signals are handled from the first moment, so one arriving during start-up still shuts down cleanly.
  const starting = startServer(config, logger);
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    // Whatever happens, exit within 5 seconds of the signal.
    setTimeout(() => process.exit(1), 5000).unref();
    starting
      .then((server) => server.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await starting;
}

function generateConfig(serverName: string): string {
  const secret = randomBytes(32).toString('base64url');
  return `# Troupe configuration for ${serverName}. Every key is documented in troupe.sample.yaml.
server_name: "${serverName}"
public_baseurl: "https://${serverName}/"
data_directory: ./data
listeners:
  - port: 8008
    bind_addresses: ["127.0.0.1"]
    type: http
    x_forwarded: true
    resources:
      - names: [client, federation]
database:
  name: pglite
enable_registration: false
registration_shared_secret: "${secret}"
app_service_config_files: []
logging:
  level: info
`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      pretty: { type: 'boolean' },
      inspect: { type: 'boolean' },
      'server-name': { type: 'string' },
      output: { type: 'string', short: 'o' },
      user: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'p' },
      admin: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command = 'start'] = positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'generate-config') {
    const serverName = values['server-name'];
    if (!serverName) throw new UsageError('generate-config needs --server-name');
    const text = generateConfig(serverName);
    if (values.output) await writeFile(values.output, text, { flag: 'wx', mode: 0o600 });
    else process.stdout.write(text);
    return 0;
  }

  const loaded = await loadConfig(values.config);
  const config = values.inspect ? { ...loaded, inspector: { ...loaded.inspector, enabled: true } } : loaded;
  const logger = createLogger({ level: config.logging.level, pretty: values.pretty ?? config.logging.pretty });
  switch (command) {
    case 'start':
      await start(config, logger);
      return -1; // keep running until a signal
    case 'migrate': {
      const db = await openStorage(config, logger);
      await db.close();
      return 0;
    }
    case 'register-user': {
      const localpart = values.user;
      if (!localpart) throw new UsageError('register-user needs --user');
      const valid = validateUserLocalpart(localpart, config.serverName);
      if (!valid.ok) throw new UsageError(`--user ${localpart}: ${valid.reason}`);
      const userId = `@${localpart}:${config.serverName}`;
      const password = values.password ?? (await readStdin());
      if (password.length === 0) throw new UsageError('register-user needs a password (--password or stdin)');
      const db = await openStorage(config, logger);
      try {
        const users = new PostgresUserStore(db);
        try {
          await users.createUser({ userId, passwordHash: await hashPassword(password), admin: values.admin ?? false });
        } catch (error) {
          if (isUniqueViolation(error)) throw new Error(`${userId} already exists`);
          throw error;
        }
        process.stdout.write(`registered ${userId}${values.admin ? ' (admin)' : ''}\n`);
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'rotate-signing-key': {
      // The old key must be recorded in a config file we can rewrite: the built-in development config is none.
      if (!values.config) throw new UsageError('rotate-signing-key needs --config');
      const rotation = await rotateSigningKey(values.config, config.signingKeyPath, Date.now());
      process.stdout.write(
        `now signing with ${rotation.newKeyId}; ${rotation.oldKeyId} added to old_signing_keys (expired_ts ${rotation.expiredTs}). Restart Troupe.\n`,
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`troupe: ${error.problems.length === 1 ? 'invalid configuration' : 'invalid configuration:'}\n`);
      for (const problem of error.problems) process.stderr.write(`  ${problem}\n`);
      process.exit(2);
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`troupe: ${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`troupe: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
