// The push_rules stream: concurrent changes of one user's rules are all kept, each takes a stream id, and after a
// restart the stream (and the actor system's token) continues from storage, so a client's old token still sees
// later changes.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generateAccessToken, generateDeviceId, hashAccessToken } from '../../src/auth/accessTokens.ts';
import { normaliseConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import type { StreamToken } from '../../src/streams/token.ts';
import { createTestDatabase, forEachBackend } from '../helpers/database.ts';

const RULES = '/_matrix/client/v3/pushrules/global';

async function request(server: RunningServer, method: string, urlPath: string, token: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${server.listeners[0]?.url ?? ''}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${method} ${urlPath}: ${text}`);
  return JSON.parse(text);
}

forEachBackend('push_rules stream', (backend) => {
  test('concurrent changes all kept; positions continue from storage after a restart', async (t) => {
    const database = await createTestDatabase(backend.name);
    t.after(() => database.close());
    const config = normaliseConfig(
      {
        server_name: 'rules.local',
        data_directory: await mkdtemp(path.join(tmpdir(), 'troupe-pushrules-')),
        listeners: [{ port: 0, bind_addresses: ['127.0.0.1'] }],
      } as Parameters<typeof normaliseConfig>[0],
      {},
    );
    const logger = createLogger({ level: 'silent' });
    let server = await startServer(config, logger, { db: database.db });
    try {
      const userId = '@alice:rules.local';
      const deviceId = generateDeviceId();
      const token = generateAccessToken();
      await database.db.query('INSERT INTO users (user_id, password_hash, admin, creation_ts) VALUES ($1, NULL, false, 0)', [userId]);
      await database.db.query('INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, 0)', [userId, deviceId]);
      await database.db.query('INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, 0)', [hashAccessToken(token), userId, deviceId]);
      const start = server.userData.positions().push_rules;

      const names = Array.from({ length: 12 }, (_, i) => `word${i}`);
      await Promise.all(names.map((name) => request(server, 'PUT', `${RULES}/content/${name}`, token, { pattern: name, actions: ['notify'] })));
      const rules = (await request(server, 'GET', `${RULES}/`, token)) as { content: { rule_id: string }[] };
      assert.deepEqual(rules.content.map((r) => r.rule_id).sort(), [...names].sort(), 'no concurrent change is lost');
      const before = server.userData.positions().push_rules;
      assert.equal(before, start + names.length);
      const token0: StreamToken = server.actors.notifier.currentToken();
      assert.equal(token0.get('push_rules'), before, 'the actor system heard of every change');
      await server.close();

      server = await startServer(config, logger, { db: database.db });
      assert.equal(server.userData.positions().push_rules, before);
      assert.equal(server.actors.notifier.currentToken().get('push_rules'), before, 'the initial token starts from storage');
      await request(server, 'PUT', `${RULES}/override/.m.rule.master/enabled`, token, { enabled: true });
      assert.equal(server.userData.positions().push_rules, before + 1);
      const got = await server.userData.collect({
        userId,
        deviceId,
        since: token0,
        to: server.actors.notifier.currentToken(),
        joinedRoomIds: [],
        newlyJoinedRoomIds: [],
        newlyLeftRoomIds: [],
      });
      const event = got.accountData.find((e) => e['type'] === 'm.push_rules') as { content: { global: { override: { enabled: boolean }[] } } } | undefined;
      assert.equal(event?.content.global.override[0]?.enabled, true, 'a token from before the restart gets the later change');
    } finally {
      await server.close();
    }
  });
});
