import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCanonicalJson } from '../../src/protocol/canonicalJson.ts';
import { computeEventId, eventIdFromReferenceHash } from '../../src/protocol/eventIds.ts';
import { computeReferenceHash } from '../../src/protocol/hashes.ts';
import { toRoomEvent as toRoomEventFromEvents } from '../../src/protocol/events.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import {
  InvalidPduError,
  applyContentHashCheck,
  checkEventSignatures,
  checkEventSignedBy,
  joinAuthorisingServer,
  requiredSignatureServers,
  signEvent,
  signNewEvent,
  toRoomEvent,
} from '../../src/protocol/pdu.ts';
import { ROOM_VERSIONS, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { generateSigningKey, type ServerVerifyKeys, type SigningKey, type VerifyKey } from '../../src/protocol/signing.ts';
import { V12_ROOM, messagePdu, specKey, v } from './fixtures.ts';

const canonical = (text: string): string => encodeCanonicalJson(JSON.parse(text));

describe('signing events: the appendix test vectors', () => {
  // The vectors predate room version 11: they sign with the original redaction rules, which keep `origin`.
  it('signs the minimal event (hashes, then signatures)', () => {
    const input = JSON.parse(`{
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {
        "age_ts": 1000000
    }
}`) as JsonObject;
    const expected = `{
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {
        "sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        }
    },
    "type": "X",
    "unsigned": {
        "age_ts": 1000000
    }
}`;
    assert.equal(encodeCanonicalJson(signEvent(input, '1', 'domain', specKey)), canonical(expected));
  });

  it('signs the event with redactable content: the signature covers the redacted event, the hash everything', () => {
    const input = JSON.parse(`{
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {
        "age_ts": 1000000
    }
}`) as JsonObject;
    const expected = `{
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "hashes": {
        "sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        }
    },
    "unsigned": {
        "age_ts": 1000000
    }
}`;
    const signed = signEvent(input, '1', 'domain', specKey);
    assert.equal(encodeCanonicalJson(signed), canonical(expected));
    assert.equal(input['hashes'], undefined, 'the input is not modified');
  });
});

/** Signs a message PDU for `version` as example.org, with keys valid until `validUntilTs`. */
function signedMessage(versionId: string, key: SigningKey, overrides: JsonObject = {}): JsonObject {
  return signEvent(messagePdu(v(versionId), overrides), versionId, 'example.org', key);
}

function keyRing(key: SigningKey, validUntilTs?: number): (server: string) => ServerVerifyKeys | undefined {
  const keys = new Map<string, VerifyKey>([[key.keyId, { key: key.publicKey, validUntilTs }]]);
  return (server) => (server === 'example.org' ? keys : undefined);
}

describe('checking event signatures', () => {
  const key = generateSigningKey();

  it('accepts events signed by the sender server in every room version', () => {
    for (const version of ROOM_VERSIONS.keys()) {
      assert.deepEqual(checkEventSignatures(signedMessage(version, key), version, keyRing(key)), { ok: true }, version);
    }
  });

  it('accepts the redacted copy of a signed event', () => {
    const signed = signedMessage('10', key);
    const { pdu } = applyContentHashCheck({ ...signed, content: { body: 'tampered' } }, '10');
    assert.deepEqual(checkEventSignatures(pdu, '10', keyRing(key)), { ok: true });
  });

  it('rejects a change to a field the signature covers', () => {
    const signed = signedMessage('10', key);
    const result = checkEventSignatures({ ...signed, origin_server_ts: 1 }, '10', keyRing(key));
    assert.equal(result.ok, false);
    assert.equal(result.ok ? '' : result.server, 'example.org');
  });

  it('fails when no keys are known for a required server', () => {
    const result = checkEventSignatures(signedMessage('10', key), '10', () => undefined);
    assert.deepEqual(result, { ok: false, server: 'example.org', reason: 'no keys known for example.org' });
  });

  it('enforces key validity at origin_server_ts from room version 5 only', () => {
    const ts = 1_700_000_000_000;
    for (const version of ['5', '6', '10', '11', '12']) {
      assert.equal(checkEventSignatures(signedMessage(version, key), version, keyRing(key, ts - 1)).ok, false, version);
      assert.equal(checkEventSignatures(signedMessage(version, key), version, keyRing(key, ts)).ok, true, version);
    }
    for (const version of ['1', '3', '4']) {
      assert.equal(checkEventSignatures(signedMessage(version, key), version, keyRing(key, ts - 1)).ok, true, version);
    }
  });

  it('requires the sender server, the event id server in v1–v2, and not the sender for third-party invites', () => {
    assert.deepEqual([...requiredSignatureServers(messagePdu(v('1'), { event_id: '$e:origin.org' }), '1')], ['example.org', 'origin.org']);
    assert.deepEqual([...requiredSignatureServers(messagePdu(v('3')), '3')], ['example.org']);
    const invite = messagePdu(v('10'), {
      type: 'm.room.member',
      state_key: '@bob:other.org',
      content: { membership: 'invite', third_party_invite: { signed: {} } },
    });
    assert.deepEqual([...requiredSignatureServers(invite, '10')], []);
  });

  it('names the join authorising server from v8 for restricted joins', () => {
    const join = messagePdu(v('8'), {
      type: 'm.room.member',
      state_key: '@alice:example.org',
      content: { membership: 'join', join_authorised_via_users_server: '@mod:resident.org' },
    });
    assert.equal(joinAuthorisingServer(join, '8'), 'resident.org');
    assert.equal(joinAuthorisingServer(join, '7'), undefined);
    assert.equal(joinAuthorisingServer({ ...join, content: { membership: 'leave' } }, '8'), undefined);
    const resident = generateSigningKey();
    const both = signEvent(signEvent(join, '8', 'example.org', key), '8', 'resident.org', resident);
    const residentKeys = new Map<string, VerifyKey>([[resident.keyId, { key: resident.publicKey }]]);
    assert.deepEqual(checkEventSignedBy(both, '8', 'resident.org', residentKeys), { ok: true, keyId: resident.keyId });
    assert.deepEqual([...requiredSignatureServers(join, '8')], ['example.org', 'resident.org']);
    const residentRing = (server: string): ServerVerifyKeys | undefined =>
      server === 'resident.org' ? residentKeys : keyRing(key)(server);
    assert.deepEqual(checkEventSignatures(both, '8', residentRing), { ok: true });
    const onlyJoiner = signEvent(join, '8', 'example.org', key);
    assert.equal(checkEventSignatures(onlyJoiner, '8', residentRing).ok, false);
  });
});

describe('content hash check', () => {
  const key = generateSigningKey();

  it('keeps an event whose hash matches', () => {
    const signed = signedMessage('11', key);
    assert.deepEqual(applyContentHashCheck(signed, '11'), { pdu: signed, redacted: false });
  });

  it('redacts an event whose hash does not match, or that has none', () => {
    const signed = signedMessage('11', key);
    const tampered = applyContentHashCheck({ ...signed, content: { body: 'changed' } }, '11');
    assert.equal(tampered.redacted, true);
    assert.deepEqual(tampered.pdu['content'], {});
    assert.equal(applyContentHashCheck({ ...signed, hashes: { sha256: 'not base64!' } }, '11').redacted, true);
    assert.equal(applyContentHashCheck({ ...signed, hashes: {} }, '11').redacted, true);
  });

  it('the event id stays the same after a failed hash check redacts the event', () => {
    const signed = signedMessage('11', key);
    const { pdu } = applyContentHashCheck({ ...signed, content: { body: 'changed' } }, '11');
    assert.equal(computeEventId(pdu, v('11')), computeEventId(signed, v('11')));
  });
});

describe('toRoomEvent', () => {
  const key = generateSigningKey();

  it('flattens v1–v2 reference pairs and takes the PDU event_id', () => {
    const pdu = signedMessage('1', key);
    const event = toRoomEvent(pdu, '1');
    assert.equal(event.event_id, '$msg:example.org');
    assert.deepEqual(event.prev_events, ['$prev:example.org']);
    assert.deepEqual(event.auth_events, ['$prev:example.org']);
    assert.equal(event.pdu, pdu);
  });

  it('computes v3+ event ids and keeps the fields auth rules need', () => {
    const pdu = signedMessage('10', key, { type: 'm.room.topic', state_key: '', content: { topic: 't' } });
    const event = toRoomEvent(pdu, v('10'));
    assert.deepEqual(
      { ...event, pdu: undefined },
      {
        event_id: computeEventId(pdu, v('10')),
        room_id: '!room:example.org',
        sender: '@alice:example.org',
        type: 'm.room.topic',
        state_key: '',
        content: { topic: 't' },
        auth_events: ['$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg'],
        prev_events: ['$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg'],
        depth: 5,
        origin_server_ts: 1_700_000_000_000,
        pdu: undefined,
      },
    );
  });

  it('takes redacts from the top level before v11 and from content from v11', () => {
    assert.equal(toRoomEvent(signedMessage('10', key, { type: 'm.room.redaction', redacts: '$a', content: {} }), '10').redacts, '$a');
    assert.equal(toRoomEvent(signedMessage('11', key, { type: 'm.room.redaction', content: { redacts: '$b' } }), '11').redacts, '$b');
    assert.equal(toRoomEvent(signedMessage('10', key), '10').redacts, undefined);
  });

  it('gives a v12 create event the room id derived from it', () => {
    const { room_id: _r, ...create } = messagePdu(v('12'), { type: 'm.room.create', state_key: '', content: { room_version: '12' } });
    const event = toRoomEvent(signEvent(create, '12', 'example.org', key), '12');
    assert.equal(event.room_id, '!' + event.event_id.slice(1));
    assert.equal(toRoomEvent(signedMessage('12', key), '12').room_id, V12_ROOM);
  });

  it('throws InvalidPduError for a malformed PDU, unless told not to validate', () => {
    const bad = signedMessage('10', key, { event_id: '$x' });
    assert.throws(() => toRoomEvent(bad, '10'), InvalidPduError);
    assert.equal(toRoomEvent(bad, '10', { validate: false }).event_id, computeEventId(bad, v('10')));
  });

  it('uses a known event id instead of hashing, and is re-exported from events.ts', () => {
    assert.equal(toRoomEvent(signedMessage('10', key), '10', { eventId: '$known' }).event_id, '$known');
    assert.equal(toRoomEventFromEvents, toRoomEvent);
    assert.throws(() => toRoomEvent(signedMessage('10', key), '99'), /unknown room version/);
  });
});

/** A message PDU as the writer builds it: not hashed or signed yet. */
function freshPdu(version: RoomVersion, overrides: JsonObject = {}): JsonObject {
  const { hashes: _h, signatures: _s, ...fresh } = messagePdu(version, overrides);
  return fresh;
}

describe('signNewEvent', () => {
  it('signs exactly as signEvent and returns the reference hash computeReferenceHash gives, in every room version', () => {
    const key = generateSigningKey('n1');
    for (const version of ROOM_VERSIONS.values()) {
      for (const pdu of [freshPdu(version), freshPdu(version, { type: 'm.room.topic', state_key: '', content: { topic: 't', extra: [1, { a: 'b' }] } })]) {
        const { signed, referenceHash } = signNewEvent(pdu, version, 'example.org', key);
        assert.deepEqual(signed, signEvent(pdu, version, 'example.org', key), `v${version.id}`);
        assert.deepEqual(referenceHash, computeReferenceHash(signed, version), `v${version.id}`);
        if (version.eventFormat !== 1) assert.equal(eventIdFromReferenceHash(referenceHash, version), computeEventId(signed, version));
      }
    }
  });

  it('refuses an event that already carries signatures, unsigned or (from v3) an event id', () => {
    const key = generateSigningKey('n1');
    const version = v('10');
    assert.throws(() => signNewEvent({ ...freshPdu(version), signatures: {} }, version, 'example.org', key), /not signed yet/);
    assert.throws(() => signNewEvent({ ...freshPdu(version), unsigned: { age: 1 } }, version, 'example.org', key), /not signed yet/);
    assert.throws(() => signNewEvent({ ...freshPdu(version), event_id: '$x' }, version, 'example.org', key), /not signed yet/);
  });
});
