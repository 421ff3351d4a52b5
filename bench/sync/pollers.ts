// The clients of bench/sync.ts, in a worker thread so that their HTTP work does not share the server's event loop:
// every member holds a long-poll /sync; one member sends a message; the time from the send's answer to each waiting
// /sync's answer is recorded, per member and per round. The worker still shares the machine's CPU with the server and
// PostgreSQL, so each member talks over its own kept-alive TCP socket (bench/lib/httpClient.ts) rather than fetch,
// whose streams cost several times more per request; the sender's message goes over a socket of its own, as its
// long poll is in flight meanwhile.
import { parentPort, workerData } from 'node:worker_threads';
import { HttpConnection } from '../lib/httpClient.ts';

interface Job {
  base: string;
  roomId: string;
  /** Access tokens of the members; the first one sends. */
  tokens: string[];
  rounds: number;
  /** Rounds run first and not recorded (the JIT warms up on them); their slowest answers are reported apart. */
  warmup: number;
  /** How long to let the long polls settle in before sending. */
  settleMs: number;
  /** Makes the sender's transaction ids unique across runs of this worker. */
  txnPrefix: string;
}

const job = workerData as Job;
const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 5 }, state: { lazy_load_members: true } }, presence: { not_types: ['*'] } }));

const prefix = new URL(job.base).pathname;
const connections = job.tokens.map(() => new HttpConnection(job.base));

async function get(path: string, token: string, connection: HttpConnection): Promise<Record<string, unknown>> {
  const res = await connection.request('GET', `${prefix}${path}`, { authorization: `Bearer ${token}` });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body) as Record<string, unknown>;
}

const since = await Promise.all(job.tokens.map(async (token, i) => (await get(`/sync?filter=${filter}`, token, connections[i] as HttpConnection))['next_batch'] as string));
const sender = new HttpConnection(job.base);
const latencies: number[] = [];
const fromStart: number[] = [];
const slowest: number[] = [];
const warmupSlowest: number[] = [];
for (let round = 0; round < job.warmup + job.rounds; round++) {
  // The server's CPU is measured over the recorded rounds.
  if (round === job.warmup) parentPort?.postMessage('started');
  const answered = job.tokens.map(async (token, i) => {
    // Until a /sync answers with the message (presence or receipts may wake it first), poll again from its token.
    for (;;) {
      const body = await get(`/sync?filter=${filter}&timeout=30000&since=${encodeURIComponent(since[i] as string)}`, token, connections[i] as HttpConnection);
      since[i] = body['next_batch'] as string;
      const join = (body['rooms'] as { join?: Record<string, { timeline?: { events?: { content?: { body?: string } }[] } }> } | undefined)?.join;
      const events = join?.[job.roomId]?.timeline?.events ?? [];
      if (events.some((e) => e.content?.body === `round ${round}`)) return performance.now();
    }
  });
  await new Promise((resolve) => setTimeout(resolve, job.settleMs));
  const sentAt = performance.now();
  const res = await sender.request(
    'PUT',
    `${prefix}/rooms/${encodeURIComponent(job.roomId)}/send/m.room.message/${job.txnPrefix}${round}`,
    { authorization: `Bearer ${job.tokens[0]}`, 'content-type': 'application/json' },
    JSON.stringify({ msgtype: 'm.text', body: `round ${round}` }),
  );
  const ackedAt = performance.now();
  if (res.status !== 200) throw new Error(`send: ${res.status}`);
  const times = await Promise.all(answered);
  // A /sync may answer before the send's own answer arrives (the writer wakes waiters as it commits): 0 then.
  const afterAck = times.map((t) => Math.max(0, t - ackedAt));
  if (round < job.warmup) {
    warmupSlowest.push(Math.max(...afterAck));
    continue;
  }
  latencies.push(...afterAck);
  fromStart.push(...times.map((t) => t - sentAt));
  slowest.push(Math.max(...afterAck));
}
for (const connection of [...connections, sender]) connection.close();
parentPort?.postMessage({ latencies, fromStart, slowest, warmupSlowest });
