// The load generator for bench/send.ts, run in a worker thread so that the clients' HTTP work does not share the
// server's event loop: `clients` senders, each PUTting its next message as soon as the previous one is answered.
// It uses node:http with one kept-alive connection per client rather than fetch(): on these shared 2 cores the
// load generator competes with the server and PostgreSQL for CPU, and fetch's streams cost more per request than
// the server's whole handling of it.
import http from 'node:http';
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

function put(agent: http.Agent, url: URL, token: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'PUT', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const job = workerData as Job;
const latencies: number[] = [];
let txn = 0;
const started = process.hrtime.bigint();
await Promise.all(
  job.tokens.map(async (token) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < job.perClient; i++) {
      const t0 = process.hrtime.bigint();
      const n = ++txn;
      const res = await put(agent, new URL(`${job.base}/rooms/${job.roomId}/send/m.room.message/${job.txnPrefix}${n}`), token, JSON.stringify({ msgtype: 'm.text', body: `message ${n}` }));
      if (res.status !== 200) throw new Error(`send: ${res.status} ${res.text}`);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    agent.destroy();
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
parentPort?.postMessage({ rate: (job.perClient * job.tokens.length) / seconds, latency: median(latencies) });
