// The Client-Server API as application services use it, over real HTTP on each backend: as_token
// authentication and `user_id` assertion, registration of namespaced users, exclusive namespaces refused to
// ordinary users, the `ts` parameter, ping, and the homeserver -> service alias and user queries.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { startTestServer, type TestServer, type TestUser } from '../helpers/server.ts';
import { V3, call, createRoom, enc, fails, newUser } from '../rooms/client.ts';
import { startFakeService, writeRegistration, type FakeService } from './fakeService.ts';

const PING = (id: string) => `/_matrix/client/v1/appservice/${enc(id)}/ping`;

function tokenUser(token: string, userId = ''): TestUser {
  return { accessToken: token, userId, deviceId: '', password: '' };
}

let counter = 0;
const unique = (prefix: string) => `${prefix}${++counter}_${process.pid}`;

forEachBackend('appservice Client-Server API', (backend) => {
  let server: TestServer | undefined;
  let service: FakeService | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    service = await startFakeService();
    const files = [
      await writeRegistration({ url: service.url, protocols: ['irc'] }),
      await writeRegistration({
        id: 'other',
        url: null,
        asToken: 'other-as-token',
        hsToken: 'other-hs-token',
        senderLocalpart: 'otherbot',
        users: [{ regex: '@other_.*', exclusive: false }],
        aliases: [],
      }),
    ];
    // Registration is closed to ordinary users: services register theirs anyway.
    server = await startTestServer(
      { after: (fn) => cleanups.push(fn) },
      { backend: backend.name, config: { app_service_config_files: files, enable_registration: false } },
    );
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await service?.close();
  });
  const s = () => server as TestServer;
  const svc = () => service as FakeService;
  const as = () => tokenUser('as-secret-token', `@bridgebot:${s().serverName}`);

  async function registerBridged(localpart: string): Promise<string> {
    const res = await call(s(), 'POST', `${V3}/register`, as(), { type: 'm.login.application_service', username: localpart, inhibit_login: true });
    return res['user_id'] as string;
  }

  test('the as_token acts as the sender; user_id asserts a registered user in the namespace, nobody else', async () => {
    const who = await call(s(), 'GET', `${V3}/account/whoami`, as());
    assert.equal(who['user_id'], `@bridgebot:${s().serverName}`);
    assert.equal(who['device_id'], undefined);
    // The token in the query string works too.
    const viaQuery = await s().request('GET', `${V3}/account/whoami?access_token=as-secret-token`);
    assert.equal(viaQuery.status, 200);

    const bridged = await registerBridged(unique('bridge_'));
    const asserted = await call(s(), 'GET', `${V3}/account/whoami?user_id=${enc(bridged)}`, as());
    assert.equal(asserted['user_id'], bridged);
    await fails(s(), 'GET', `${V3}/account/whoami?user_id=${enc(`@${unique('bridge_')}:${s().serverName}`)}`, as(), undefined, 403, 'M_FORBIDDEN');
    const alice = await newUser(s(), 'alice');
    await fails(s(), 'GET', `${V3}/account/whoami?user_id=${enc(alice.userId)}`, as(), undefined, 403, 'M_FORBIDDEN');
    await fails(s(), 'GET', `${V3}/account/whoami?user_id=${enc('@bridge_x:elsewhere.test')}`, as(), undefined, 403, 'M_FORBIDDEN');
    // An ordinary user's user_id is ignored.
    const own = await call(s(), 'GET', `${V3}/account/whoami?user_id=${enc(bridged)}`, alice);
    assert.equal(own['user_id'], alice.userId);
  });

  test('m.login.application_service registers users in the namespace only', async () => {
    const localpart = unique('bridge_');
    const res = await call(s(), 'POST', `${V3}/register`, as(), { type: 'm.login.application_service', username: localpart });
    assert.equal(res['user_id'], `@${localpart}:${s().serverName}`);
    assert.equal(typeof res['access_token'], 'string');
    const body = (username: string) => ({ type: 'm.login.application_service', username });
    await fails(s(), 'POST', `${V3}/register`, as(), body(localpart), 400, 'M_USER_IN_USE');
    await fails(s(), 'POST', `${V3}/register`, as(), body(unique('plain')), 400, 'M_EXCLUSIVE');
    await fails(s(), 'POST', `${V3}/register`, as(), body('bridge_ bad'), 400, 'M_INVALID_USERNAME');
    await fails(s(), 'POST', `${V3}/register`, undefined, body(unique('bridge_')), 401, 'M_MISSING_TOKEN');
    await fails(s(), 'POST', `${V3}/register`, tokenUser('nope'), body(unique('bridge_')), 401, 'M_UNKNOWN_TOKEN');
    // Another service may not take a user the first claims exclusively, even one its own (shared) regex covers.
    await fails(s(), 'POST', `${V3}/register`, tokenUser('other-as-token'), body(unique('bridge_')), 400, 'M_EXCLUSIVE');
    await call(s(), 'POST', `${V3}/register`, tokenUser('other-as-token'), { ...body(unique('other_')), inhibit_login: true });
  });

  test('m.login.application_service logs in a registered user of the namespace with the as_token', async () => {
    const flows = await call(s(), 'GET', `${V3}/login`, undefined);
    assert.ok((flows['flows'] as { type: string }[]).some((f) => f.type === 'm.login.application_service'));
    const bridged = await registerBridged(unique('bridge_'));
    const login = (user: string) => ({ type: 'm.login.application_service', identifier: { type: 'm.id.user', user } });
    const res = await call(s(), 'POST', `${V3}/login`, as(), login(bridged));
    assert.equal(res['user_id'], bridged);
    const who = await call(s(), 'GET', `${V3}/account/whoami`, tokenUser(res['access_token'] as string));
    assert.equal(who['user_id'], bridged);
    assert.equal(who['device_id'], res['device_id']);
    const alice = await newUser(s(), 'alice');
    await fails(s(), 'POST', `${V3}/login`, as(), login(alice.userId), 403, 'M_FORBIDDEN');
    await fails(s(), 'POST', `${V3}/login`, as(), login(`@${unique('bridge_')}:${s().serverName}`), 403, 'M_FORBIDDEN');
    await fails(s(), 'POST', `${V3}/login`, undefined, login(bridged), 401, 'M_MISSING_TOKEN');
    await fails(s(), 'POST', `${V3}/login`, alice, login(bridged), 401, 'M_UNKNOWN_TOKEN');
  });

  test('exclusive user namespaces are refused to ordinary registration', async () => {
    const open = await startTestServer(
      { after: (fn) => cleanups.push(fn) },
      { backend: backend.name, config: { app_service_config_files: [await writeRegistration({ url: null })] } },
    );
    await fails(open, 'POST', `${V3}/register`, undefined, { username: unique('bridge_'), password: 'pw', auth: { type: 'm.login.dummy' } }, 400, 'M_EXCLUSIVE');
    await fails(open, 'GET', `${V3}/register/available?username=${unique('bridge_')}`, undefined, undefined, 400, 'M_EXCLUSIVE');
    await call(open, 'GET', `${V3}/register/available?username=${unique('plain')}`, undefined);
  });

  test('ts sets origin_server_ts of a service\'s events (send and state); bad ts is M_INVALID_PARAM; users cannot', async () => {
    const alice = await newUser(s(), 'alice');
    const roomId = await createRoom(s(), alice, { preset: 'public_chat' });
    const bridged = await registerBridged(unique('bridge_'));
    const asBridged = `user_id=${enc(bridged)}`;
    await call(s(), 'POST', `${V3}/join/${enc(roomId)}?${asBridged}`, as(), {});
    const sent = await call(s(), 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/t1?${asBridged}&ts=1234567890`, as(), { msgtype: 'm.text', body: 'old' });
    const event = await call(s(), 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(sent['event_id'] as string)}`, alice);
    assert.equal(event['origin_server_ts'], 1234567890);
    assert.equal(event['sender'], bridged);
    const state = await call(s(), 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic?ts=1000`, alice, { topic: 'x' });
    const topic = await call(s(), 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(state['event_id'] as string)}`, alice);
    assert.notEqual(topic['origin_server_ts'], 1000, 'an ordinary user\'s ts is ignored');
    await fails(s(), 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/t2?${asBridged}&ts=yesterday`, as(), { body: 'x' }, 400, 'M_INVALID_PARAM');
    await fails(s(), 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic?ts=-5`, tokenUser('as-secret-token'), { topic: 'x' }, 400, 'M_INVALID_PARAM');
  });

  test('exclusive alias namespaces are refused to ordinary users, allowed to their service', async () => {
    const alice = await newUser(s(), 'alice');
    const roomId = await createRoom(s(), alice, { preset: 'public_chat' });
    const name = unique('bridge_');
    await fails(s(), 'PUT', `${V3}/directory/room/${enc(`#${name}:${s().serverName}`)}`, alice, { room_id: roomId }, 400, 'M_EXCLUSIVE');
    await fails(s(), 'POST', `${V3}/createRoom`, alice, { room_alias_name: unique('bridge_') }, 400, 'M_EXCLUSIVE');
    await call(s(), 'POST', `${V3}/join/${enc(roomId)}`, as(), {});
    await call(s(), 'PUT', `${V3}/directory/room/${enc(`#${name}:${s().serverName}`)}`, as(), { room_id: roomId });
    const resolved = await call(s(), 'GET', `${V3}/directory/room/${enc(`#${name}:${s().serverName}`)}`, alice);
    assert.equal(resolved['room_id'], roomId);
  });

  test('an unknown alias in a namespace is asked of the service, which may create it', async () => {
    const alice = await newUser(s(), 'alice');
    const roomId = await createRoom(s(), alice, { preset: 'public_chat' });
    await call(s(), 'POST', `${V3}/join/${enc(roomId)}`, as(), {});
    const made = `#${unique('bridge_')}:${s().serverName}`;
    const missing = `#${unique('bridge_')}:${s().serverName}`;
    svc().onAliasQuery = async (alias) => {
      if (alias !== made) return false;
      await call(s(), 'PUT', `${V3}/directory/room/${enc(alias)}`, as(), { room_id: roomId });
      return true;
    };
    const resolved = await call(s(), 'GET', `${V3}/directory/room/${enc(made)}`, alice);
    assert.equal(resolved['room_id'], roomId);
    const query = svc().requests.find((r) => r.url === `/_matrix/app/v1/rooms/${enc(made)}`);
    assert.equal(query?.authorization, 'Bearer hs-secret-token');
    await fails(s(), 'GET', `${V3}/directory/room/${enc(missing)}`, alice, undefined, 404, 'M_NOT_FOUND');
    // Joining by an alias the service creates on demand.
    const joinable = `#${unique('bridge_')}:${s().serverName}`;
    svc().onAliasQuery = async (alias) => {
      await call(s(), 'PUT', `${V3}/directory/room/${enc(alias)}`, as(), { room_id: roomId });
      return alias === joinable;
    };
    const bob = await newUser(s(), 'bob');
    const joined = await call(s(), 'POST', `${V3}/join/${enc(joinable)}`, bob, {});
    assert.equal(joined['room_id'], roomId);
  });

  test('the profile or invite of an unknown user in a namespace is asked of the service', async () => {
    const alice = await newUser(s(), 'alice');
    const created = `@${unique('bridge_')}:${s().serverName}`;
    svc().onUserQuery = async (userId) => {
      if (userId !== created) return false;
      await registerBridged(userId.slice(1, userId.indexOf(':')));
      return true;
    };
    const profile = await call(s(), 'GET', `${V3}/profile/${enc(created)}`, alice);
    assert.equal(typeof profile['displayname'], 'string');
    // An invite of an unknown namespaced user asks too, and the service creates the user before the invite.
    const invited = `@${unique('bridge_')}:${s().serverName}`;
    svc().onUserQuery = async (userId) => {
      if (userId !== invited) return false;
      await registerBridged(userId.slice(1, userId.indexOf(':')));
      return true;
    };
    const roomId = await createRoom(s(), alice);
    await call(s(), 'POST', `${V3}/rooms/${enc(roomId)}/invite`, alice, { user_id: invited });
    assert.ok(svc().requests.some((r) => r.url === `/_matrix/app/v1/users/${enc(invited)}`));
    const { rows } = await s().running.db.query('SELECT user_id FROM users WHERE user_id = $1', [invited]);
    assert.equal(rows.length, 1);
    await fails(s(), 'GET', `${V3}/profile/${enc(`@${unique('bridge_')}:${s().serverName}`)}`, alice, undefined, 404, 'M_NOT_FOUND');
  });

  test('ping: duration_ms from the service, the spec errors for everything else', async () => {
    svc().pingMode = 'ok';
    const ok = await call(s(), 'POST', PING('bridge'), as(), { transaction_id: 'probe1' });
    assert.equal(typeof ok['duration_ms'], 'number');
    const request = svc().requests.findLast((r) => r.url === '/_matrix/app/v1/ping');
    assert.equal(request?.authorization, 'Bearer hs-secret-token');
    assert.deepEqual(JSON.parse(request?.body ?? ''), { transaction_id: 'probe1' });

    svc().pingMode = 500;
    const bad = await fails(s(), 'POST', PING('bridge'), as(), {}, 502, 'M_BAD_STATUS');
    assert.equal(bad['status'], 500);
    svc().pingMode = 'reset';
    await fails(s(), 'POST', PING('bridge'), as(), {}, 502, 'M_CONNECTION_FAILED');
    svc().pingMode = 'ok';
    await fails(s(), 'POST', PING('other'), as(), {}, 403, 'M_FORBIDDEN');
    await fails(s(), 'POST', PING('other'), tokenUser('other-as-token'), {}, 400, 'M_URL_NOT_SET');
    const alice = await newUser(s(), 'alice');
    await fails(s(), 'POST', PING('bridge'), alice, {}, 403, 'M_FORBIDDEN');
    await fails(s(), 'POST', PING('bridge'), undefined, {}, 401, 'M_MISSING_TOKEN');
    await fails(s(), 'POST', PING('bridge'), as(), { transaction_id: 5 }, 400, 'M_BAD_JSON');
  });

  test('third-party lookups are answered by the services that registered the protocol', async () => {
    const alice = await newUser(s(), 'alice');
    svc().thirdParty.set('protocol/irc', {
      user_fields: ['network', 'nickname'],
      location_fields: ['network', 'channel'],
      icon: 'mxc://example.org/irc',
      field_types: {
        network: { regexp: '([a-z0-9]+\\.)*[a-z0-9]+', placeholder: 'irc.example.org' },
        nickname: { regexp: '[^\\s#]+', placeholder: 'alice' },
        channel: { regexp: '#[^\\s]+', placeholder: '#room' },
      },
      instances: [{ desc: 'Example IRC', fields: { network: 'irc.example.org' }, network_id: 'example' }],
    });
    const location = { alias: `#bridge_irc_room:${s().serverName}`, protocol: 'irc', fields: { network: 'irc.example.org', channel: '#room' } };
    const user = { userid: `@bridge_irc_alice:${s().serverName}`, protocol: 'irc', fields: { network: 'irc.example.org', nickname: 'alice' } };
    svc().thirdParty.set('location/irc', [location]);
    svc().thirdParty.set('user/irc', [user]);
    svc().thirdParty.set('location', [location]);
    svc().thirdParty.set('user', [user]);

    const protocols = await call(s(), 'GET', `${V3}/thirdparty/protocols`, alice);
    const irc = protocols['irc'] as { instances: { instance_id: string }[] };
    assert.deepEqual(irc.instances.map((i) => i.instance_id), ['bridge|example']);
    const one = await call(s(), 'GET', `${V3}/thirdparty/protocol/irc`, alice);
    assert.deepEqual(one, irc);
    await fails(s(), 'GET', `${V3}/thirdparty/protocol/xmpp`, alice, undefined, 404, 'M_NOT_FOUND');
    assert.deepEqual(await call(s(), 'GET', `${V3}/thirdparty/location/irc?channel=${enc('#room')}`, alice), [location]);
    const forwarded = svc().requests.findLast((r) => r.url.startsWith('/_matrix/app/v1/thirdparty/location/irc'));
    assert.equal(forwarded?.url, `/_matrix/app/v1/thirdparty/location/irc?channel=${enc('#room')}`);
    assert.equal(forwarded?.authorization, 'Bearer hs-secret-token');
    assert.deepEqual(await call(s(), 'GET', `${V3}/thirdparty/user/irc?nickname=alice`, alice), [user]);
    assert.deepEqual(await call(s(), 'GET', `${V3}/thirdparty/location?alias=${enc(location.alias)}`, alice), [location]);
    assert.deepEqual(await call(s(), 'GET', `${V3}/thirdparty/user?userid=${enc(user.userid)}`, alice), [user]);
    await fails(s(), 'GET', `${V3}/thirdparty/location`, alice, undefined, 400, 'M_MISSING_PARAM');
    await fails(s(), 'GET', `${V3}/thirdparty/protocols`, undefined, undefined, 401, 'M_MISSING_TOKEN');
    // A failing service is left out, not a failure.
    svc().thirdParty.delete('user/irc');
    assert.deepEqual(await call(s(), 'GET', `${V3}/thirdparty/user/irc?nickname=bob`, alice), []);
  });

  test('a successful ping retries a DOWN service at once', async () => {
    const alice = await newUser(s(), 'alice');
    const roomId = await createRoom(s(), alice, { preset: 'public_chat' });
    const bridged = tokenUser('as-secret-token');
    await call(s(), 'POST', `${V3}/join/${enc(roomId)}`, bridged, {});
    await svc().waitForEvents((events) => events.some((e) => e['room_id'] === roomId && e['type'] === 'm.room.member'));
    svc().mode = 500;
    await call(s(), 'PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/p1`, alice, { msgtype: 'm.text', body: 'while down' });
    // Wait until the actor is DOWN (its first retry is 2 s away).
    for (let i = 0; i < 200 && s().running.admin.list().find((r) => r.id === 'as:bridge')?.figures['status'] !== 'down'; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(s().running.admin.list().find((r) => r.id === 'as:bridge')?.figures['status'], 'down');
    svc().mode = 'ok';
    svc().pingMode = 'ok';
    const started = Date.now();
    await call(s(), 'POST', PING('bridge'), as(), {});
    await svc().waitForEvents((events) => events.some((e) => bodyOf(e['content']) === 'while down'), 1500);
    assert.ok(Date.now() - started < 1500, 'delivered before the 2 s back-off would have');
  });
});

function bodyOf(content: unknown): unknown {
  return (content as { body?: unknown } | undefined)?.body;
}
