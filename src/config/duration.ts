// Durations as Synapse's config accepts them: a number of milliseconds, or a string such as "10m" or "7d".
const UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d|w|y)?$';

export type Duration = number | string;

export function durationMs(value: Duration): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+)(ms|s|m|h|d|w|y)?$/.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * (UNITS_MS[match[2] ?? 'ms'] ?? 1);
}
