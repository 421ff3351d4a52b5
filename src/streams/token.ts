// A sync token: the tuple of stream positions, opaque to clients (`s72_4_11_0_9_3_1_0`).
// Immutable: advancing returns a new token (or the same one when nothing moved), so a token handed
// to a waiting request can never change under it.
import { STREAM_NAMES, streamIndex } from './names.ts';
import type { StreamName } from './names.ts';

export class InvalidStreamTokenError extends Error {
  constructor(reason: string) {
    super(`invalid stream token: ${reason}`);
    this.name = 'InvalidStreamTokenError';
  }
}

const MAX_TOKEN_LENGTH = 256;
const DIGITS = /^(0|[1-9][0-9]*)$/;

export class StreamToken {
  /** Positions in STREAM_NAMES order. Frozen. */
  readonly positions: readonly number[];
  /** toString's answer, made once. */
  private text: string | undefined;

  private constructor(positions: readonly number[]) {
    this.positions = positions;
  }

  /** A token from positions by name; streams not named are at 0. */
  static of(positions: Partial<Record<StreamName, number>> = {}): StreamToken {
    return new StreamToken(
      Object.freeze(
        STREAM_NAMES.map((name) => {
          const p = positions[name] ?? 0;
          assertPosition(p);
          return p;
        }),
      ),
    );
  }

  static readonly ZERO: StreamToken = StreamToken.of();

  /**
   * Parses a client-supplied token. Throws InvalidStreamTokenError for anything that is not exactly
   * `s` followed by one non-negative safe integer per known stream (the HTTP layer answers M_INVALID_PARAM).
   * Tokens from an older release with fewer streams parse, the missing streams read as 0.
   */
  static parse(text: string): StreamToken {
    if (typeof text !== 'string') throw new InvalidStreamTokenError('not a string');
    if (text.length > MAX_TOKEN_LENGTH) throw new InvalidStreamTokenError('too long');
    if (!text.startsWith('s')) throw new InvalidStreamTokenError('does not start with "s"');
    const parts = text.slice(1).split('_');
    if (parts.length > STREAM_NAMES.length) throw new InvalidStreamTokenError('too many positions');
    const positions: number[] = [];
    for (const part of parts) {
      if (!DIGITS.test(part)) throw new InvalidStreamTokenError('a position is not a non-negative integer');
      const n = Number(part);
      if (!Number.isSafeInteger(n)) throw new InvalidStreamTokenError('a position is too large');
      positions.push(n);
    }
    while (positions.length < STREAM_NAMES.length) positions.push(0);
    return new StreamToken(Object.freeze(positions));
  }

  /** Like parse, but answers null instead of throwing. */
  static tryParse(text: string): StreamToken | null {
    try {
      return StreamToken.parse(text);
    } catch (e) {
      if (e instanceof InvalidStreamTokenError) return null;
      throw e;
    }
  }

  get(stream: StreamName): number {
    return this.positions[streamIndex(stream)] ?? 0;
  }

  /** A copy with `stream` moved forward to `position`; the same token if that is not forward. */
  advance(stream: StreamName, position: number): StreamToken {
    const i = streamIndex(stream);
    if (position <= (this.positions[i] ?? 0)) return this;
    assertPosition(position);
    const next = this.positions.slice();
    next[i] = position;
    return new StreamToken(Object.freeze(next));
  }

  /** True when any stream of this token is ahead of the same stream in `since`. */
  isAfter(since: StreamToken): boolean {
    const a = this.positions;
    const b = since.positions;
    for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) > (b[i] ?? 0)) return true;
    return false;
  }

  /** Per-stream maximum of both tokens. */
  max(other: StreamToken): StreamToken {
    let changed = false;
    const next = this.positions.map((p, i) => {
      const q = other.positions[i] ?? 0;
      if (q > p) changed = true;
      return q > p ? q : p;
    });
    return changed ? new StreamToken(Object.freeze(next)) : this;
  }

  equals(other: StreamToken): boolean {
    return this.positions.every((p, i) => p === other.positions[i]);
  }

  toString(): string {
    return (this.text ??= `s${this.positions.join('_')}`);
  }

  toJSON(): string {
    return this.toString();
  }

  toRecord(): Record<StreamName, number> {
    return Object.fromEntries(STREAM_NAMES.map((name, i) => [name, this.positions[i] ?? 0])) as Record<StreamName, number>;
  }
}

function assertPosition(p: number): void {
  if (!Number.isSafeInteger(p) || p < 0) throw new RangeError(`stream position must be a non-negative safe integer, got ${p}`);
}
