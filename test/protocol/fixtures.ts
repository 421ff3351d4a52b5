// Shared fixtures for the protocol tests: the spec's test signing key and valid PDUs of every event format.
import { decodeBase64 } from '../../src/protocol/base64.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { signingKeyFromSeed } from '../../src/protocol/signing.ts';

export const SPEC_SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';
/** The appendix's test key: server "domain", key id "ed25519:1". */
export const specKey = signingKeyFromSeed(decodeBase64(SPEC_SEED) as Buffer, '1');

export const v = (id: string): RoomVersion => {
  const version = getRoomVersion(id);
  if (!version) throw new Error(`no room version ${id}`);
  return version;
};

const V1_REF = '$prev:example.org';
const V3_REF = '$9l9ifSsfxdM07mEL/BG4nbErFOqdGCJTxzaDur0+rrc';
const V4_REF = '$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg';
export const V12_ROOM = '!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM';

/** A valid (unsigned, unhashed) message PDU for the room version, ready for `signEvent`. */
export function messagePdu(version: RoomVersion, overrides: JsonObject = {}): JsonObject {
  const base: JsonObject = {
    type: 'm.room.message',
    room_id: version.roomIdFromCreateEvent ? V12_ROOM : '!room:example.org',
    sender: '@alice:example.org',
    content: { msgtype: 'm.text', body: 'hello' },
    depth: 5,
    origin_server_ts: 1_700_000_000_000,
    hashes: { sha256: 'x' },
    signatures: {},
  };
  if (version.eventFormat === 1) {
    base['event_id'] = '$msg:example.org';
    base['prev_events'] = [[V1_REF, { sha256: 'abc' }]];
    base['auth_events'] = [[V1_REF, { sha256: 'abc' }]];
  } else {
    const ref = version.eventFormat === 2 ? V3_REF : V4_REF;
    base['prev_events'] = [ref];
    base['auth_events'] = [ref];
  }
  return { ...base, ...overrides };
}
