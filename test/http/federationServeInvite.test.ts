// A remote server invites one of our users over real TLS (PUT /v2/invite): the invite is checked, signed with our
// key and returned; it is stored with its invite_room_state so that the user's /sync shows it under rooms.invite
// (and a waiting /sync wakes); bad invites are Matrix errors that store nothing. Both backends.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { computeEventId } from '../../src/protocol/eventIds.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { checkEventSignedBy, signEvent } from '../../src/protocol/pdu.ts';
import { getRoomVersion, type RoomVersion } from '../../src/protocol/roomVersions.ts';
import { generateSigningKey, type SigningKey } from '../../src/protocol/signing.ts';
import { forEachBackend } from '../helpers/database.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { makeCertificate, type TestCertificate } from '../helpers/certificate.ts';
import { startServeHarness, type ServeHarness } from '../federation/serveHarness.ts';

let certificate: TestCertificate;
before(async () => {
  certificate = await makeCertificate();
});

const V10 = getRoomVersion('10') as RoomVersion;
const enc = encodeURIComponent;

/** A room on the remote server: its create, join rules and name events, and an invite of `invitee` by carol. */
function remoteRoom(h: ServeHarness, invitee: string, options: { key?: SigningKey } = {}) {
  const server = h.remote.serverName;
  const carol = `@carol:${server}`;
  const roomId = `!remote${Math.random().toString(36).slice(2, 10)}:${server}`;
  const sign = (pdu: JsonObject, key = h.remote.key) => {
    const signed = signEvent(pdu, V10, server, key);
    return { pdu: signed, eventId: computeEventId(signed, V10) };
  };
  const base = { room_id: roomId, sender: carol, origin: server, origin_server_ts: Date.now() };
  const create = sign({ ...base, type: 'm.room.create', state_key: '', content: { creator: carol, room_version: '10' }, depth: 1, prev_events: [], auth_events: [] });
  const joinRules = sign({ ...base, type: 'm.room.join_rules', state_key: '', content: { join_rule: 'invite' }, depth: 2, prev_events: [create.eventId], auth_events: [create.eventId] });
  const name = sign({ ...base, type: 'm.room.name', state_key: '', content: { name: 'Remote room' }, depth: 3, prev_events: [joinRules.eventId], auth_events: [create.eventId] });
  const invite = sign(
    { ...base, type: 'm.room.member', state_key: invitee, content: { membership: 'invite', displayname: 'Alice' }, depth: 4, prev_events: [name.eventId], auth_events: [create.eventId] },
    options.key,
  );
  return { roomId, carol, create, joinRules, name, invite, sign, base };
}

forEachBackend('federation serving: invites', (backend) => {
  test('a remote invite is signed, stored and shown in the invited user\'s /sync with its stripped state', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const room = remoteRoom(h, alice.userId);
    const initial = await h.client(alice, 'GET', '/_matrix/client/v3/sync?timeout=0');
    assert.equal(initial.status, 200, JSON.stringify(initial.body));
    const since = (initial.body as JsonObject)['next_batch'] as string;
    // A /sync waiting for something new, woken by the invite.
    const waiting = h.client(alice, 'GET', `/_matrix/client/v3/sync?timeout=20000&since=${enc(since)}`);

    const path = `/_matrix/federation/v2/invite/${enc(room.roomId)}/${enc(room.invite.eventId)}`;
    const res = await h.fed('PUT', path, {
      room_version: '10',
      event: room.invite.pdu,
      invite_room_state: [room.create.pdu, room.joinRules.pdu, room.name.pdu],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await assertMatchesSpec('PUT', '/_matrix/federation/v2/invite/x/y', 200, res.body);
    const event = (res.body as { event: JsonObject }).event;
    const ourKey = h.troupe.running.signingKey;
    assert.ok(checkEventSignedBy(event, V10, 'test.local', new Map([[ourKey.keyId, { key: ourKey.publicKey }]])).ok, 'signed by us');
    assert.ok(checkEventSignedBy(event, V10, h.remote.serverName, new Map([[h.remote.key.keyId, { key: h.remote.key.publicKey }]])).ok);
    assert.equal(computeEventId(event, V10), room.invite.eventId, 'the same event');

    const { rows } = await h.troupe.running.db.query<{ membership: string; event_id: string }>(
      'SELECT membership, event_id FROM local_memberships WHERE user_id = $1 AND room_id = $2',
      [alice.userId, room.roomId],
    );
    assert.deepEqual(rows, [{ membership: 'invite', event_id: room.invite.eventId }]);

    const woken = await waiting;
    assert.equal(woken.status, 200);
    const invites = ((woken.body as JsonObject)['rooms'] as { invite?: Record<string, { invite_state: { events: JsonObject[] } }> }).invite ?? {};
    const state = invites[room.roomId]?.invite_state.events ?? [];
    assert.deepEqual(
      state.map((e) => [e['type'], e['state_key']]).sort(),
      [['m.room.create', ''], ['m.room.join_rules', ''], ['m.room.member', alice.userId], ['m.room.name', '']],
      JSON.stringify(woken.body),
    );
    assert.deepEqual(state.find((e) => e['type'] === 'm.room.name')?.['content'], { name: 'Remote room' });
    await assertMatchesSpec('GET', '/_matrix/client/v3/sync', 200, woken.body);

    // The same invite again: the same answer, nothing stored twice.
    const count = await h.eventCount();
    const again = await h.fed('PUT', path, { room_version: '10', event: room.invite.pdu, invite_room_state: [room.create.pdu] });
    assert.equal(again.status, 200);
    assert.equal(await h.eventCount(), count);
  });

  test('bad invites are Matrix errors and store nothing', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const room = remoteRoom(h, alice.userId);
    const forged = remoteRoom(h, alice.userId, { key: generateSigningKey('forged') });
    const notInvite = room.sign({ ...room.base, type: 'm.room.member', state_key: alice.userId, content: { membership: 'join' }, depth: 4, prev_events: [room.name.eventId], auth_events: [room.create.eventId] });
    const remoteUser = room.sign({ ...room.base, type: 'm.room.member', state_key: '@dan:elsewhere.example', content: { membership: 'invite' }, depth: 4, prev_events: [room.name.eventId], auth_events: [room.create.eventId] });
    const nobody = room.sign({ ...room.base, type: 'm.room.member', state_key: '@nobody:test.local', content: { membership: 'invite' }, depth: 4, prev_events: [room.name.eventId], auth_events: [room.create.eventId] });
    const otherRoomCreate = remoteRoom(h, alice.userId).create.pdu;
    const path = (roomId: string, eventId: string) => `/_matrix/federation/v2/invite/${enc(roomId)}/${enc(eventId)}`;
    const state = [room.create.pdu, room.name.pdu];
    const stored = await h.eventCount();
    const cases: [string, string, unknown, number, string][] = [
      ['unsupported version', path(room.roomId, room.invite.eventId), { room_version: '99', event: room.invite.pdu, invite_room_state: state }, 400, 'M_INCOMPATIBLE_ROOM_VERSION'],
      ['forged signature', path(forged.roomId, forged.invite.eventId), { room_version: '10', event: forged.invite.pdu, invite_room_state: [forged.create.pdu] }, 400, 'M_INVALID_PARAM'],
      ['not an invite', path(room.roomId, notInvite.eventId), { room_version: '10', event: notInvite.pdu, invite_room_state: state }, 400, 'M_INVALID_PARAM'],
      ['not our user', path(room.roomId, remoteUser.eventId), { room_version: '10', event: remoteUser.pdu, invite_room_state: state }, 400, 'M_INVALID_PARAM'],
      ['unknown user', path(room.roomId, nobody.eventId), { room_version: '10', event: nobody.pdu, invite_room_state: state }, 403, 'M_FORBIDDEN'],
      ['event id mismatch', path(room.roomId, room.name.eventId), { room_version: '10', event: room.invite.pdu, invite_room_state: state }, 400, 'M_INVALID_PARAM'],
      ['no create event', path(room.roomId, room.invite.eventId), { room_version: '10', event: room.invite.pdu, invite_room_state: [room.name.pdu] }, 400, 'M_INVALID_PARAM'],
      ['state of another room', path(room.roomId, room.invite.eventId), { room_version: '10', event: room.invite.pdu, invite_room_state: [otherRoomCreate] }, 400, 'M_INVALID_PARAM'],
      ['state not PDUs', path(room.roomId, room.invite.eventId), { room_version: '10', event: room.invite.pdu, invite_room_state: [{ type: 'm.room.create' }] }, 400, 'M_INVALID_PARAM'],
      ['no room_version', path(room.roomId, room.invite.eventId), { event: room.invite.pdu }, 400, 'M_BAD_JSON'],
      ['event not an object', path(room.roomId, room.invite.eventId), { room_version: '10', event: 'x' }, 400, 'M_BAD_JSON'],
      ['not JSON', path(room.roomId, room.invite.eventId), '{', 400, 'M_NOT_JSON'],
    ];
    for (const [name, p, body, status, errcode] of cases) {
      const res = await h.fed('PUT', p, body);
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as JsonObject)['errcode'], errcode, name);
    }
    assert.equal(await h.eventCount(), stored);
    const { rows } = await h.troupe.running.db.query('SELECT 1 FROM local_memberships WHERE user_id = $1', [alice.userId]);
    assert.equal(rows.length, 0);
  });

  test('rejecting a remote invite: make_leave/send_leave through the inviting server, or locally when it refuses', async (t) => {
    const h = await startServeHarness(t, backend, certificate);
    const alice = await h.troupe.createUser('alice');
    const invited = async () => {
      const room = remoteRoom(h, alice.userId);
      const res = await h.fed('PUT', `/_matrix/federation/v2/invite/${enc(room.roomId)}/${enc(room.invite.eventId)}`, {
        room_version: '10',
        event: room.invite.pdu,
        invite_room_state: [room.create.pdu, room.name.pdu],
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return room;
    };
    const membership = async (roomId: string) =>
      (
        await h.troupe.running.db.query<{ membership: string }>('SELECT membership FROM local_memberships WHERE user_id = $1 AND room_id = $2', [
          alice.userId,
          roomId,
        ])
      ).rows[0]?.membership;

    // The inviting server answers make_leave with a template and accepts the signed leave.
    const room = await invited();
    const sentLeaves: JsonObject[] = [];
    h.remote.handlers.push((req, body) => {
      if (req.method === 'GET' && req.url?.startsWith(`/_matrix/federation/v1/make_leave/${enc(room.roomId)}/`)) {
        return {
          status: 200,
          body: {
            room_version: '10',
            event: { ...room.base, sender: alice.userId, type: 'm.room.member', state_key: alice.userId, content: { membership: 'leave' }, depth: 5, prev_events: [room.invite.eventId], auth_events: [room.create.eventId, room.invite.eventId] },
          },
        };
      }
      if (req.method === 'PUT' && req.url?.startsWith(`/_matrix/federation/v2/send_leave/${enc(room.roomId)}/`)) {
        sentLeaves.push(JSON.parse(body) as JsonObject);
        return { status: 200, body: {} };
      }
      return undefined;
    });
    const left = await h.client(alice, 'POST', `/_matrix/client/v3/rooms/${enc(room.roomId)}/leave`, { reason: 'no thanks' });
    assert.equal(left.status, 200, JSON.stringify(left.body));
    assert.equal(sentLeaves.length, 1);
    const leave = sentLeaves[0] as JsonObject;
    assert.deepEqual(leave['content'], { membership: 'leave', reason: 'no thanks' });
    const ourKey = h.troupe.running.signingKey;
    assert.ok(checkEventSignedBy(leave, V10, 'test.local', new Map([[ourKey.keyId, { key: ourKey.publicKey }]])).ok);
    const sendLeave = h.remote.received.find((r) => r.method === 'PUT' && r.url.includes('/send_leave/'));
    assert.ok(sendLeave?.url.endsWith(enc(computeEventId(leave, V10))), 'sent under its own event id');
    assert.equal(await membership(room.roomId), 'leave');
    const stored = await h.troupe.running.db.query<{ event_id: string }>('SELECT event_id FROM local_memberships WHERE user_id = $1 AND room_id = $2', [alice.userId, room.roomId]);
    assert.equal(stored.rows[0]?.event_id, computeEventId(leave, V10), 'the leave the room has');

    // A server that refuses: the invite is rejected here all the same.
    const refused = await invited();
    assert.equal(await membership(refused.roomId), 'invite');
    const gone = await h.client(alice, 'POST', `/_matrix/client/v3/rooms/${enc(refused.roomId)}/leave`, {});
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(await membership(refused.roomId), 'leave');
    const sync = await h.client(alice, 'GET', '/_matrix/client/v3/sync?timeout=0');
    const rooms = (sync.body as JsonObject)['rooms'] as { invite?: Record<string, unknown> } | undefined;
    assert.deepEqual(Object.keys(rooms?.invite ?? {}), [], 'no invite left');
  });
});
