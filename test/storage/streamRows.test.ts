// Rows that hold the latest state of something with the stream id of its change (push rules, account data, presence,
// receipts, device list changes). A writer takes its stream id before it waits for the row's lock, so of two
// concurrent writes the one that commits last may hold the smaller id. The row keeps the later write's content and the
// larger id: a reader that has seen the larger id has seen both writes (the stream's position passes an id only once
// every smaller one is done). After a restart the stream starts from the larger id too, never behind a token a client
// already holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../../src/storage/database.ts';
import { AccountDataStore } from '../../src/storage/accountData.ts';
import { DeviceListStore } from '../../src/storage/deviceLists.ts';
import { PresenceStore } from '../../src/storage/presence.ts';
import { PushRulesStore } from '../../src/storage/pushRules.ts';
import { ReceiptStore } from '../../src/storage/receipts.ts';
import { loadUserDataPositions } from '../../src/sync/userDataSource.ts';
import { forEachBackend } from '../helpers/database.ts';

const ALICE = '@alice:example.org';
const ROOM = '!room:example.org';

async function row<T>(db: Database, sql: string): Promise<T> {
  const { rows } = await db.query<T>(sql, [ALICE]);
  assert.equal(rows.length, 1);
  return rows[0] as T;
}

forEachBackend('rows with the stream id of their latest change', (b) => {
  test('a write committed after a newer one keeps its content and the newer stream id', async (t) => {
    const db = await b.fresh(t);
    const pushRules = new PushRulesStore(db);
    await pushRules.put(ALICE, { v: 'newer id' }, 12);
    await pushRules.put(ALICE, { v: 'committed last' }, 3);
    const rules = await row<{ rules: unknown; stream_id: number | string }>(db, 'SELECT rules, stream_id FROM push_rules WHERE user_id = $1');
    assert.deepEqual([rules.rules, Number(rules.stream_id)], [{ v: 'committed last' }, 12]);

    const accountData = new AccountDataStore(db);
    await accountData.put(ALICE, '', 'org.example.x', { v: 'newer id' }, 12);
    await accountData.put(ALICE, '', 'org.example.x', { v: 'committed last' }, 3);
    const data = await row<{ content: unknown; stream_id: number | string }>(db, 'SELECT content, stream_id FROM account_data WHERE user_id = $1');
    assert.deepEqual([data.content, Number(data.stream_id)], [{ v: 'committed last' }, 12]);

    const presence = new PresenceStore(db);
    await presence.put({ userId: ALICE, state: 'online', statusMsg: 'newer id', lastActiveTs: 1, currentlyActive: true, streamId: 12 });
    await presence.put({ userId: ALICE, state: 'unavailable', statusMsg: 'committed last', lastActiveTs: 2, currentlyActive: false, streamId: 3 });
    assert.deepEqual(await presence.get(ALICE), { userId: ALICE, state: 'unavailable', statusMsg: 'committed last', lastActiveTs: 2, currentlyActive: false, streamId: 12 });

    const receipts = new ReceiptStore(db);
    const receipt = { roomId: ROOM, receiptType: 'm.read', userId: ALICE, threadId: '' };
    await receipts.put({ ...receipt, eventId: '$newer', ts: 1, streamId: 12 }, 5);
    await receipts.put({ ...receipt, eventId: '$last', ts: 2, streamId: 3 }, 6);
    const read = await row<{ event_id: string; stream_id: number | string }>(db, 'SELECT event_id, stream_id FROM receipts WHERE user_id = $1');
    assert.deepEqual([read.event_id, Number(read.stream_id)], ['$last', 12]);

    const deviceLists = new DeviceListStore(db);
    await deviceLists.markChanged(ALICE, 12);
    await deviceLists.markChanged(ALICE, 3);
    const changed = await row<{ stream_id: number | string }>(db, 'SELECT stream_id FROM device_list_changes WHERE user_id = $1');
    assert.equal(Number(changed.stream_id), 12);

    const positions = await loadUserDataPositions(db, () => 0);
    assert.deepEqual(
      [positions.push_rules, positions.account_data, positions.presence, positions.receipts, positions.device_lists],
      [12, 12, 12, 12, 12],
      'after a restart every stream starts from the larger id',
    );
  });
});
