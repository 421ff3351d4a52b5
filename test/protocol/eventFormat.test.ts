import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJsonBytes } from '../../src/protocol/canonicalJson.ts';
import { MAX_PDU_BYTES, sizeLimitProblem, validatePdu } from '../../src/protocol/eventFormat.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { ROOM_VERSIONS } from '../../src/protocol/roomVersions.ts';
import { messagePdu, v } from './fixtures.ts';

function reason(pdu: unknown, version: string): string {
  const result = validatePdu(pdu, v(version));
  return result.ok ? 'valid' : result.reason;
}

/** A message event padded so that its canonical JSON is exactly `bytes` long. */
function eventOfSize(bytes: number, version = '10'): JsonObject {
  const pdu = messagePdu(v(version), { content: { msgtype: 'm.text', body: '' } });
  const base = canonicalJsonBytes(pdu).length;
  return { ...pdu, content: { msgtype: 'm.text', body: 'x'.repeat(bytes - base) } };
}

describe('PDU format', () => {
  it('accepts a valid PDU in every room version', () => {
    for (const version of ROOM_VERSIONS.values()) assert.equal(reason(messagePdu(version), version.id), 'valid', version.id);
  });

  it('v1–v2 need an event_id and [id, hashes] pairs', () => {
    const { event_id: _e, ...noId } = messagePdu(v('1'));
    assert.match(reason(noId, '1'), /event_id must be a string/);
    assert.match(reason(messagePdu(v('1'), { event_id: '$nodomain' }), '2'), /event_id/);
    assert.match(reason(messagePdu(v('1'), { prev_events: ['$prev:example.org'] }), '1'), /prev_events\[0\] must be an \[event id, hashes\] pair/);
    assert.match(reason(messagePdu(v('1'), { auth_events: [['$a:example.org', 'nothash']] }), '1'), /hashes must be an object/);
  });

  it('v3+ carry no event_id and list plain ids of their own format', () => {
    assert.match(reason(messagePdu(v('4'), { event_id: '$x' }), '4'), /do not carry an event_id/);
    assert.match(reason(messagePdu(v('4'), { prev_events: [['$x:y', {}]] }), '4'), /prev_events\[0\] must be an event id string/);
    assert.match(reason(messagePdu(v('3'), { prev_events: ['$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg'] }), '3'), /standard Base64/);
    assert.match(reason(messagePdu(v('4'), { auth_events: ['$9l9ifSsfxdM07mEL/BG4nbErFOqdGCJTxzaDur0+rrc'] }), '4'), /URL-safe/);
  });

  it('limits auth_events to 10 and prev_events to 20', () => {
    const id = '$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg';
    assert.equal(reason(messagePdu(v('10'), { auth_events: Array(10).fill(id), prev_events: Array(20).fill(id) }), '10'), 'valid');
    assert.match(reason(messagePdu(v('10'), { auth_events: Array(11).fill(id) }), '10'), /auth_events has 11 entries/);
    assert.match(reason(messagePdu(v('10'), { prev_events: Array(21).fill(id) }), '10'), /prev_events has 21 entries/);
  });

  it('checks the required keys and their types', () => {
    const cases: [JsonObject, RegExp][] = [
      [{ type: 1 }, /type must be a string/],
      [{ sender: 'alice' }, /sender/],
      [{ room_id: 'room' }, /room_id/],
      [{ content: 'x' }, /content must be an object/],
      [{ depth: -1 }, /depth/],
      [{ origin_server_ts: 'now' }, /origin_server_ts/],
      [{ state_key: 5 }, /state_key must be a string/],
      [{ hashes: {} }, /hashes/],
      [{ signatures: { 'example.org': 'x' } }, /signatures\.example\.org/],
      [{ unsigned: [] }, /unsigned/],
      [{ redacts: 5 }, /redacts must be a string/],
    ];
    for (const [override, expected] of cases) assert.match(reason(messagePdu(v('10'), override), '10'), expected, JSON.stringify(override));
    assert.match(reason([], '10'), /JSON object/);
  });

  it('accepts historical sender localparts', () => {
    assert.equal(reason(messagePdu(v('10'), { sender: '@Old Style!:example.org' }), '10'), 'valid');
  });

  it('wants redacts at the top level before v11 and in content from v11', () => {
    const redaction = { type: 'm.room.redaction', content: {} };
    assert.match(reason(messagePdu(v('10'), redaction), '10'), /must have redacts/);
    assert.equal(reason(messagePdu(v('10'), { ...redaction, redacts: '$x' }), '10'), 'valid');
    assert.match(reason(messagePdu(v('11'), { ...redaction, redacts: '$x' }), '11'), /content\.redacts/);
    assert.equal(reason(messagePdu(v('11'), { ...redaction, content: { redacts: '$x' } }), '11'), 'valid');
  });

  it('v12: room ids are hashes, and the create event has none', () => {
    assert.match(reason(messagePdu(v('12'), { room_id: '!room:example.org' }), '12'), /room_id/);
    assert.match(reason(messagePdu(v('11'), { room_id: '!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM' }), '11'), /room_id/);
    const { room_id: _r, ...create } = messagePdu(v('12'), { type: 'm.room.create', state_key: '', content: { room_version: '12' } });
    assert.equal(reason(create, '12'), 'valid');
    const { room_id: _r11, ...create11 } = messagePdu(v('11'), { type: 'm.room.create', state_key: '', content: {} });
    assert.match(reason(create11, '11'), /room_id must be a string/);
  });

  it('from v6, numbers must follow canonical JSON; before, they need not', () => {
    for (const bad of [1.5, 2 ** 53]) {
      const pdu = messagePdu(v('6'), { content: { n: bad } });
      assert.match(reason(pdu, '6'), /not canonical JSON/);
      assert.equal(reason(messagePdu(v('5'), { content: { n: bad } }), '5'), 'valid');
    }
    assert.match(reason(messagePdu(v('5'), { content: { n: NaN } }), '5'), /not canonical JSON/);
  });
});

describe('size limits', () => {
  it('allows 65,536 bytes of canonical JSON and no more', () => {
    const atLimit = eventOfSize(MAX_PDU_BYTES);
    assert.equal(canonicalJsonBytes(atLimit).length, MAX_PDU_BYTES);
    assert.equal(sizeLimitProblem(atLimit), undefined);
    assert.equal(reason(atLimit, '10'), 'valid');
    const over = eventOfSize(MAX_PDU_BYTES + 1);
    assert.match(sizeLimitProblem(over) ?? '', /65537 bytes, more than 65536/);
    assert.match(reason(over, '10'), /more than 65536/);
  });

  it('counts bytes, not characters', () => {
    const pdu = eventOfSize(MAX_PDU_BYTES - 1);
    const content = pdu['content'] as JsonObject;
    // Replace one "x" with "é": one character more in bytes, the same in UTF-16 length.
    const body = (content['body'] as string).slice(1) + 'é';
    assert.equal(sizeLimitProblem({ ...pdu, content: { ...content, body } }), undefined);
    const body2 = (content['body'] as string).slice(1) + 'éé';
    assert.match(sizeLimitProblem({ ...pdu, content: { ...content, body: body2 } }) ?? '', /more than/);
  });

  it('limits sender, room_id, state_key, type and event_id to 255 bytes', () => {
    const base = messagePdu(v('1'));
    assert.equal(sizeLimitProblem({ ...base, state_key: 'a'.repeat(255), type: 't'.repeat(255) }), undefined);
    for (const field of ['sender', 'room_id', 'state_key', 'type', 'event_id']) {
      assert.match(sizeLimitProblem({ ...base, [field]: 'a'.repeat(256) }) ?? '', new RegExp(`${field} is longer than 255 bytes`));
    }
    assert.match(sizeLimitProblem({ ...base, state_key: 'é'.repeat(128) }) ?? '', /state_key/);
    assert.match(reason(messagePdu(v('10'), { state_key: 'a'.repeat(256) }), '10'), /state_key is longer than 255 bytes/);
    assert.match(reason(messagePdu(v('10'), { type: 'a'.repeat(256) }), '10'), /type is longer than 255 bytes/);
  });
});
