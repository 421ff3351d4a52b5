import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeEventId,
  computeRoomIdFromCreateEvent,
  eventIdFormat,
  eventIdToRoomId,
  roomIdToCreateEventId,
} from '../../src/protocol/eventIds.ts';
import { computeReferenceHash, contentHashBase64 } from '../../src/protocol/hashes.ts';
import { parseEventId } from '../../src/protocol/identifiers.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { redactEvent } from '../../src/protocol/redaction.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';

const v = (id: string): RoomVersion => getRoomVersion(id) as RoomVersion;

// The expected ids below were computed independently with the appendix's Python canonical_json, hashlib and the
// spec's redaction lists (a message keeps no content; v11 also drops `origin`).
const message: JsonObject = {
  type: 'm.room.message',
  room_id: '!room:example.org',
  sender: '@alice:example.org',
  content: { msgtype: 'm.text', body: 'hello wörld 😀' },
  depth: 5,
  origin_server_ts: 1700000000000,
  origin: 'example.org',
  prev_events: ['$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg'],
  auth_events: ['$31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM'],
  hashes: { sha256: 'ThisHashCoversAllFieldsInCaseThisIsRedacted' },
  signatures: { 'example.org': { 'ed25519:1': 'sig' } },
  unsigned: { age: 3 },
};

describe('event ids', () => {
  it('v1–v2 take the event_id the PDU carries', () => {
    for (const id of ['1', '2']) assert.equal(computeEventId({ ...message, event_id: '$abc:example.org' }, v(id)), '$abc:example.org');
    assert.throws(() => computeEventId(message, v('1')), /event_id/);
  });

  it('v3 is the reference hash in standard Base64', () => {
    const id = computeEventId({ ...message, depth: 6 }, v('3'));
    assert.equal(id, '$9l9ifSsfxdM07mEL/BG4nbErFOqdGCJTxzaDur0+rrc');
    assert.ok(parseEventId(id, 'v3').ok);
  });

  it('v4–v10 are the reference hash in URL-safe Base64', () => {
    assert.equal(computeEventId({ ...message, depth: 6 }, v('4')), '$9l9ifSsfxdM07mEL_BG4nbErFOqdGCJTxzaDur0-rrc');
    for (const id of ['4', '5', '6', '7', '8', '9', '10']) {
      assert.equal(computeEventId(message, v(id)), '$g9xydfVsYKEA6ggxLG5yc1hqNIwDCT29HAU2NqRT07A', id);
    }
  });

  it('v11+ hash without origin, so the same PDU gets another id', () => {
    for (const id of ['11', '12']) assert.equal(computeEventId(message, v(id)), '$z_5JtqxdIwnqXsMpS9dnXDN9hK53bqRixz7byrxkb2Y', id);
    const { origin: _o, ...withoutOrigin } = message;
    assert.equal(computeEventId(withoutOrigin, v('11')), '$z_5JtqxdIwnqXsMpS9dnXDN9hK53bqRixz7byrxkb2Y');
  });

  it('does not depend on signatures, unsigned, age_ts, redactable content or an event_id key', () => {
    const expected = computeEventId(message, v('10'));
    const variants: JsonObject[] = [
      { ...message, signatures: {} },
      { ...message, unsigned: { age: 99, redacted_because: {} } },
      { ...message, age_ts: 5 },
      { ...message, content: {} },
      redactEvent(message, v('10')),
      { ...message, event_id: '$whatever' },
    ];
    for (const variant of variants) assert.equal(computeEventId(variant, v('10')), expected);
    assert.notEqual(computeEventId({ ...message, depth: 7 }, v('10')), expected);
  });

  it('maps room versions to id formats', () => {
    assert.deepEqual(['1', '2', '3', '4', '11', '12'].map((id) => eventIdFormat(v(id))), ['v1', 'v1', 'v3', 'v4', 'v4', 'v4']);
  });
});

describe('hashes', () => {
  it('computes the content hash over everything but unsigned, signatures and hashes', () => {
    assert.equal(contentHashBase64(message), 'hGxM9C29YD1X6J/mGulcY1sYREMBzHBW1nfdd68n37c');
    assert.equal(contentHashBase64({ ...message, hashes: {}, signatures: {}, unsigned: {} }), 'hGxM9C29YD1X6J/mGulcY1sYREMBzHBW1nfdd68n37c');
    assert.notEqual(contentHashBase64({ ...message, content: {} }), 'hGxM9C29YD1X6J/mGulcY1sYREMBzHBW1nfdd68n37c');
  });

  it('the reference hash is 32 bytes', () => {
    assert.equal(computeReferenceHash(message, v('4')).length, 32);
  });
});

describe('v12 room ids', () => {
  const create: JsonObject = {
    type: 'm.room.create',
    state_key: '',
    sender: '@alice:example.org',
    content: { room_version: '12', additional_creators: ['@bob:example.org'] },
    depth: 1,
    origin_server_ts: 1700000000000,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: 'x' },
    signatures: { 'example.org': { 'ed25519:1': 'sig' } },
    unsigned: { age: 3 },
  };

  it('is "!" and the URL-safe reference hash of the create event, whose content v12 keeps whole', () => {
    const roomId = computeRoomIdFromCreateEvent(create, v('12'));
    assert.equal(roomId, '!j8b5NcM826eEW2KTad0DafE1S0lgS2Ee9lg6lG3ohFg');
    assert.equal(computeEventId(create, v('12')), '$j8b5NcM826eEW2KTad0DafE1S0lgS2Ee9lg6lG3ohFg');
    assert.equal(roomIdToCreateEventId(roomId), computeEventId(create, v('12')));
    assert.equal(eventIdToRoomId(computeEventId(create, v('12'))), roomId);
  });

  it('changes with any create content, since v11+ keep it all', () => {
    assert.notEqual(computeRoomIdFromCreateEvent({ ...create, content: { room_version: '12' } }, v('12')), '!j8b5NcM826eEW2KTad0DafE1S0lgS2Ee9lg6lG3ohFg');
  });

  it('is refused for room versions that do not derive it', () => {
    assert.throws(() => computeRoomIdFromCreateEvent(create, v('11')), /does not derive/);
  });
});
