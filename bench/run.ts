// `npm run bench -- <scenario> [...]`: runs bench/<scenario>.ts (each exports `run(args)` returning rows),
// prints a table and writes bench/results/<scenario>-<time>.json.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const [scenario, ...args] = process.argv.slice(2);
const available = (await readdir(here)).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.slice(0, -3));

if (!scenario || !available.includes(scenario)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`);
  process.exit(2);
}

const mod = (await import(path.join(here, `${scenario}.ts`))) as { run: (args: string[]) => Promise<BenchRow[]> };
const rows = await mod.run(args);
console.table(rows.map((r) => ({ name: r.name, value: Number(r.value.toPrecision(4)), unit: r.unit, note: r.note ?? '' })));
await mkdir(path.join(here, 'results'), { recursive: true });
const file = path.join(here, 'results', `${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, JSON.stringify({ scenario, args, node: process.version, rows }, null, 2));
console.log(`written ${path.relative(process.cwd(), file)}`);
