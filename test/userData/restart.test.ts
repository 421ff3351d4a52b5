// The per-user data streams across a restart, on each backend: every stream starts from what storage holds (so no
// id is handed out twice, even after every to-device message was delivered and deleted), and typing, which lives
// in memory, starts ahead of every token handed out before.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { normaliseConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import { createTestDatabase, forEachBackend } from '../helpers/database.ts';

const V3 = '/_matrix/client/v3';

async function request(server: RunningServer, method: string, urlPath: string, token: string, body?: unknown): Promise<void> {
  const response = await fetch(`${server.listeners[0]?.url ?? ''}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  assert.equal(response.status, 200, `${method} ${urlPath}: ${await response.text()}`);
}

forEachBackend('per-user data streams across a restart', (backend) => {
  test('positions continue from storage; to-device ids are not reused once delivered; typing starts ahead', async (t) => {
    const database = await createTestDatabase(backend.name);
    t.after(() => database.close());
    const config = normaliseConfig(
      {
        server_name: 'restart.local',
        data_directory: await mkdtemp(path.join(tmpdir(), 'troupe-userdata-')),
        listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }],
      } as Parameters<typeof normaliseConfig>[0],
      {},
    );
    const logger = createLogger({ level: 'silent' });
    let server = await startServer(config, logger, { db: database.db });
    try {
      const userId = '@alice:restart.local';
      const deviceId = generateDeviceId();
      const token = generateAccessToken();
      await database.db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, NULL, false, 0)', [userId]);
      await database.db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, 0)', [userId, deviceId]);
      await database.db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, 0)', [hashAccessToken(token), userId, deviceId]);

      await request(server, 'PUT', `${V3}/user/${encodeURIComponent(userId)}/account_data/org.example.x`, token, { x: 1 });
      await request(server, 'PUT', `${V3}/sendToDevice/m.x/t1`, token, { messages: { [userId]: { [deviceId]: { n: 1 } } } });
      await request(server, 'PUT', `${V3}/presence/${encodeURIComponent(userId)}/status`, token, { presence: 'online' });
      const before = server.userData.positions();
      assert.ok(before.account_data >= 1 && before.to_device >= 1 && before.presence >= 1);
      // The message is delivered and acknowledged: its row is deleted.
      const to = server.actors.notifier.currentToken();
      const collectFor = (s: RunningServer, since?: typeof to) =>
        s.userData.collect({
          userId,
          deviceId,
          ...(since ? { since } : {}),
          to: s.actors.notifier.currentToken(),
          joinedRoomIds: [],
          newlyJoinedRoomIds: [],
          newlyLeftRoomIds: [],
        });
      assert.equal((await collectFor(server)).toDevice.length, 1);
      await collectFor(server, to);
      assert.equal((await database.db.query('SELECT 1 FROM to_device_messages')).rows.length, 0);
      await server.close();

      server = await startServer(config, logger, { db: database.db });
      const after = server.userData.positions();
      assert.equal(after.account_data, before.account_data);
      assert.equal(after.to_device, before.to_device, 'the txn ids keep the to-device position');
      assert.equal(after.presence, before.presence);
      assert.ok(after.typing > before.typing, 'typing starts ahead of every earlier token');
      const boot = server.actors.notifier.currentToken();
      assert.equal(boot.get('account_data'), after.account_data, 'the actor system starts from the same positions');
      assert.equal(boot.get('typing'), after.typing);

      await request(server, 'PUT', `${V3}/sendToDevice/m.x/t2`, token, { messages: { [userId]: { [deviceId]: { n: 2 } } } });
      assert.equal(server.userData.positions().to_device, before.to_device + 1);
      const got = await collectFor(server, to);
      assert.deepEqual(got.toDevice.map((m) => m['content']), [{ n: 2 }], 'a client with the old token gets only the new message');
    } finally {
      await server.close();
    }
  });
});
