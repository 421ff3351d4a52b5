// The timeline over real HTTP on each backend: /messages pagination and filters, /event, redactions, and what
// history_visibility lets each member see.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, createRoom, enc, fails, invite, join, messages, newUser, sendMessage, suiteServer, type ClientEvent } from '../rooms/client.ts';

const bodies = (chunk: unknown) => (chunk as ClientEvent[]).filter((e) => e.type === 'm.room.message').map((e) => e.content['body']);

forEachBackend('room timeline over HTTP', (backend) => {
  const server = suiteServer(backend.name);

  test('messages: backwards and forwards with tokens and limits, end omitted at the edge', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const roomId = await createRoom(s, alice);
    for (let i = 1; i <= 7; i++) await sendMessage(s, alice, roomId, `m${i}`);
    const onlyMessages = enc('{"types":["m.room.message"]}');

    const first = await messages(s, alice, roomId, `dir=b&limit=3&filter=${onlyMessages}`);
    assert.deepEqual(bodies(first['chunk']), ['m7', 'm6', 'm5']);
    assert.equal(typeof first['end'], 'string');
    const second = await messages(s, alice, roomId, `dir=b&limit=3&filter=${onlyMessages}&from=${enc(first['end'] as string)}`);
    assert.deepEqual(bodies(second['chunk']), ['m4', 'm3', 'm2']);
    const third = await messages(s, alice, roomId, `dir=b&limit=3&filter=${onlyMessages}&from=${enc(second['end'] as string)}`);
    assert.deepEqual(bodies(third['chunk']), ['m1']);
    assert.equal(third['end'], undefined, 'no further events: end is omitted');

    // Forwards from the start of the room, in pages, and back again from a forward token.
    const fwd = await messages(s, alice, roomId, `dir=f&limit=4&filter=${onlyMessages}`);
    assert.deepEqual(bodies(fwd['chunk']), ['m1', 'm2', 'm3', 'm4']);
    const fwd2 = await messages(s, alice, roomId, `dir=f&limit=10&filter=${onlyMessages}&from=${enc(fwd['end'] as string)}`);
    assert.deepEqual(bodies(fwd2['chunk']), ['m5', 'm6', 'm7']);
    assert.equal(fwd2['end'], undefined);

    // `to` stops the page.
    const bounded = await messages(s, alice, roomId, `dir=b&limit=10&filter=${onlyMessages}&to=${enc(second['end'] as string)}`);
    assert.deepEqual(bodies(bounded['chunk']), ['m7', 'm6', 'm5', 'm4', 'm3', 'm2']);

    // Default limit is 10; the whole room is create, member, power levels, 3 preset events and 7 messages.
    const all = await messages(s, alice, roomId, 'dir=f&limit=100');
    assert.equal((all['chunk'] as ClientEvent[]).length, 13);
    assert.equal((all['chunk'] as ClientEvent[])[0]?.type, 'm.room.create');
    assert.equal(((await messages(s, alice, roomId, 'dir=b'))['chunk'] as unknown[]).length, 10);
  });

  test('messages: filters (not_types, senders, not_senders) and lazy_load_members', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    await sendMessage(s, alice, roomId, 'from alice');
    await sendMessage(s, bob, roomId, 'from bob');
    await sendMessage(s, bob, roomId, 'custom', 'org.example.custom');
    const q = (filter: object) => `dir=b&limit=20&filter=${enc(JSON.stringify(filter))}`;
    const bobs = await messages(s, alice, roomId, q({ senders: [bob.userId], types: ['m.room.message'] }));
    assert.deepEqual(bodies(bobs['chunk']), ['from bob']);
    const notBob = await messages(s, alice, roomId, q({ not_senders: [bob.userId], types: ['m.room.*'] }));
    assert.ok((notBob['chunk'] as ClientEvent[]).every((e) => e.sender === alice.userId));
    const notCustom = await messages(s, alice, roomId, q({ not_types: ['org.example.custom'] }));
    assert.ok((notCustom['chunk'] as ClientEvent[]).every((e) => e.type !== 'org.example.custom'));
    const lazy = await messages(s, alice, roomId, `dir=b&limit=1&filter=${enc(JSON.stringify({ lazy_load_members: true }))}`);
    assert.deepEqual((lazy['chunk'] as ClientEvent[]).map((e) => e.type), ['org.example.custom']);
    assert.deepEqual((lazy['state'] as ClientEvent[]).map((e) => [e.type, e.state_key]), [['m.room.member', bob.userId]]);
  });

  test('messages: bad parameters and non-members', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice);
    const base = `${V3}/rooms/${enc(roomId)}/messages`;
    await fails(s, 'GET', base, alice, undefined, 400, 'M_MISSING_PARAM');
    await fails(s, 'GET', `${base}?dir=up`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b&from=nonsense`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b&to=s-1`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b&limit=-1`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b&filter=${enc('{not json')}`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b&filter=${enc('{"types":"m.room.message"}')}`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b`, eve, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${V3}/rooms/${enc('!unknown:test.local')}/messages?dir=b`, alice, undefined, 403, 'M_FORBIDDEN');
    await fails(s, 'GET', `${V3}/rooms/${enc('#alias:test.local')}/messages?dir=b`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${base}?dir=b`, undefined, undefined, 401, 'M_MISSING_TOKEN');
  });

  test('context: events around an event, tokens that continue with /messages, state at the last event', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice);
    const ids: string[] = [];
    for (let i = 1; i <= 9; i++) ids.push(await sendMessage(s, alice, roomId, `c${i}`));
    const middle = ids[4] as string;
    const onlyMessages = enc('{"types":["m.room.message"]}');
    const ctx = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/context/${enc(middle)}?limit=4&filter=${onlyMessages}`, alice);
    assert.equal((ctx['event'] as ClientEvent).event_id, middle);
    assert.deepEqual(bodies(ctx['events_before']), ['c4', 'c3']);
    assert.deepEqual(bodies(ctx['events_after']), ['c6', 'c7']);
    assert.ok((ctx['state'] as ClientEvent[]).some((e) => e.type === 'm.room.create'));
    const earlier = await messages(s, alice, roomId, `dir=b&limit=10&filter=${onlyMessages}&from=${enc(ctx['start'] as string)}`);
    assert.deepEqual(bodies(earlier['chunk']), ['c2', 'c1']);
    const later = await messages(s, alice, roomId, `dir=f&limit=10&filter=${onlyMessages}&from=${enc(ctx['end'] as string)}`);
    assert.deepEqual(bodies(later['chunk']), ['c8', 'c9']);
    const zero = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/context/${enc(middle)}?limit=0`, alice);
    assert.deepEqual([zero['events_before'], zero['events_after']], [[], []]);
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/context/${enc(middle)}`, eve, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/context/${enc(middle)}?limit=x`, alice, undefined, 400, 'M_INVALID_PARAM');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/context/bad`, alice, undefined, 400, 'M_INVALID_PARAM');
  });

  test('event: members read it, others and unknown ids get 404', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const eve = await newUser(s, 'eve');
    const roomId = await createRoom(s, alice);
    const eventId = await sendMessage(s, alice, roomId, 'hello');
    const event = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(eventId)}`, alice);
    assert.equal(event['event_id'], eventId);
    assert.equal(event['room_id'], roomId);
    assert.equal(event['sender'], alice.userId);
    assert.equal(typeof (event['unsigned'] as Record<string, unknown>)['age'], 'number');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(eventId)}`, eve, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc('$nothing:test.local')}`, alice, undefined, 404, 'M_NOT_FOUND');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/nothing`, alice, undefined, 400, 'M_INVALID_PARAM');
    const other = await createRoom(s, alice);
    await fails(s, 'GET', `${V3}/rooms/${enc(other)}/event/${enc(eventId)}`, alice, undefined, 404, 'M_NOT_FOUND');
  });

  test('redaction: own events and with power; served redacted with redacted_because; txn idempotent', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await join(s, bob, roomId);
    const aliceMsg = await sendMessage(s, alice, roomId, 'secret');
    const bobMsg = await sendMessage(s, bob, roomId, 'oops');
    const redact = (eventId: string, txn: string) => `${V3}/rooms/${enc(roomId)}/redact/${enc(eventId)}/${txn}`;

    await fails(s, 'PUT', redact(aliceMsg, 'r0'), bob, {}, 403, 'M_FORBIDDEN');
    const own = await call(s, 'PUT', redact(bobMsg, 'r1'), bob, { reason: 'typo' });
    const again = await call(s, 'PUT', redact(bobMsg, 'r1'), bob, { reason: 'typo' });
    assert.equal(again['event_id'], own['event_id']);
    const mod = await call(s, 'PUT', redact(aliceMsg, 'r2'), alice, {});
    assert.match(mod['event_id'] as string, /^\$/);

    const served = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/event/${enc(bobMsg)}`, alice);
    assert.deepEqual(served['content'], {});
    const because = (served['unsigned'] as Record<string, ClientEvent>)['redacted_because'];
    assert.equal(because?.event_id, own['event_id']);
    assert.equal(because?.content['reason'], 'typo');
    const page = await messages(s, bob, roomId, 'dir=b&limit=5');
    const redactions = (page['chunk'] as (ClientEvent & { redacts?: string })[]).filter((e) => e.type === 'm.room.redaction');
    assert.deepEqual(redactions.map((e) => e.redacts).sort(), [aliceMsg, bobMsg].sort());
    const inPage = (page['chunk'] as ClientEvent[]).find((e) => e.event_id === aliceMsg);
    assert.deepEqual(inPage?.content, {});

    await fails(s, 'PUT', redact('nonsense', 'r3'), alice, {}, 400, 'M_INVALID_PARAM');
    await fails(s, 'PUT', redact(aliceMsg, 'r4'), alice, { reason: 5 }, 400, 'M_BAD_JSON');
  });

  test('prev_content only when the replaced state event is visible; replaces_state always', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const roomId = await createRoom(s, alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'joined' } }] });
    const topic = (t: string) => call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic/`, alice, { topic: t });
    const first = await topic('before bob');
    await join(s, bob, roomId);
    await topic('after bob');
    const page = await messages(s, bob, roomId, `dir=b&limit=5&filter=${enc('{"types":["m.room.topic"]}')}`);
    const latest = (page['chunk'] as ClientEvent[])[0];
    assert.equal(latest?.content['topic'], 'after bob');
    assert.equal(latest?.unsigned?.['replaces_state'], first['event_id']);
    assert.equal(latest?.unsigned?.['prev_content'], undefined, 'bob could not see the earlier topic');
    const forAlice = await messages(s, alice, roomId, `dir=b&limit=1&filter=${enc('{"types":["m.room.topic"]}')}`);
    assert.deepEqual((forAlice['chunk'] as ClientEvent[])[0]?.unsigned?.['prev_content'], { topic: 'before bob' });
  });

  test('history visibility: joined, invited, shared and world_readable; a former member sees up to leaving', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    const bob = await newUser(s, 'bob');
    const carol = await newUser(s, 'carol');
    const dave = await newUser(s, 'dave');
    const setVisibility = (v: string) => call(s, 'PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.history_visibility`, alice, { history_visibility: v });
    const roomId = await createRoom(s, alice, { preset: 'public_chat' });
    await setVisibility('joined');
    await sendMessage(s, alice, roomId, 'before bob');
    await invite(s, alice, roomId, bob.userId);
    await sendMessage(s, alice, roomId, 'while bob invited');
    await join(s, bob, roomId);
    await sendMessage(s, alice, roomId, 'after bob joined');
    assert.deepEqual(bodies((await messages(s, bob, roomId))['chunk']).reverse(), ['after bob joined']);

    await setVisibility('invited');
    await invite(s, alice, roomId, carol.userId);
    await sendMessage(s, alice, roomId, 'carol invited');
    await join(s, carol, roomId);
    assert.deepEqual(bodies((await messages(s, carol, roomId))['chunk']).reverse(), ['carol invited']);

    await setVisibility('shared');
    await sendMessage(s, alice, roomId, 'shared 1');
    await join(s, dave, roomId);
    const daveSees = bodies((await messages(s, dave, roomId))['chunk']).reverse();
    // 'carol invited' was sent while history was 'invited' (dave was no member then); shared covers what followed.
    assert.deepEqual(daveSees, ['shared 1'], 'shared: what was sent under shared, though before dave joined');

    await call(s, 'POST', `${V3}/rooms/${enc(roomId)}/leave`, dave, {});
    await sendMessage(s, alice, roomId, 'after dave left');
    const afterLeaving = bodies((await messages(s, dave, roomId))['chunk']).reverse();
    assert.deepEqual(afterLeaving, ['shared 1'], 'nothing sent after dave left');
    const daveState = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(dave.userId)}`, dave);
    assert.equal(daveState['membership'], 'leave');

    const eve = await newUser(s, 'eve');
    await fails(s, 'GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b`, eve, undefined, 403, 'M_FORBIDDEN');
    await setVisibility('world_readable');
    await sendMessage(s, alice, roomId, 'for the world');
    const world = bodies((await messages(s, eve, roomId))['chunk']);
    assert.deepEqual(world.slice(0, 1), ['for the world']);
    const stateForEve = await call(s, 'GET', `${V3}/rooms/${enc(roomId)}/state`, eve);
    assert.ok(Array.isArray(stateForEve));
  });
});
