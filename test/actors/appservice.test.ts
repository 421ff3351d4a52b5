// The appservice actors on a running Troupe: one `as:<id>` child per registration, fed by the writer's
// after-commit notification, pushing stored transactions to a real HTTP service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';
import { createRoom, join, newUser, sendMessage } from '../rooms/client.ts';
import { startFakeService, writeRegistration } from '../appservice/fakeService.ts';

forEachBackend('appservice actors', (backend) => {
  test('events of rooms the service is interested in arrive in stream order, in transactions of at most 100', async (t) => {
    const service = await startFakeService();
    t.after(() => service.close());
    const file = await writeRegistration({ url: service.url });
    const s = await startTestServer(t, { backend: backend.name, config: { app_service_config_files: [file] } });

    const alice = await newUser(s, 'alice');
    const bridged = await s.createUser('bridge_bob');
    const watched = await createRoom(s, alice, { preset: 'public_chat' });
    const other = await createRoom(s, alice);
    await join(s, bridged, watched);
    const sent: string[] = [];
    for (let i = 0; i < 150; i++) {
      sent.push(await sendMessage(s, alice, watched, `m${i}`));
      if (i % 3 === 0) await sendMessage(s, alice, other, `unwatched ${i}`);
    }
    await service.waitForEvents((events) => events.some((e) => e['event_id'] === sent.at(-1)));

    const messages = service.allEvents().filter((e) => e['type'] === 'm.room.message');
    assert.deepEqual(messages.map((e) => e['event_id']), sent, 'every message once, in order');
    assert.ok(service.allEvents().every((e) => e['room_id'] === watched), 'nothing from the unwatched room');
    for (const txn of service.transactions) {
      assert.ok((txn.body.events ?? []).length <= 100);
      assert.equal(txn.authorization, 'Bearer hs-secret-token');
      assert.ok(!txn.url.includes('?'), 'no token in the query string');
    }
    const ids = service.transactions.map((x) => x.txnId);
    assert.equal(new Set(ids).size, ids.length, 'transaction ids never repeat');

    const metrics = await s.running.metrics.render();
    const counted = /troupe_appservice_transactions_total\{service="bridge",outcome="sent"\} (\d+)/.exec(metrics);
    assert.ok(counted && Number(counted[1]) >= 1, 'sent transactions are counted');
    assert.match(metrics, /troupe_appservice_transaction_duration_seconds_count\{service="bridge"\} [1-9]/);

    const row = s.running.admin.list().find((r) => r.id === 'as:bridge');
    assert.ok(row, 'the actor is a supervisor child');
    assert.equal(row.kind, 'appservice');
    // The join event of the bridged user is there too (membership of a namespaced user).
    assert.ok(service.allEvents().some((e) => e['type'] === 'm.room.member' && e['state_key'] === bridged.userId));
    // The last acknowledgement is stored just after the service answered.
    let stored = -1;
    for (let i = 0; i < 100 && stored !== 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 20));
      const { rows } = await s.running.db.query<{ n: number }>('SELECT count(*) AS n FROM appservice_transactions');
      stored = Number(rows[0]?.n);
    }
    assert.equal(stored, 0, 'acknowledged transactions are deleted');
    // Events of no interest move the stored position on too, without a transaction.
    const transactions = service.transactions.length;
    const last = await sendMessage(s, alice, other, 'the last, unwatched');
    let position = 0;
    for (let i = 0; i < 100 && position === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 20));
      const { rows } = await s.running.db.query<{ p: number; last: number }>(
        "SELECT stream_position AS p, (SELECT stream_ordering FROM events WHERE event_id = $1) AS last FROM appservice_state WHERE service_id = 'bridge'",
        [last],
      );
      if (rows[0] && rows[0].p >= rows[0].last) position = rows[0].p;
    }
    assert.ok(position > 0, 'the stored position reached the unwatched event');
    assert.equal(service.transactions.length, transactions);
  });

  test('receipts, typing and presence of interesting rooms go to services that asked for ephemeral events', async (t) => {
    const wants = await startFakeService();
    const other = await startFakeService();
    t.after(() => Promise.all([wants.close(), other.close()]));
    const files = [
      await writeRegistration({ url: wants.url, receiveEphemeral: 'unstable' }),
      await writeRegistration({ url: other.url, id: 'plain', asToken: 'plain-as', hsToken: 'plain-hs', senderLocalpart: 'plainbot', users: [{ regex: '@plain_.*', exclusive: true }], aliases: [] }),
    ];
    const s = await startTestServer(t, { backend: backend.name, config: { app_service_config_files: files } });
    const alice = await newUser(s, 'alice');
    const bridged = await s.createUser('bridge_carol');
    const plainUser = await s.createUser('plain_dave');
    const watched = await createRoom(s, alice, { preset: 'public_chat' });
    const unwatched = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bridged, watched);
    await join(s, plainUser, watched);
    const message = await sendMessage(s, alice, watched, 'read me');
    const elsewhere = await sendMessage(s, alice, unwatched, 'not watched');
    const enc = encodeURIComponent;
    const put = async (path: string, body: unknown) => {
      const res = await s.request('POST', path, { token: alice.accessToken, body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    await put(`/_matrix/client/v3/rooms/${enc(watched)}/receipt/m.read.private/${enc(message)}`, {});
    await put(`/_matrix/client/v3/rooms/${enc(unwatched)}/receipt/m.read/${enc(elsewhere)}`, {});
    await put(`/_matrix/client/v3/rooms/${enc(watched)}/receipt/m.read/${enc(message)}`, {});
    const loner = await newUser(s, 'loner');
    for (const [user, status] of [[loner, 'not shared'], [alice, 'bridging']] as const) {
      const res = await s.request('PUT', `/_matrix/client/v3/presence/${enc(user.userId)}/status`, {
        token: user.accessToken,
        body: { presence: 'online', status_msg: status },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const typing = await s.request('PUT', `/_matrix/client/v3/rooms/${enc(watched)}/typing/${enc(alice.userId)}`, {
      token: alice.accessToken,
      body: { typing: true, timeout: 30000 },
    });
    assert.equal(typing.status, 200);

    const ephemeral = () => wants.transactions.flatMap((x) => (x.body['de.sorunome.msc2409.ephemeral'] ?? []) as Record<string, unknown>[]);
    const deadline = Date.now() + 20_000;
    const types = () => new Set(ephemeral().map((e) => e['type']));
    while (!['m.typing', 'm.receipt', 'm.presence'].every((type) => types().has(type))) {
      assert.ok(Date.now() < deadline, `ephemeral events: ${JSON.stringify(ephemeral())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Only the public receipt of the watched room: not the private one, not the unwatched room's.
    const receipts = ephemeral().filter((e) => e['type'] === 'm.receipt');
    assert.equal(receipts.length, 1);
    assert.equal(receipts[0]?.['room_id'], watched);
    const content = receipts[0]?.['content'] as Record<string, Record<string, Record<string, { ts?: unknown }>>>;
    assert.deepEqual(Object.keys(content), [message]);
    assert.deepEqual(Object.keys(content[message] ?? {}), ['m.read']);
    assert.equal(typeof content[message]?.['m.read']?.[alice.userId]?.ts, 'number');
    // Presence of a user joined to a watched room, not of one who shares no room with the service's users.
    const presence = ephemeral().filter((e) => e['type'] === 'm.presence');
    assert.deepEqual(presence.map((e) => e['sender']), [alice.userId]);
    const presenceContent = presence[0]?.['content'] as Record<string, unknown>;
    assert.equal(presenceContent['presence'], 'online');
    assert.equal(presenceContent['status_msg'], 'bridging');
    const typingEvent = ephemeral().find((e) => e['type'] === 'm.typing');
    assert.deepEqual(typingEvent, { type: 'm.typing', room_id: watched, content: { user_ids: [alice.userId] } });
    // The stable key carries the same; the service that did not ask gets neither.
    assert.ok(wants.transactions.every((x) => JSON.stringify(x.body['ephemeral']) === JSON.stringify(x.body['de.sorunome.msc2409.ephemeral'])));
    await other.waitForEvents((events) => events.some((e) => e['event_id'] === message));
    assert.ok(other.transactions.every((x) => x.body['ephemeral'] === undefined && x.body['de.sorunome.msc2409.ephemeral'] === undefined));
  });

  test('to-device messages for devices of its users go to a service that asked for them (MSC4203)', async (t) => {
    const service = await startFakeService();
    t.after(() => service.close());
    const file = await writeRegistration({ url: service.url, pushToDevice: true });
    const s = await startTestServer(t, { backend: backend.name, config: { app_service_config_files: [file] } });
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const bridged = await s.createUser('bridge_erin');
    const res = await s.request('PUT', '/_matrix/client/v3/sendToDevice/m.example/td1', {
      token: alice.accessToken,
      body: { messages: { [bridged.userId]: { [bridged.deviceId]: { secret: 1 } }, [bob.userId]: { [bob.deviceId]: { secret: 2 } } } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const toDevice = () => service.transactions.flatMap((x) => (x.body['de.sorunome.msc2409.to_device'] ?? []) as Record<string, unknown>[]);
    const deadline = Date.now() + 20_000;
    while (toDevice().length === 0) {
      assert.ok(Date.now() < deadline, 'a to-device message arrives');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(toDevice(), [
      { type: 'm.example', sender: alice.userId, content: { secret: 1 }, to_user_id: bridged.userId, to_device_id: bridged.deviceId },
    ]);
    assert.ok(service.transactions.every((x) => JSON.stringify(x.body['to_device']) === JSON.stringify(x.body['de.sorunome.msc2409.to_device'])));
    assert.ok(service.transactions.every((x) => x.body['de.sorunome.msc2409.ephemeral'] === undefined), 'no ephemeral without asking');
  });

  test('the sender user exists at boot; a registration without url gets no actor', async (t) => {
    const file = await writeRegistration({ url: null, id: 'quiet', senderLocalpart: 'quietbot' });
    const s = await startTestServer(t, { backend: backend.name, config: { app_service_config_files: [file] } });
    const { rows } = await s.running.db.query('SELECT user_id FROM users WHERE user_id = $1', [`@quietbot:${s.serverName}`]);
    assert.equal(rows.length, 1);
    assert.equal(s.running.admin.list().filter((r) => r.kind === 'appservice').length, 0);
  });

  test('an invalid registration file stops startup, naming the file and the field', async (t) => {
    const file = await writeRegistration({ url: 'not a url' });
    await assert.rejects(
      startTestServer(t, { backend: backend.name, config: { app_service_config_files: [file] } }),
      (error: Error) => error.message.includes(file) && error.message.includes('url'),
    );
  });
});
