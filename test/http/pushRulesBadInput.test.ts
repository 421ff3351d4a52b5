// Bad input to the push rules API: each gets its Matrix error, none a 500, and nothing changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBackend } from '../helpers/database.ts';
import { V3, call, enc, fails, newUser, suiteServer } from '../rooms/client.ts';

const RULES = `${V3}/pushrules/global`;

forEachBackend('push rules bad input', (backend) => {
  const server = suiteServer(backend.name);

  test('bad kinds, ids, bodies, placements and tokens are refused and change nothing', async () => {
    const s = server();
    const alice = await newUser(s, 'alice');
    await call(s, 'PUT', `${RULES}/content/mine`, alice, { pattern: 'mine', actions: ['notify'] });
    const before = await call(s, 'GET', `${V3}/pushrules/`, alice);

    const cases: [string, string, unknown, number, string][] = [
      // kinds and scopes
      ['GET', `${RULES}/nope/x`, undefined, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/nope/x`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['DELETE', `${RULES}/Override/x`, undefined, 400, 'M_INVALID_PARAM'],
      ['GET', `${RULES}/nope/x/enabled`, undefined, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/nope/x/actions`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['GET', `${V3}/pushrules/device/`, undefined, 404, 'M_UNRECOGNIZED'],
      ['POST', `${RULES}/content/mine`, { actions: [] }, 405, 'M_UNRECOGNIZED'],
      ['PUT', `${V3}/pushrules/`, {}, 405, 'M_UNRECOGNIZED'],
      // rule ids
      ['PUT', `${RULES}/override/.mine`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/override/${enc('a/b')}`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/override/${enc('a\\b')}`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/override/${enc('a\u0000b')}`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/room/not-a-room`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/sender/not-a-user`, { actions: [] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/content/.m.rule.contains_user_name`, { pattern: 'x', actions: [] }, 400, 'M_INVALID_PARAM'],
      // bodies
      ['PUT', `${RULES}/override/r`, '[]', 400, 'M_NOT_JSON'],
      ['PUT', `${RULES}/override/r`, 'nope', 400, 'M_NOT_JSON'],
      ['PUT', `${RULES}/override/r`, {}, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: 'notify' }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: [1] }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: ['explode'] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/override/r`, { actions: [{ value: 'x' }] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/override/r`, { actions: [], conditions: {} }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: [], conditions: [{ key: 'type' }] }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: [], conditions: [{ kind: 'event_match', key: 1 }] }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: [], conditions: [{ kind: 'event_property_is', key: 'a', value: { x: 1 } }] }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: [], conditions: [{ kind: 'event_property_is', key: 'a', value: 1.5 }] }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/override/r`, { actions: ['notify', { set_tweak: 'sound', value: 'a\u0000' }] }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/content/r`, { actions: [] }, 400, 'M_MISSING_PARAM'],
      ['PUT', `${RULES}/content/r`, { actions: [], pattern: 7 }, 400, 'M_BAD_JSON'],
      // placement
      ['PUT', `${RULES}/content/r?before=`, { actions: [], pattern: 'r' }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/content/r?before=a&before=b`, { actions: [], pattern: 'r' }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/content/r?after=absent`, { actions: [], pattern: 'r' }, 400, 'M_UNKNOWN'],
      ['PUT', `${RULES}/content/r?before=.m.rule.contains_user_name`, { actions: [], pattern: 'r' }, 400, 'M_INVALID_PARAM'],
      // enabled and actions
      ['PUT', `${RULES}/content/mine/enabled`, {}, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/content/mine/enabled`, { enabled: 'yes' }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/content/mine/actions`, { actions: {} }, 400, 'M_BAD_JSON'],
      ['PUT', `${RULES}/content/mine/actions`, { actions: ['explode'] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/override/.m.rule.master/actions`, { actions: [{}] }, 400, 'M_INVALID_PARAM'],
      ['PUT', `${RULES}/content/absent/enabled`, { enabled: true }, 404, 'M_NOT_FOUND'],
      ['DELETE', `${RULES}/underride/.m.rule.message`, undefined, 400, 'M_INVALID_PARAM'],
    ];
    for (const [method, path, body, status, errcode] of cases) {
      await fails(s, method, path, alice, body, status, errcode);
    }
    await fails(s, 'GET', `${V3}/pushrules/`, undefined, undefined, 401, 'M_MISSING_TOKEN');
    await fails(s, 'PUT', `${RULES}/content/mine/enabled`, undefined, { enabled: false }, 401, 'M_MISSING_TOKEN');
    assert.deepEqual(await call(s, 'GET', `${V3}/pushrules/`, alice), before);
  });
});
