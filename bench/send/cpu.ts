// CPU time per message, which the machine's other load disturbs far less than throughput: this process (the server
// and the clients' worker thread) and, when the database is a PostgreSQL server on this machine, its processes.
import { readFile } from 'node:fs/promises';
import type { Database } from '../../src/storage/database.ts';

export interface CpuSnapshot {
  /** This process, microseconds. */
  node: number;
  /** PostgreSQL's processes by pid, microseconds (empty for PGlite or a server elsewhere). */
  postgres: Map<number, number>;
}

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

async function processCpu(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return undefined;
  }
}

export async function cpuSnapshot(db: Database, local: boolean): Promise<CpuSnapshot> {
  const usage = process.cpuUsage();
  const postgres = new Map<number, number>();
  if (local && db.kind === 'postgres') {
    const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity');
    for (const { pid } of rows) {
      const cpu = await processCpu(pid);
      if (cpu !== undefined) postgres.set(pid, cpu);
    }
  }
  return { node: usage.user + usage.system, postgres };
}

/** Microseconds per message between two snapshots; PostgreSQL is null when it was not measured. */
export function cpuPerMessage(before: CpuSnapshot, after: CpuSnapshot, messages: number): { node: number; postgres: number | null } {
  let postgres = 0;
  for (const [pid, cpu] of after.postgres) postgres += cpu - (before.postgres.get(pid) ?? 0);
  return { node: (after.node - before.node) / messages, postgres: after.postgres.size > 0 ? postgres / messages : null };
}
