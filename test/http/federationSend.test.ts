// PUT /_matrix/federation/v1/send/{txnId} end to end: Troupe on a real TLS port, a remote server played by the test
// with its own key, taking part in a room of ours. Every response is checked against the spec.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import { generateSigningKey } from '../../src/protocol/signing.ts';
import { forEachBackend } from '../helpers/database.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';
import { startFederatedRoom, type FederatedRoom } from '../federation/inboundRemote.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

const SEND = '/_matrix/federation/v1/send/{txnId}';

async function sent(room: FederatedRoom, txnId: string, pdus: JsonObject[]): Promise<Record<string, { error?: string }>> {
  const res = await room.send(txnId, pdus);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await assertMatchesSpec('PUT', SEND, 200, res.body);
  return (res.body as { pdus: Record<string, { error?: string }> }).pdus;
}

/** The room's timeline as alice sees it through /messages, oldest first: [type, sender, body]. */
async function timeline(room: FederatedRoom): Promise<{ event_id: string; type: string; sender: string; content: JsonObject }[]> {
  const res = await room.troupe.request('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/messages?dir=b&limit=100`, {
    token: room.alice.accessToken,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return [...(res.body as { chunk: { event_id: string; type: string; sender: string; content: JsonObject }[] }).chunk].reverse();
}

async function count(room: FederatedRoom, table: string): Promise<number> {
  const { rows } = await room.troupe.running.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]?.n ?? 0;
}

async function joinBob(room: FederatedRoom): Promise<string> {
  const bob = room.user('bob');
  const join = await room.build({ type: 'm.room.member', sender: bob, stateKey: bob, content: { membership: 'join' } });
  assert.deepEqual(await sent(room, 'join-bob', [join.pdu]), { [join.eventId]: {} });
  return join.eventId;
}

forEachBackend('federation /send', (backend) => {
  test('a remote user joins and sends messages; our user sees them; a resent transaction changes nothing', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    const join = await room.build({ type: 'm.room.member', sender: bob, stateKey: bob, content: { membership: 'join', displayname: 'Bob' } });
    // The auth events of the messages: bob's join is not in our state yet when they are built.
    const state = await room.state();
    state.set(`m.room.member\u0000${bob}`, join.eventId);
    const firstMsg = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'hello' }, prevEvents: [join.eventId], depth: 100, authFrom: state });
    const secondMsg = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'again' }, prevEvents: [firstMsg.eventId], depth: 101, authFrom: state });
    const txn = [join.pdu, firstMsg.pdu, secondMsg.pdu];
    const pdus = await sent(room, 'txn1', txn);
    assert.deepEqual(pdus, { [join.eventId]: {}, [firstMsg.eventId]: {}, [secondMsg.eventId]: {} });

    const seen = await timeline(room);
    assert.deepEqual(seen.slice(-3).map((e) => [e.event_id, e.sender, e.content['body'] ?? e.content['membership']]), [
      [join.eventId, bob, 'join'],
      [firstMsg.eventId, bob, 'hello'],
      [secondMsg.eventId, bob, 'again'],
    ]);
    const extremities = (await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId);
    assert.deepEqual(extremities, [secondMsg.eventId]);
    assert.equal((await room.state()).get(`m.room.member\u0000${bob}`), join.eventId);

    const events = await count(room, 'events');
    const again = await room.send('txn1', txn);
    assert.deepEqual(again, { status: 200, body: { pdus } });
    assert.equal(await count(room, 'events'), events, 'nothing stored twice');
    assert.equal(await count(room, 'federation_inbound_transactions'), 1);

    // Our user answers on top of the remote events.
    const reply = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/send/m.room.message/r1`, {
      token: room.alice.accessToken,
      body: { msgtype: 'm.text', body: 'hi bob' },
    });
    assert.equal(reply.status, 200);
    const stored = await room.store.getEvent((reply.body as { event_id: string }).event_id);
    assert.deepEqual(stored?.pdu['prev_events'], [secondMsg.eventId]);
  });
});
