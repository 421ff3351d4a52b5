// The load generator for bench/send.ts, run in a worker thread so that the clients' HTTP work does not share the
// server's event loop: `clients` senders, each PUTting its next message as soon as the previous one is answered.
import { parentPort, workerData } from 'node:worker_threads';

interface Job {
  base: string;
  roomId: string;
  tokens: string[];
  perClient: number;
  txnPrefix: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const job = workerData as Job;
const latencies: number[] = [];
let txn = 0;
const started = process.hrtime.bigint();
await Promise.all(
  job.tokens.map(async (token) => {
    for (let i = 0; i < job.perClient; i++) {
      const t0 = process.hrtime.bigint();
      const res = await fetch(`${job.base}/rooms/${job.roomId}/send/m.room.message/${job.txnPrefix}${++txn}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ msgtype: 'm.text', body: `message ${txn}` }),
      });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`send: ${res.status} ${body}`);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
parentPort?.postMessage({ rate: (job.perClient * job.tokens.length) / seconds, latency: median(latencies) });
