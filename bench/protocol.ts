// `npm run bench -- protocol`: events hashed and signed per second, and state resolution of ~1,000 conflicted events.
import type { BenchRow } from './run.ts';
import { benchHashing } from './protocol/hashing.ts';
import { benchStateResolution } from './protocol/stateResolution.ts';

export async function run(_args: string[]): Promise<BenchRow[]> {
  return [...(await benchHashing()), ...(await benchStateResolution())];
}
