// The load generator for bench/send.ts, run in a worker thread so that the clients' HTTP work does not share the
// server's event loop: `clients` senders, each PUTting its next message as soon as the previous one is answered.
// The worker still shares the machine's CPU with the server and PostgreSQL, so every microsecond it spends per
// request is taken from the system under test: each client writes its requests straight to its own kept-alive TCP
// socket (bench/lib/httpClient.ts) rather than going through node:http or fetch, which cost several times more.
import { parentPort, workerData } from 'node:worker_threads';
import { HttpConnection } from '../lib/httpClient.ts';

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
const sendPath = `${new URL(job.base).pathname}/rooms/${job.roomId}/send/m.room.message/${job.txnPrefix}`;
const latencies: number[] = [];
let txn = 0;
const started = process.hrtime.bigint();
await Promise.all(
  job.tokens.map(async (token) => {
    const connection = new HttpConnection(job.base);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    for (let i = 0; i < job.perClient; i++) {
      const t0 = process.hrtime.bigint();
      const n = ++txn;
      const res = await connection.request('PUT', `${sendPath}${n}`, headers, `{"msgtype":"m.text","body":"message ${n}"}`);
      if (res.status !== 200 || !res.body.includes('"event_id"')) throw new Error(`send: ${res.status} ${res.body.slice(0, 300)}`);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    connection.close();
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
parentPort?.postMessage({ rate: (job.perClient * job.tokens.length) / seconds, latency: median(latencies) });
