// The part of a pino logger that storage uses; a pino Logger (or a child of one) fits it.
export interface StorageLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;
export const silentLogger: StorageLogger = { debug: noop, info: noop, warn: noop, error: noop };
