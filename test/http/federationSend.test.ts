// PUT /_matrix/federation/v1/send/{txnId} end to end: Troupe on a real TLS port, a remote server played by the test
// with its own key, taking part in a room of ours. Every response is checked against the spec.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../src/protocol/json.ts';
import { computeEventId } from '../../src/protocol/eventIds.ts';
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

/** bob of the remote server joins through make_join and send_join, as servers do. */
async function joinBob(room: FederatedRoom): Promise<string> {
  const bob = room.user('bob');
  const { eventId } = await room.joinThroughSendJoin(bob);
  assert.equal((await room.state()).get(`m.room.member\u0000${bob}`), eventId);
  return eventId;
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
    // A copy sent while the first is still being processed gets the same answer too.
    const fresh = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'once' } });
    const copies = await Promise.all([room.send('txn2', [fresh.pdu]), room.send('txn2', [fresh.pdu])]);
    assert.deepEqual(copies, [0, 1].map(() => ({ status: 200, body: { pdus: { [fresh.eventId]: {} } } })));
    assert.equal(await count(room, 'events'), events + 1);
    assert.equal(await count(room, 'federation_inbound_transactions'), 2);
    const again = await room.send('txn1', txn);
    assert.deepEqual(again, { status: 200, body: { pdus } });
    assert.equal(await count(room, 'events'), events + 1, 'nothing stored twice');
    assert.equal(await count(room, 'federation_inbound_transactions'), 2);

    // Our user answers on top of the remote events.
    const reply = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/send/m.room.message/r1`, {
      token: room.alice.accessToken,
      body: { msgtype: 'm.text', body: 'hi bob' },
    });
    assert.equal(reply.status, 200);
    const stored = await room.store.getEvent((reply.body as { event_id: string }).event_id);
    assert.deepEqual(stored?.pdu['prev_events'], [fresh.eventId]);
  });

  test('a forged signature is dropped, an event the auth rules refuse is rejected, a bad content hash is redacted', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const before = await count(room, 'events');
    const forged = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'forged' }, key: generateSigningKey('remote1') });
    // mallory never joined: her message fails the auth rules against its own auth events.
    const mallory = room.user('mallory');
    const intruder = await room.build({ type: 'm.room.message', sender: mallory, content: { msgtype: 'm.text', body: 'let me in' } });
    // bob's message altered after signing: the content hash no longer matches, the signature (over the redacted
    // event) still does, so it is kept in its redacted form.
    const tampered = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'original' } });
    tampered.pdu['content'] = { msgtype: 'm.text', body: 'altered' };

    const pdus = await sent(room, 'checks', [forged.pdu, intruder.pdu, tampered.pdu]);
    assert.match(pdus[forged.eventId]?.error ?? '', /signature/);
    assert.match(pdus[intruder.eventId]?.error ?? '', /Rejected/);
    assert.deepEqual(pdus[tampered.eventId], {});

    assert.equal(await count(room, 'events'), before + 1, 'only the redacted event joins the timeline');
    assert.equal(await room.store.getEvent(forged.eventId), null);
    assert.equal(await room.store.getEvent(intruder.eventId), null);
    const { rows } = await room.troupe.running.db.query<{ event_id: string; kind: string }>('SELECT event_id, kind FROM event_outliers');
    assert.deepEqual(rows, [{ event_id: intruder.eventId, kind: 'rejected' }], 'the rejected event is kept outside the timeline');
    const redacted = await room.store.getEvent(tampered.eventId);
    assert.deepEqual(redacted?.pdu['content'], {});
    const seen = await timeline(room);
    assert.deepEqual(seen.at(-1)?.event_id, tampered.eventId);
    assert.deepEqual(seen.at(-1)?.content, {});
    assert.ok(!seen.some((e) => e.event_id === intruder.eventId || e.event_id === forged.eventId));

    // Resending the rejected event, in a new transaction, gives the same answer.
    const resent = await sent(room, 'checks-again', [intruder.pdu]);
    assert.match(resent[intruder.eventId]?.error ?? '', /Rejected/);
  });

  test('missing prev_events are fetched from the origin with get_missing_events and stored first', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const [ourExtremity] = (await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId);
    const gap1 = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'one' } });
    const gap2 = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'two' }, prevEvents: [gap1.eventId], depth: (gap1.pdu['depth'] as number) + 1 });
    const latest = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'three' }, prevEvents: [gap2.eventId], depth: (gap1.pdu['depth'] as number) + 2 });
    const asked: unknown[] = [];
    room.remote.handlers.push((req, body) => {
      if (req.method !== 'POST' || !req.url?.startsWith('/_matrix/federation/v1/get_missing_events/')) return undefined;
      asked.push({ url: req.url, body: JSON.parse(body) as unknown, signed: /^X-Matrix /.test(req.headers.authorization ?? '') });
      // Newest first, as servers answer; Troupe must store them oldest first.
      return { status: 200, body: { events: [gap2.pdu, gap1.pdu] } };
    });
    const pdus = await sent(room, 'gap', [latest.pdu]);
    assert.deepEqual(pdus, { [latest.eventId]: {} });
    assert.deepEqual(asked, [
      {
        url: `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(room.roomId)}`,
        body: { earliest_events: [ourExtremity], latest_events: [latest.eventId], limit: 10, min_depth: 0 },
        signed: true,
      },
    ]);
    const seen = await timeline(room);
    assert.deepEqual(seen.slice(-3).map((e) => e.content['body']), ['one', 'two', 'three']);
    assert.deepEqual((await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId), [latest.eventId]);
  });

  test('an event from a user banned meanwhile is soft-failed: stored, not in the timeline, not an extremity', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    const joinId = await joinBob(room);
    const stateBeforeBan = await room.state();
    const ban = await room.troupe.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/ban`, {
      token: room.alice.accessToken,
      body: { user_id: bob, reason: 'spam' },
    });
    assert.equal(ban.status, 200, JSON.stringify(ban.body));
    const extremities = (await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId);
    // bob's server had not seen the ban: its event builds on bob's join.
    const late = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'too late' }, prevEvents: [joinId], authFrom: stateBeforeBan });
    const pdus = await sent(room, 'late', [late.pdu]);
    assert.deepEqual(pdus, { [late.eventId]: {} }, 'a soft-failed event is not an error for the sender');
    assert.equal(await room.store.getEvent(late.eventId), null);
    const { rows } = await room.troupe.running.db.query<{ kind: string }>('SELECT kind FROM event_outliers WHERE event_id = $1', [late.eventId]);
    assert.deepEqual(rows, [{ kind: 'soft_failed' }]);
    assert.deepEqual((await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId), extremities);
    assert.ok(!(await timeline(room)).some((e) => e.event_id === late.eventId));

    // Served by id over federation all the same (as Synapse does): it is part of the DAG.
    const served = await room.get(`/_matrix/federation/v1/event/${encodeURIComponent(late.eventId)}`);
    assert.equal(served.status, 200, JSON.stringify(served.body));
    await assertMatchesSpec('GET', '/_matrix/federation/v1/event/{eventId}', 200, served.body);
    assert.deepEqual((served.body as { pdus: JsonObject[] }).pdus, [late.pdu]);
  });

  test('an event on an older branch is accepted; the state is resolved and our next event joins both branches', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    const joinId = await joinBob(room);
    const topic = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/state/m.room.topic`, {
      token: room.alice.accessToken,
      body: { topic: 'ours' },
    });
    assert.equal(topic.status, 200);
    const topicId = (topic.body as { event_id: string }).event_id;
    const concurrent = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'meanwhile' }, prevEvents: [joinId] });
    assert.deepEqual(await sent(room, 'branch', [concurrent.pdu]), { [concurrent.eventId]: {} });
    const extremities = (await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId).sort();
    assert.deepEqual(extremities, [topicId, concurrent.eventId].sort());
    assert.equal((await room.state()).get('m.room.topic\u0000'), topicId, 'the topic set on the other branch stays');

    const next = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/send/m.room.message/n1`, {
      token: room.alice.accessToken,
      body: { msgtype: 'm.text', body: 'both' },
    });
    assert.equal(next.status, 200);
    const stored = await room.store.getEvent((next.body as { event_id: string }).event_id);
    assert.deepEqual([...(stored?.pdu['prev_events'] as string[])].sort(), extremities);
  });

  test('a retired key of the origin verifies its events sent before expired_ts, never those sent after (room version 10)', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const retired = generateSigningKey('retired');
    const expiredTs = Date.now() - 60 * 60 * 1000;
    // Published before Troupe first fetches the remote's keys (at the join below).
    room.remote.oldKeys = [{ keyId: retired.keyId, key: retired.publicKeyBase64, expiredTs }];
    const bob = room.user('bob');
    await joinBob(room);
    const before = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'old key, in time' }, key: retired, originServerTs: expiredTs - 1 });
    const pdus = await sent(room, 'old-key-in-time', [before.pdu]);
    assert.deepEqual(pdus, { [before.eventId]: {} });
    const after = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'old key, too late' }, key: retired, originServerTs: expiredTs + 1 });
    const late = await sent(room, 'old-key-late', [after.pdu]);
    // The keyring does not even hand the retired key out for an event sent after its expired_ts.
    assert.match(late[after.eventId]?.error ?? '', /^Dropped: bad signature.*no known key.*ed25519:retired/);
    assert.equal(await room.store.getEvent(after.eventId), null);
    assert.equal((await room.store.getEvent(before.eventId))?.eventId, before.eventId);
  });

  test('a PDU for a room this server is not in gets an error of its own; the rest of the transaction is processed', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    const join = await room.build({ type: 'm.room.member', sender: bob, stateKey: bob, content: { membership: 'join' } });
    const elsewhere = { ...join.pdu, room_id: '!unknown:elsewhere.example' };
    const res = await room.send('two-rooms', [elsewhere, join.pdu]);
    assert.equal(res.status, 200);
    await assertMatchesSpec('PUT', SEND, 200, res.body);
    const pdus = (res.body as { pdus: Record<string, { error?: string }> }).pdus;
    assert.deepEqual(pdus[join.eventId], {});
    const errors = Object.values(pdus).filter((r) => r.error !== undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.error ?? '', /not in room/);
  });

  test('missing or wrong X-Matrix, a wrong destination, an unknown key and malformed bodies are refused and change nothing', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    const join = await room.build({ type: 'm.room.member', sender: bob, stateKey: bob, content: { membership: 'join' } });
    const uri = '/_matrix/federation/v1/send/bad';
    const body = { origin: room.remote.serverName, origin_server_ts: Date.now(), pdus: [join.pdu] };
    const events = await count(room, 'events');
    const unauthorized: [string, string][] = [
      ['missing', ''],
      ['forged', room.remote.sign('PUT', uri, room.troupe.serverName, body, generateSigningKey('remote1'))],
      ['wrong destination', room.remote.sign('PUT', uri, 'elsewhere.example', body)],
      ['unknown key', room.remote.sign('PUT', uri, room.troupe.serverName, body, generateSigningKey('nokey'))],
      ['other body', room.remote.sign('PUT', uri, room.troupe.serverName, { ...body, pdus: [] })],
    ];
    for (const [name, authorization] of unauthorized) {
      const res = await room.send('bad', [], { body, authorization });
      assert.equal(res.status, 401, name);
      assert.equal((res.body as JsonObject)['errcode'], 'M_UNAUTHORIZED', name);
    }
    const origin = room.remote.serverName;
    const badBodies: [string, unknown, number, string][] = [
      ['not an object', [1, 2], 400, 'M_BAD_JSON'],
      ['no pdus', { origin, origin_server_ts: 1 }, 400, 'M_BAD_JSON'],
      ['pdus not a list', { origin, origin_server_ts: 1, pdus: {} }, 400, 'M_BAD_JSON'],
      ['a PDU not an object', { origin, origin_server_ts: 1, pdus: ['x'] }, 400, 'M_BAD_JSON'],
      ['no origin_server_ts', { origin, pdus: [] }, 400, 'M_BAD_JSON'],
      ['origin_server_ts a string', { origin, origin_server_ts: '1', pdus: [] }, 400, 'M_BAD_JSON'],
      ['51 PDUs', { origin, origin_server_ts: 1, pdus: Array.from({ length: 51 }, () => join.pdu) }, 400, 'M_BAD_JSON'],
      ['101 EDUs', { origin, origin_server_ts: 1, pdus: [], edus: Array.from({ length: 101 }, () => ({ edu_type: 'm.typing', content: {} })) }, 400, 'M_BAD_JSON'],
      ['an EDU without content', { origin, origin_server_ts: 1, pdus: [], edus: [{ edu_type: 'm.typing' }] }, 400, 'M_BAD_JSON'],
      ['another origin', { origin: 'elsewhere.example', origin_server_ts: 1, pdus: [join.pdu] }, 403, 'M_FORBIDDEN'],
    ];
    for (const [name, bad, status, errcode] of badBodies) {
      const res = await room.send(`bad-${name}`, [], { body: bad });
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as JsonObject)['errcode'], errcode, name);
    }
    const notJson = await room.send('bad-text', [], { body: '{"origin": ', authorization: room.remote.sign('PUT', '/_matrix/federation/v1/send/bad-text', room.troupe.serverName) });
    assert.equal(notJson.status, 400);
    assert.equal(await count(room, 'events'), events, 'nothing stored');
    assert.equal(await count(room, 'federation_inbound_transactions'), 0);
    assert.equal(await count(room, 'event_outliers'), 0);
  });

  test('EDUs: typing, receipts, presence, device list updates and to-device messages reach our user', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const message = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'read me' } });
    await sent(room, 'msg', [message.pdu]);
    const intruder = '@eve:elsewhere.example';
    const edus: JsonObject[] = [
      { edu_type: 'm.typing', content: { room_id: room.roomId, user_id: bob, typing: true } },
      { edu_type: 'm.receipt', content: { [room.roomId]: { 'm.read': { [bob]: { event_ids: [message.eventId], data: { ts: 1 } } } } } },
      { edu_type: 'm.presence', content: { push: [{ user_id: bob, presence: 'online', status_msg: 'here', last_active_ago: 10, currently_active: true }] } },
      { edu_type: 'm.device_list_update', content: { user_id: bob, device_id: 'BOBDEV', stream_id: 1, prev_id: [], deleted: false } },
      {
        edu_type: 'm.direct_to_device',
        content: { sender: bob, type: 'm.test', message_id: 'm1', messages: { [room.alice.userId]: { [room.alice.deviceId]: { secret: 1 } } } },
      },
      // About users of another server: ignored.
      { edu_type: 'm.presence', content: { push: [{ user_id: intruder, presence: 'online', last_active_ago: 1 }] } },
      { edu_type: 'm.device_list_update', content: { user_id: intruder, device_id: 'X', stream_id: 1, prev_id: [] } },
      { edu_type: 'm.unknown.type', content: {} },
    ];
    const res = await room.send('edus', [], { edus });
    assert.deepEqual(res, { status: 200, body: { pdus: {} } });

    const db = room.troupe.running.db;
    const receipts = await db.query('SELECT user_id, event_id, receipt_type FROM receipts');
    assert.deepEqual(receipts.rows, [{ user_id: bob, event_id: message.eventId, receipt_type: 'm.read' }]);
    const presence = await room.troupe.request('GET', `/_matrix/client/v3/presence/${encodeURIComponent(bob)}/status`, { token: room.alice.accessToken });
    assert.equal(presence.status, 200);
    assert.equal((presence.body as JsonObject)['presence'], 'online');
    assert.equal((presence.body as JsonObject)['status_msg'], 'here');
    assert.deepEqual((await db.query('SELECT user_id FROM presence')).rows, [{ user_id: bob }]);
    assert.deepEqual((await db.query('SELECT user_id FROM device_list_changes WHERE user_id <> $1', [room.alice.userId])).rows, [{ user_id: bob }]);
    const toDevice = await db.query('SELECT user_id, device_id, sender, type FROM to_device_messages');
    assert.deepEqual(toDevice.rows, [{ user_id: room.alice.userId, device_id: room.alice.deviceId, sender: bob, type: 'm.test' }]);

    const sync = await room.troupe.request('GET', '/_matrix/client/v3/sync', { token: room.alice.accessToken });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    const body = sync.body as { rooms: { join: Record<string, { ephemeral: { events: JsonObject[] } }> }; to_device?: { events: JsonObject[] } };
    const ephemeral = body.rooms.join[room.roomId]?.ephemeral.events ?? [];
    assert.deepEqual(ephemeral.find((e) => e['type'] === 'm.typing')?.['content'], { user_ids: [bob] });
    assert.ok(ephemeral.some((e) => e['type'] === 'm.receipt'));
    assert.deepEqual(body.to_device?.events.map((e) => [e['sender'], e['type']]), [[bob, 'm.test']]);

    // The same EDU resent in another transaction: the to-device message is not delivered twice.
    await room.send('edus-again', [], { edus: edus.filter((e) => e['edu_type'] === 'm.direct_to_device') });
    assert.equal((await db.query('SELECT 1 FROM to_device_messages')).rows.length, 1);
  });

  test('a /sync waiting for news wakes when a remote message arrives, and carries it', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const initial = await room.troupe.request('GET', '/_matrix/client/v3/sync', { token: room.alice.accessToken });
    assert.equal(initial.status, 200);
    const since = (initial.body as { next_batch: string }).next_batch;
    const started = Date.now();
    const waiting = room.troupe.request('GET', `/_matrix/client/v3/sync?since=${encodeURIComponent(since)}&timeout=20000`, { token: room.alice.accessToken });
    const message = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'wake up' } });
    await sent(room, 'wake', [message.pdu]);
    const woken = await waiting;
    assert.equal(woken.status, 200);
    assert.ok(Date.now() - started < 15_000, 'woken before the timeout');
    const timelineEvents = (woken.body as { rooms: { join: Record<string, { timeline: { events: JsonObject[] } }> } }).rooms.join[room.roomId]?.timeline.events ?? [];
    assert.deepEqual(timelineEvents.map((e) => [e['event_id'], e['sender'], (e['content'] as JsonObject)['body']]), [[message.eventId, bob, 'wake up']]);
  });

  for (const roomVersion of ['1', '3', '12']) {
    test(`room version ${roomVersion}: a remote join, a member change and a message are accepted; a topic without power is rejected, a forged event dropped`, async (t) => {
      const room = await startFederatedRoom(t, backend, certificate, { roomVersion });
      assert.equal(room.version.id, roomVersion);
      const bob = room.user('bob');
      await joinBob(room);
      // The public_chat preset leaves state_default at 50: bob may not set the topic, but may change his own member.
      const topic = await room.build({ type: 'm.room.topic', sender: bob, stateKey: '', content: { topic: 'mine' } });
      const rename = await room.build({ type: 'm.room.member', sender: bob, stateKey: bob, content: { membership: 'join', displayname: 'Robert' } });
      const pdus = await sent(room, `v${roomVersion}`, [topic.pdu, rename.pdu]);
      assert.match(pdus[topic.eventId]?.error ?? '', /Rejected/);
      assert.deepEqual(pdus[rename.eventId], {});
      const message = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: `in v${roomVersion}` } });
      const forged = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'forged' }, key: generateSigningKey('remote1') });
      const more = await sent(room, `v${roomVersion}-msg`, [message.pdu, forged.pdu]);
      assert.deepEqual(more[message.eventId], {});
      assert.match(more[forged.eventId]?.error ?? '', /signature/);
      assert.equal((await room.state()).get(`m.room.member\u0000${bob}`), rename.eventId);
      const seen = await timeline(room);
      assert.deepEqual(seen.at(-1)?.content['body'], `in v${roomVersion}`);
      assert.ok(!seen.some((e) => e.event_id === topic.eventId || e.event_id === forged.eventId));
    });
  }

  test('local sends and remote transactions into one room at the same time: the DAG and the state stay whole', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const before = await count(room, 'events');
    // Every remote event builds on what the remote saw before any of this: they land on branches of their own.
    const remote = await Promise.all(
      Array.from({ length: 5 }, (_, i) => room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: `remote ${i}` } })),
    );
    const path = (i: number) => `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/send/m.room.message/local${i}`;
    const [sends, transactions] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, (_, i) => room.troupe.request('PUT', path(i), { token: room.alice.accessToken, body: { msgtype: 'm.text', body: `local ${i}` } }))),
      Promise.all(remote.map((r, i) => room.send(`concurrent-${i}`, [r.pdu]))),
    ]);
    for (const res of sends) assert.equal(res.status, 200, JSON.stringify(res.body));
    remote.forEach((r, i) => assert.deepEqual(transactions[i], { status: 200, body: { pdus: { [r.eventId]: {} } } }));
    assert.equal(await count(room, 'events'), before + 25);

    const { rows: dangling } = await room.troupe.running.db.query(
      'SELECT x.event_id, x.prev_event_id FROM event_edges x LEFT JOIN events e ON e.event_id = x.prev_event_id WHERE e.event_id IS NULL',
    );
    assert.deepEqual(dangling, [], 'every prev event is stored');
    const extremities = (await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId).sort();
    const last = await room.troupe.request('PUT', path(99), { token: room.alice.accessToken, body: { msgtype: 'm.text', body: 'after' } });
    const lastEvent = await room.store.getEvent((last.body as { event_id: string }).event_id);
    assert.deepEqual([...(lastEvent?.pdu['prev_events'] as string[])].sort(), extremities, 'our next event joins every branch');
    assert.deepEqual((await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId), [lastEvent?.eventId]);
    // "State at stream position" still holds at the newest position.
    const current = (await room.store.currentState(room.roomId)).map((e) => e.eventId).sort();
    const atNewest = (await room.store.stateAt(room.roomId, await room.store.maxStreamOrdering())).map((e) => e.eventId).sort();
    assert.deepEqual(atNewest, current);
  });

  test('remote membership of our users, redactions by power, and events citing a rejected auth event', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const carol = await room.troupe.createUser('carol');

    // Anyone may invite (bob keeps power level 0); bob invites our carol: her membership row and /sync follow.
    const levels = await room.troupe.request('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/state/m.room.power_levels/`, { token: room.alice.accessToken });
    const lowered = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/state/m.room.power_levels/`, {
      token: room.alice.accessToken,
      body: { ...(levels.body as JsonObject), invite: 0 },
    });
    assert.equal(lowered.status, 200, JSON.stringify(lowered.body));
    const invite = await room.build({ type: 'm.room.member', sender: bob, stateKey: carol.userId, content: { membership: 'invite' } });
    assert.deepEqual(await sent(room, 'invite', [invite.pdu]), { [invite.eventId]: {} });
    const membership = await room.store.localMembership(carol.userId, room.roomId);
    assert.equal(membership?.membership, 'invite');
    const sync = await room.troupe.request('GET', '/_matrix/client/v3/sync', { token: carol.accessToken });
    assert.equal(sync.status, 200);
    assert.ok((sync.body as { rooms: { invite: Record<string, unknown> } }).rooms.invite[room.roomId], 'the invite is in carol\'s /sync');

    // Redactions: bob may redact his own message, not alice's (he lacks the redact level).
    const own = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'oops' } });
    await sent(room, 'own', [own.pdu]);
    const alices = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/send/m.room.message/a1`, {
      token: room.alice.accessToken,
      body: { msgtype: 'm.text', body: 'mine' },
    });
    const aliceEventId = (alices.body as { event_id: string }).event_id;
    const redactOwn = await room.build({ type: 'm.room.redaction', sender: bob, content: {}, redacts: own.eventId });
    const redactAlice = await room.build({ type: 'm.room.redaction', sender: bob, content: {}, redacts: aliceEventId });
    const redactions = await sent(room, 'redactions', [redactOwn.pdu, redactAlice.pdu]);
    assert.deepEqual(redactions, { [redactOwn.eventId]: {}, [redactAlice.eventId]: {} });
    assert.equal((await room.store.getEvent(own.eventId))?.redactedBy, redactOwn.eventId);
    assert.equal((await room.store.getEvent(aliceEventId))?.redactedBy, null);

    // bob gives himself power (rejected: he has none), then sets the topic citing that rejected event.
    const state = await room.state();
    const powerLevels = await room.store.getEvent(state.get('m.room.power_levels\u0000') ?? '');
    const content = { ...(powerLevels?.pdu['content'] as JsonObject), users: { [room.alice.userId]: 100, [bob]: 100 } };
    const grab = await room.build({ type: 'm.room.power_levels', sender: bob, stateKey: '', content });
    const afterGrab = new Map(state);
    afterGrab.set('m.room.power_levels\u0000', grab.eventId);
    const topic = await room.build({ type: 'm.room.topic', sender: bob, stateKey: '', content: { topic: 'taken' }, prevEvents: [grab.eventId], authFrom: afterGrab });
    const grabbed = await sent(room, 'grab', [grab.pdu, topic.pdu]);
    assert.match(grabbed[grab.eventId]?.error ?? '', /Rejected/);
    assert.match(grabbed[topic.eventId]?.error ?? '', /was rejected/);
    assert.equal((await room.state()).get('m.room.power_levels\u0000'), state.get('m.room.power_levels\u0000'));
    assert.equal((await room.state()).get('m.room.topic\u0000'), state.get('m.room.topic\u0000'));
  });

  test('a room whose server ACL denies the origin takes none of its PDUs, typing or receipts', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const message = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'before the ACL' } });
    await sent(room, 'before-acl', [message.pdu]);
    // The remote is 127.0.0.1:<port>: an IP literal.
    const acl = await room.troupe.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/state/m.room.server_acl/`, {
      token: room.alice.accessToken,
      body: { allow: ['*'], allow_ip_literals: false },
    });
    assert.equal(acl.status, 200, JSON.stringify(acl.body));
    const events = await count(room, 'events');
    const denied = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'after the ACL' } });
    const res = await room.send('after-acl', [denied.pdu], {
      edus: [
        { edu_type: 'm.typing', content: { room_id: room.roomId, user_id: bob, typing: true } },
        { edu_type: 'm.receipt', content: { [room.roomId]: { 'm.read': { [bob]: { event_ids: [message.eventId], data: { ts: 1 } } } } } },
      ],
    });
    assert.equal(res.status, 200);
    await assertMatchesSpec('PUT', SEND, 200, res.body);
    assert.match((res.body as { pdus: Record<string, { error?: string }> }).pdus[denied.eventId]?.error ?? '', /server ACL/);
    assert.equal(await count(room, 'events'), events);
    assert.equal(await count(room, 'receipts'), 0);
    const sync = await room.troupe.request('GET', '/_matrix/client/v3/sync', { token: room.alice.accessToken });
    const ephemeral = (sync.body as { rooms: { join: Record<string, { ephemeral: { events: JsonObject[] } }> } }).rooms.join[room.roomId]?.ephemeral.events ?? [];
    assert.ok(!ephemeral.some((e) => e['type'] === 'm.typing' && ((e['content'] as JsonObject)['user_ids'] as string[]).length > 0), 'bob is not typing');
  });

  test('a gap the origin cannot fill: accepted against the state we have; unknown auth events: refused, not stored', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const extremities = (await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId);
    // The remote answers get_missing_events with an error (the default handler: 404).
    const unknownPrev = `$${'A'.repeat(43)}`;
    const orphan = await room.build({ type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'after a gap' }, prevEvents: [unknownPrev], depth: 50 });
    assert.deepEqual(await sent(room, 'gap', [orphan.pdu]), { [orphan.eventId]: {} });
    assert.ok(room.remote.received.some((r) => r.method === 'POST' && r.url.startsWith('/_matrix/federation/v1/get_missing_events/')));
    assert.deepEqual((await room.store.forwardExtremities(room.roomId)).map((e) => e.eventId).sort(), [...extremities, orphan.eventId].sort());

    const state = await room.state();
    const unknownAuth = await room.build({
      type: 'm.room.message',
      sender: bob,
      content: { msgtype: 'm.text', body: 'cites what we never saw' },
      authEvents: [state.get('m.room.create\u0000') as string, state.get('m.room.power_levels\u0000') as string, unknownPrev],
    });
    const refused = await sent(room, 'unknown-auth', [unknownAuth.pdu]);
    assert.match(refused[unknownAuth.eventId]?.error ?? '', /unknown/);
    assert.equal(await count(room, 'event_outliers'), 0, 'not stored: the same event may pass once we know its auth events');
    assert.equal(await room.store.getEvent(unknownAuth.eventId), null);
  });

  test('unknown auth events are fetched from the origin with event_auth and kept as outliers; one arriving later enters the timeline', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const state = await room.state();
    const create = state.get('m.room.create\u0000') as string;
    const powerLevels = state.get('m.room.power_levels\u0000') as string;
    // bob changed his name in an event we never received; his next message builds on it and cites it.
    const rename = await room.build({ type: 'm.room.member', sender: bob, stateKey: bob, content: { membership: 'join', displayname: 'Bobby' } });
    const message = await room.build({
      type: 'm.room.message',
      sender: bob,
      content: { msgtype: 'm.text', body: 'as Bobby' },
      prevEvents: [rename.eventId],
      depth: (rename.pdu['depth'] as number) + 1,
      authEvents: [create, powerLevels, rename.eventId],
    });
    const createPdu = (await room.store.getEvent(create))?.pdu as JsonObject;
    const asked: { url: string; signed: boolean }[] = [];
    room.remote.handlers.push((req) => {
      if (req.method !== 'GET' || !req.url?.startsWith('/_matrix/federation/v1/event_auth/')) return undefined;
      asked.push({ url: req.url, signed: /^X-Matrix /.test(req.headers.authorization ?? '') });
      // The whole chain, as servers answer: what we know already is left alone.
      return { status: 200, body: { auth_chain: [rename.pdu, createPdu] } };
    });

    const pdus = await sent(room, 'missing-auth', [message.pdu]);
    assert.deepEqual(pdus, { [message.eventId]: {} });
    assert.deepEqual(asked, [{ url: `/_matrix/federation/v1/event_auth/${encodeURIComponent(room.roomId)}/${encodeURIComponent(message.eventId)}`, signed: true }]);
    const outliers = async () =>
      (await room.troupe.running.db.query<{ event_id: string; kind: string }>('SELECT event_id, kind FROM event_outliers ORDER BY event_id')).rows;
    assert.deepEqual(await outliers(), [{ event_id: rename.eventId, kind: 'outlier' }]);
    const served = await room.get(`/_matrix/federation/v1/event/${encodeURIComponent(rename.eventId)}`);
    assert.equal(served.status, 200, JSON.stringify(served.body));
    assert.deepEqual((served.body as { pdus: JsonObject[] }).pdus, [rename.pdu], 'an outlier is served by id');
    // And it is part of the auth chain we serve for the message: other servers can check it too.
    const chain = await room.get(`/_matrix/federation/v1/event_auth/${encodeURIComponent(room.roomId)}/${encodeURIComponent(message.eventId)}`);
    assert.equal(chain.status, 200, JSON.stringify(chain.body));
    await assertMatchesSpec('GET', '/_matrix/federation/v1/event_auth/{roomId}/{eventId}', 200, chain.body);
    const chainIds = (chain.body as { auth_chain: JsonObject[] }).auth_chain.map((p) => computeEventId(p, room.version));
    for (const id of [create, powerLevels, rename.eventId, state.get(`m.room.member\u0000${bob}`) as string]) assert.ok(chainIds.includes(id), id);
    assert.equal(await room.store.getEvent(rename.eventId), null, 'the fetched auth event is not in the timeline');
    assert.deepEqual((await timeline(room)).at(-1)?.event_id, message.eventId);
    assert.equal((await room.state()).get(`m.room.member\u0000${bob}`), state.get(`m.room.member\u0000${bob}`), 'nor in the state');

    // The event itself arrives later: checked like any other, it moves into the timeline.
    assert.deepEqual(await sent(room, 'the-rename', [rename.pdu]), { [rename.eventId]: {} });
    assert.deepEqual(await outliers(), []);
    assert.equal((await room.store.getEvent(rename.eventId))?.eventId, rename.eventId);
    assert.equal(asked.length, 1);
  });

  test('a fetched auth event the auth rules refuse is kept as rejected, and the PDU citing it is rejected', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    const bobJoin = await joinBob(room);
    const state = await room.state();
    const create = state.get('m.room.create\u0000') as string;
    // bob has no power to change the power levels: this event fails against its own auth events.
    const grab = await room.build({ type: 'm.room.power_levels', sender: bob, stateKey: '', content: { users: { [bob]: 100 } } });
    const forged = await room.build({ type: 'm.room.topic', sender: bob, stateKey: '', content: { topic: 'mine now' }, key: generateSigningKey('remote1') });
    const message = await room.build({
      type: 'm.room.message',
      sender: bob,
      content: { msgtype: 'm.text', body: 'with my new power' },
      authEvents: [create, grab.eventId, bobJoin],
    });
    const badlySigned = await room.build({
      type: 'm.room.message',
      sender: bob,
      content: { msgtype: 'm.text', body: 'citing a forgery' },
      authEvents: [create, state.get('m.room.power_levels\u0000') as string, bobJoin, forged.eventId],
    });
    room.remote.handlers.push((req) => {
      if (req.method !== 'GET' || !req.url?.startsWith('/_matrix/federation/v1/event_auth/')) return undefined;
      // Not ours to trust blindly: events of another room and junk are ignored too.
      return { status: 200, body: { auth_chain: [grab.pdu, forged.pdu, { ...grab.pdu, room_id: '!elsewhere:remote.test' }, 'junk', 7] } };
    });

    const pdus = await sent(room, 'bad-auth', [message.pdu, badlySigned.pdu]);
    assert.match(pdus[message.eventId]?.error ?? '', /Rejected/);
    assert.match(pdus[badlySigned.eventId]?.error ?? '', /unknown/, 'a badly signed auth event is dropped: still unknown');
    const { rows } = await room.troupe.running.db.query<{ event_id: string; kind: string }>('SELECT event_id, kind FROM event_outliers');
    assert.deepEqual(
      rows.map((r) => [r.event_id, r.kind]).sort(),
      [
        [grab.eventId, 'rejected'],
        [message.eventId, 'rejected'],
      ].sort(),
    );
    assert.equal(await room.store.getEvent(message.eventId), null);
    assert.equal((await room.state()).get('m.room.power_levels\u0000'), state.get('m.room.power_levels\u0000'));
    for (const id of [grab.eventId, message.eventId]) {
      const served = await room.get(`/_matrix/federation/v1/event/${encodeURIComponent(id)}`);
      // (The spec lists no 404 for /event; it is the answer for any event the asker may not have.)
      assert.equal(served.status, 404, 'rejected events are never served');
      assert.equal((served.body as JsonObject)['errcode'], 'M_NOT_FOUND');
    }
  });

  test('odd PDUs are refused, never a server error: NUL anywhere, a second create event, numbers beyond 2^53', async (t) => {
    const room = await startFederatedRoom(t, backend, certificate);
    const bob = room.user('bob');
    await joinBob(room);
    const events = await count(room, 'events');
    // The request parser refuses NUL in any string of the body, so the whole transaction is refused.
    const nulKey = await room.build({ type: 'm.room.member', sender: bob, stateKey: `${bob}\u0000x`, content: { membership: 'join' } });
    const nul = await room.send('nul', [nulKey.pdu]);
    assert.equal(nul.status, 400);
    assert.equal((nul.body as JsonObject)['errcode'], 'M_BAD_JSON');
    const create = await room.build({ type: 'm.room.create', sender: bob, stateKey: '', content: { room_version: room.version.id } });
    const pdus = await sent(room, 'create', [create.pdu]);
    assert.match(pdus[create.eventId]?.error ?? '', /Dropped/);
    assert.equal(await count(room, 'events'), events);
    assert.equal(await count(room, 'federation_inbound_transactions'), 1, 'only the transaction that was processed');

    // Room versions 1–5 allow integers beyond 2^53; a request body cannot carry them (X-Matrix signs canonical JSON),
    // but an answer to get_missing_events can.
    const old = await startFederatedRoom(t, backend, certificate, { roomVersion: '5' });
    const carl = old.user('carl');
    await old.joinThroughSendJoin(carl);
    const deep = await old.build({ type: 'm.room.message', sender: carl, content: { msgtype: 'm.text', body: 'deep' }, depth: 1e20 });
    const next = await old.build({ type: 'm.room.message', sender: carl, content: { msgtype: 'm.text', body: 'next' }, prevEvents: [deep.eventId], depth: 60 });
    old.remote.handlers.push((req) =>
      req.method === 'POST' && req.url?.startsWith('/_matrix/federation/v1/get_missing_events/') ? { status: 200, body: { events: [deep.pdu] } } : undefined,
    );
    const res = await old.send('deep', [next.pdu]);
    assert.deepEqual(res, { status: 200, body: { pdus: { [next.eventId]: {} } } });
    assert.equal(await old.store.getEvent(deep.eventId), null, 'the event out of range was dropped');
    assert.ok(await old.store.getEvent(next.eventId));
  });
});
