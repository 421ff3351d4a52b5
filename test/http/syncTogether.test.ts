// /syncs computed together share their reads (src/sync/batch.ts): each response must still get only its own answers.
// Transaction ids go to the device that sent the event and to no other; an ignored-user list applies to its owner
// only; every initial sync carries its own user's push rules; each user's presence is set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import type { TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, join, newUsers, suiteServer } from '../rooms/client.ts';
import { joinedRoom, sync } from '../sync/client.ts';

forEachBackend('syncs answered together', (backend) => {
  const server = suiteServer(backend.name);

  test('each response gets its own txn ids, ignored users and push rules', async () => {
    const s = server();
    const [alice, bob, carol] = await newUsers(s, 'alice', 'bob', 'carol');
    const login = await call(s, 'POST', `${V3}/login`, undefined, {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: alice.userId },
      password: alice.password,
    });
    const aliceElsewhere: TestUser = { ...alice, accessToken: login['access_token'] as string, deviceId: login['device_id'] as string };
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await join(s, carol, roomId);
    await call(s, 'PUT', `${V3}/user/${enc(carol.userId)}/account_data/m.ignored_user_list`, carol, { ignored_users: { [bob.userId]: {} } });
    await call(s, 'PUT', `${V3}/pushrules/global/content/mine`, bob, { pattern: 'cake', actions: ['notify'] });
    const send = async (user: TestUser, txnId: string, body: string) =>
      (await call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/${txnId}`, user, { msgtype: 'm.text', body }))['event_id'] as string;
    const fromAlice = await send(alice, 'alice-txn', 'from alice');
    const fromBob = await send(bob, 'bob-txn', 'from bob');

    const [a, a2, b, c] = await Promise.all([sync(s, alice), sync(s, aliceElsewhere), sync(s, bob), sync(s, carol)]);
    const txnOf = (body: Awaited<ReturnType<typeof sync>>) =>
      Object.fromEntries(joinedRoom(body, roomId).timeline.events.filter((e) => e.type === 'm.room.message').map((e) => [e.event_id, e.unsigned?.['transaction_id']]));
    assert.deepEqual(txnOf(a), { [fromAlice]: 'alice-txn', [fromBob]: undefined });
    assert.deepEqual(txnOf(a2), { [fromAlice]: undefined, [fromBob]: undefined }, 'another device of the sender gets no txn id');
    assert.deepEqual(txnOf(b), { [fromAlice]: undefined, [fromBob]: 'bob-txn' });
    assert.deepEqual(txnOf(c), { [fromAlice]: undefined }, "carol ignores bob: his message is not served to her");

    const contentRules = (body: Awaited<ReturnType<typeof sync>>) => {
      const rules = body.account_data.events.find((e) => e.type === 'm.push_rules')?.content as { global: { content: { rule_id: string }[] } } | undefined;
      assert.ok(rules, 'an initial sync carries m.push_rules');
      return rules.global.content.map((r) => r.rule_id);
    };
    assert.ok(contentRules(b).includes('mine'));
    assert.ok(!contentRules(a).includes('mine'), "bob's rule is not alice's");
    assert.ok(!contentRules(c).includes('mine'), "bob's rule is not carol's");

    for (const user of [alice, bob, carol]) {
      const presence = await call(s, 'GET', `${V3}/presence/${enc(user.userId)}/status`, alice);
      assert.equal(presence['presence'], 'online', `${user.userId} is online after syncing`);
    }
  });
});
