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
