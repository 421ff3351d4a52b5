// The streams a sync token is made of, in token order. The order is part of the wire format of a
// StreamToken (`s<events>_<presence>_...`): append new streams at the end, never reorder.
export const STREAM_NAMES = [
  'events',
  'presence',
  'typing',
  'receipts',
  'account_data',
  'push_rules',
  'to_device',
  'device_lists',
] as const;

export type StreamName = (typeof STREAM_NAMES)[number];

const indexes = new Map<string, number>(STREAM_NAMES.map((name, i) => [name, i]));

export function isStreamName(value: unknown): value is StreamName {
  return typeof value === 'string' && indexes.has(value);
}

/** Position of a stream inside a token's tuple. */
export function streamIndex(stream: StreamName): number {
  const i = indexes.get(stream);
  if (i === undefined) throw new RangeError(`unknown stream ${String(stream)}`);
  return i;
}
