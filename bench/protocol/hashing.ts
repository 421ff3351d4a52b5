// Hashing and signing throughput on realistic message events: what one core of the server spends per event it
// sends (hash + sign) and per event it receives (validate, check signature, check hash, compute the id).
import type { BenchRow } from '../run.ts';
import { encodeCanonicalJson } from '../../src/protocol/canonicalJson.ts';
import { computeEventId } from '../../src/protocol/eventIds.ts';
import { validatePdu } from '../../src/protocol/eventFormat.ts';
import { computeContentHash } from '../../src/protocol/hashes.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { applyContentHashCheck, checkEventSignatures, signEvent } from '../../src/protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { generateSigningKey, type VerifyKey } from '../../src/protocol/signing.ts';

export interface HashingBenchOptions {
  /** Timed rounds per figure; the median is reported. */
  readonly rounds?: number;
  /** Length of one round. */
  readonly roundMs?: number;
  readonly roomVersion?: string;
}

const SERVER = 'bench.example.org';

/** A message event as clients send them: a few hundred bytes of text and HTML, a reply relation, 3 auth events. */
function messageEvent(i: number, version: RoomVersion): JsonObject {
  const body = `Message ${i}: the quick brown fox jumps over the lazy dog. ${'Lorem ipsum dolor sit amet, '.repeat(4)}`;
  return {
    type: 'm.room.message',
    room_id: version.roomIdFromCreateEvent ? '!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM' : `!room:${SERVER}`,
    sender: `@user${i % 50}:${SERVER}`,
    content: {
      msgtype: 'm.text',
      body,
      format: 'org.matrix.custom.html',
      formatted_body: `<p>${body}</p>`,
      'm.relates_to': { 'm.in_reply_to': { event_id: '$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg' } },
    },
    depth: 1000 + i,
    origin_server_ts: 1_700_000_000_000 + i,
    prev_events: ['$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg'],
    auth_events: [
      '$31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM',
      '$9l9ifSsfxdM07mEL_BG4nbErFOqdGCJTxzaDur0-rrc',
      '$g9xydfVsYKEA6ggxLG5yc1hqNIwDCT29HAU2NqRT07A',
    ],
    hashes: {},
    signatures: {},
    unsigned: { age: 12 },
  };
}

/** Runs `fn` over the events round-robin for `ms`, returning operations per second. */
function rate(events: readonly JsonObject[], ms: number, fn: (e: JsonObject) => unknown): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let j = 0; j < 64; j++) fn(events[(n + j) % events.length] as JsonObject);
    n += 64;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function benchHashing(options: HashingBenchOptions = {}): Promise<BenchRow[]> {
  const rounds = options.rounds ?? 5;
  const roundMs = options.roundMs ?? 1000;
  const version = getRoomVersion(options.roomVersion ?? '10');
  if (!version) throw new Error(`unknown room version ${options.roomVersion}`);
  const key = generateSigningKey();
  const keys = new Map<string, VerifyKey>([[key.keyId, { key: key.publicKey }]]);
  const keysFor = () => keys;

  const unsigned = Array.from({ length: 256 }, (_, i) => messageEvent(i, version));
  const signed = unsigned.map((e) => signEvent(e, version, SERVER, key));
  const bytes = Buffer.byteLength(encodeCanonicalJson(signed[0]));

  const cases: [string, readonly JsonObject[], (e: JsonObject) => unknown][] = [
    ['canonical JSON encode', signed, (e) => encodeCanonicalJson(e)],
    ['content hash (sha256)', signed, (e) => computeContentHash(e)],
    ['event id (reference hash)', signed, (e) => computeEventId(e, version)],
    ['hash + sign (signEvent)', unsigned, (e) => signEvent(e, version, SERVER, key)],
    ['verify signature', signed, (e) => checkEventSignatures(e, version, keysFor)],
    [
      'receive: validate + verify + hash check + id',
      signed,
      (e) => {
        if (!validatePdu(e, version).ok) throw new Error('invalid');
        if (!checkEventSignatures(e, version, keysFor).ok) throw new Error('bad signature');
        return computeEventId(applyContentHashCheck(e, version).pdu, version);
      },
    ],
  ];

  const rows: BenchRow[] = [];
  for (const [name, events, fn] of cases) {
    rate(events, Math.min(200, roundMs), fn); // warm up
    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      samples.push(rate(events, roundMs, fn));
      await new Promise((resolve) => setImmediate(resolve));
    }
    rows.push({
      name,
      value: median(samples),
      unit: 'events/s',
      note: `median of ${rounds}×${roundMs} ms, room v${version.id}, ${bytes}-byte events, 1 core`,
    });
  }
  return rows;
}
