// Receipts, presence and to-device messages for application services are driven by stored positions
// (migrations/0015): what is written while the service is DOWN, before and after a Troupe restart, arrives exactly
// once after recovery (typing is in memory and not replayed across a restart); one to-device send with more than 100 messages for a service's users is split over
// transactions without losing any.
//
// The actor system runs on a clock 100 times faster than real time, so the recoverer's back-off (2, 4, 8, ... s)
// takes 20, 40, 80, ... ms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { startFakeService, writeRegistration, type ReceivedTransaction } from '../appservice/fakeService.ts';
import { addUser, call, deduplicated, fastTroupe, until, type Account, type Json } from '../appservice/fastTroupe.ts';

const SPEED = 100;

const toDeviceOf = (txns: readonly ReceivedTransaction[]) => txns.flatMap((x) => (x.body['to_device'] ?? []) as Json[]);
const ephemeralOf = (txns: readonly ReceivedTransaction[]) => txns.flatMap((x) => (x.body['ephemeral'] ?? []) as Json[]);

/** The users who have a receipt in an m.receipt event. */
function receiptUsers(event: Json): string[] {
  const content = event['content'] as Record<string, Record<string, Record<string, unknown>>>;
  return Object.values(content).flatMap((byType) => Object.values(byType).flatMap((byUser) => Object.keys(byUser)));
}

forEachBackend('appservice ephemeral positions', (backend) => {
  /** A fake service that wants ephemeral events and to-device messages, a database, and Troupe's start for both. */
  async function setUp(t: { after(fn: () => unknown): void }) {
    const service = await startFakeService();
    t.after(() => service.close());
    const database = await backend.create();
    t.after(() => database.close());
    const file = await writeRegistration({ url: service.url, receiveEphemeral: true, pushToDevice: true });
    return { service, db: database.db, start: await fastTroupe(database.db, 'eph.test', file, SPEED) };
  }

  test('to-device messages, receipts and presence sent while the service is DOWN, across a restart, arrive exactly once', async (t) => {
    const { service, db, start } = await setUp(t);
    let troupe = await start();
    t.after(() => troupe.close());
    const alice = await addUser(db, '@alice:eph.test');
    const bridged = await addUser(db, '@bridge_bob:eph.test', ['BOB1', 'BOB2']);
    const readers = await Promise.all(['carol', 'dave', 'erin'].map((name) => addUser(db, `@${name}:eph.test`)));
    const enc = encodeURIComponent;
    const roomId = (await call(troupe, alice.token, 'POST', '/createRoom', { preset: 'public_chat' }))['room_id'] as string;
    for (const u of [bridged, ...readers]) await call(troupe, u.token, 'POST', `/join/${enc(roomId)}`, {});
    const sendMessage = async (body: string) =>
      (await call(troupe, alice.token, 'PUT', `/rooms/${enc(roomId)}/send/m.room.message/${body}`, { msgtype: 'm.text', body }))['event_id'] as string;
    let toDeviceSent = 0;
    const sendToDevice = async () => {
      const n = toDeviceSent++;
      await call(troupe, alice.token, 'PUT', `/sendToDevice/m.example/td${n}`, {
        messages: { [bridged.userId]: { BOB1: { n }, BOB2: { n } }, [readers[0]?.userId ?? '']: { DEV: { n } } },
      });
    };
    const readReceipt = async (reader: Account, eventId: string) =>
      call(troupe, reader.token, 'POST', `/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {});
    let presenceSet = 0;
    const setPresence = async (user: Account) => {
      const n = presenceSet++;
      await call(troupe, user.token, 'PUT', `/presence/${enc(user.userId)}/status`, { presence: 'unavailable', status_msg: `phase ${n}` });
    };
    const status = () => troupe.admin.list().find((r) => r.id === 'as:bridge')?.figures['status'];

    const first = await sendMessage('first');
    await service.waitForEvents((events) => events.some((e) => e['event_id'] === first));

    // The service fails: the next transaction is stored and retried; what comes after waits in storage.
    service.mode = 500;
    await sendToDevice();
    await readReceipt(alice, first);
    await until(() => status() === 'down', 'DOWN');
    await sendToDevice();
    await readReceipt(readers[0] as Account, first);
    await setPresence(readers[0] as Account);
    await new Promise((resolve) => setTimeout(resolve, 100));

    // Troupe restarts while the service is still failing; more is written, then the service recovers.
    await troupe.close();
    troupe = await start();
    assert.match(String(troupe.admin.list().find((r) => r.id === 'as:bridge')?.state), /^down/);
    await sendToDevice();
    await readReceipt(readers[1] as Account, first);
    await setPresence(readers[1] as Account);
    await new Promise((resolve) => setTimeout(resolve, 100));
    service.mode = 'ok';
    await sendToDevice();
    await readReceipt(readers[2] as Account, first);
    await setPresence(readers[2] as Account);

    const expectedToDevice = Array.from({ length: toDeviceSent }, (_, n) => [
      { type: 'm.example', sender: alice.userId, content: { n }, to_user_id: bridged.userId, to_device_id: 'BOB1' },
      { type: 'm.example', sender: alice.userId, content: { n }, to_user_id: bridged.userId, to_device_id: 'BOB2' },
    ]).flat();
    const expectedReaders = [alice, ...readers].map((u) => u.userId).sort();
    const delivered = () => deduplicated(service.transactions);
    const readersSeen = () => ephemeralOf(delivered()).filter((e) => e['type'] === 'm.receipt').flatMap(receiptUsers);
    const expectedPresence = readers.map((u, n) => `${u.userId} phase ${n}`);
    const presenceSeen = () =>
      ephemeralOf(delivered())
        .filter((e) => e['type'] === 'm.presence' && typeof (e['content'] as Json)['status_msg'] === 'string')
        .map((e) => `${String(e['sender'])} ${String((e['content'] as Json)['status_msg'])}`);
    await until(
      () =>
        toDeviceOf(delivered()).length >= expectedToDevice.length &&
        readersSeen().length >= expectedReaders.length &&
        presenceSeen().length >= expectedPresence.length,
      'every to-device message, receipt and presence change',
    );
    await until(() => status() === 'up', 'UP again');
    // Nothing more trickles in once every one has been delivered.
    const last = await sendMessage('last');
    await service.waitForEvents((events) => events.some((e) => e['event_id'] === last));
    assert.deepEqual(toDeviceOf(delivered()), expectedToDevice, 'each to-device message exactly once, in order');
    assert.deepEqual([...readersSeen()].sort(), expectedReaders, 'each receipt exactly once');
    assert.deepEqual(presenceSeen(), expectedPresence, 'each presence change exactly once, in order');
    for (const txn of delivered()) assert.ok(toDeviceOf([txn]).length <= 100);

    // The stored positions are where the streams are.
    const { rows } = await db.query<{ receipts_position: number; to_device_position: number; r: number; d: number }>(
      `SELECT receipts_position, to_device_position, (SELECT max(stream_id) FROM receipts) AS r,
         (SELECT max(stream_id) FROM to_device_messages) AS d
       FROM appservice_state WHERE service_id = 'bridge'`,
    );
    assert.equal(rows[0]?.receipts_position, rows[0]?.r);
    assert.equal(rows[0]?.to_device_position, rows[0]?.d);
  });

  test('one to-device send with more than 100 messages for its users continues in the next transactions', async (t) => {
    const { service, db, start } = await setUp(t);
    const troupe = await start();
    t.after(() => troupe.close());
    const alice = await addUser(db, '@alice:eph.test');
    const devices = Array.from({ length: 130 }, (_, i) => `D${String(i).padStart(3, '0')}`);
    const bridgedA = await addUser(db, '@bridge_a:eph.test', devices);
    const outsider = await addUser(db, '@zed:eph.test', devices.slice(0, 20));
    const bridgedB = await addUser(db, '@bridge_b:eph.test', devices.slice(0, 90));
    const each = (ids: readonly string[], n: number) => Object.fromEntries(ids.map((d) => [d, { n, d }]));
    // 130 + 90 = 220 messages for the service's users in one send, plus 20 for someone else.
    await call(troupe, alice.token, 'PUT', '/sendToDevice/m.big/big1', {
      messages: { [bridgedA.userId]: each(devices, 1), [outsider.userId]: each(devices.slice(0, 20), 1), [bridgedB.userId]: each(devices.slice(0, 90), 1) },
    });
    // And one more send after it.
    await call(troupe, alice.token, 'PUT', '/sendToDevice/m.big/big2', { messages: { [bridgedB.userId]: { D000: { n: 2, d: 'D000' } } } });

    const expected = [
      ...devices.map((d) => `${bridgedA.userId}|${d}|1`),
      ...devices.slice(0, 90).map((d) => `${bridgedB.userId}|${d}|1`),
      `${bridgedB.userId}|D000|2`,
    ];
    const got = () =>
      toDeviceOf(deduplicated(service.transactions)).map((m) => `${String(m['to_user_id'])}|${String(m['to_device_id'])}|${String((m['content'] as Json)['n'])}`);
    await until(() => got().length >= expected.length, 'all 221 messages');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(got(), expected, 'every message once, in (stream, user, device) order');
    const sizes = deduplicated(service.transactions).map((x) => toDeviceOf([x]).length).filter((n) => n > 0);
    assert.ok(sizes.every((n) => n <= 100), `at most 100 per transaction: ${JSON.stringify(sizes)}`);
    assert.ok(sizes.length >= 3, `split over transactions: ${JSON.stringify(sizes)}`);
  });
});
