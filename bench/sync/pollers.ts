// The clients of bench/sync.ts, in a worker thread so that their HTTP work does not share the server's event loop:
// every member holds a long-poll /sync; one member sends a message; the time from the send's answer to each waiting
// /sync's answer is recorded, per member and per round.
import { parentPort, workerData } from 'node:worker_threads';

interface Job {
  base: string;
  roomId: string;
  /** Access tokens of the members; the first one sends. */
  tokens: string[];
  rounds: number;
  /** How long to let the long polls settle in before sending. */
  settleMs: number;
  /** Makes the sender's transaction ids unique across runs of this worker. */
  txnPrefix: string;
}

const job = workerData as Job;
const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 5 }, state: { lazy_load_members: true } }, presence: { not_types: ['*'] } }));

async function get(path: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${job.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const since = await Promise.all(job.tokens.map(async (token) => (await get(`/sync?filter=${filter}`, token))['next_batch'] as string));
const latencies: number[] = [];
const fromStart: number[] = [];
const slowest: number[] = [];
for (let round = 0; round < job.rounds; round++) {
  const answered = job.tokens.map(async (token, i) => {
    // Until a /sync answers with the message (presence or receipts may wake it first), poll again from its token.
    for (;;) {
      const body = await get(`/sync?filter=${filter}&timeout=30000&since=${encodeURIComponent(since[i] as string)}`, token);
      since[i] = body['next_batch'] as string;
      const join = (body['rooms'] as { join?: Record<string, { timeline?: { events?: { content?: { body?: string } }[] } }> } | undefined)?.join;
      const events = join?.[job.roomId]?.timeline?.events ?? [];
      if (events.some((e) => e.content?.body === `round ${round}`)) return performance.now();
    }
  });
  await new Promise((resolve) => setTimeout(resolve, job.settleMs));
  const sentAt = performance.now();
  const res = await fetch(`${job.base}/rooms/${encodeURIComponent(job.roomId)}/send/m.room.message/${job.txnPrefix}${round}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${job.tokens[0]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ msgtype: 'm.text', body: `round ${round}` }),
  });
  await res.text();
  const ackedAt = performance.now();
  if (res.status !== 200) throw new Error(`send: ${res.status}`);
  const times = await Promise.all(answered);
  // A /sync may answer before the send's own answer arrives (the writer wakes waiters as it commits): 0 then.
  const afterAck = times.map((t) => Math.max(0, t - ackedAt));
  latencies.push(...afterAck);
  fromStart.push(...times.map((t) => t - sentAt));
  slowest.push(Math.max(...afterAck));
}
parentPort?.postMessage({ latencies, fromStart, slowest });
