import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRegistration } from '../../src/appservice/registration.ts';
import {
  exclusiveServiceForAlias,
  exclusiveServiceForUser,
  findServiceForAlias,
  findServiceForUser,
  isExclusiveAlias,
  isExclusiveRoom,
  isExclusiveUser,
  isInterestedInEvent,
  isInterestedInEventLazily,
  isInterestedInRoom,
  isInterestedInToDevice,
  isInterestedInUser,
  mayActAsUser,
  servicesInterestedInEvent,
  userInNamespace,
} from '../../src/appservice/namespaces.ts';

function registration(id: string, namespaces: string, extra = ''): ReturnType<typeof parseRegistration> {
  const text = `id: ${id}
url: null
as_token: as_${id}
hs_token: hs_${id}
sender_localpart: ${id}bot
namespaces:
${namespaces}
${extra}`;
  return parseRegistration(text, `${id}.yaml`, 'example.org');
}

const irc = registration(
  'irc',
  `  users:
    - exclusive: true
      regex: "@irc_.*:example\\\\.org"
  aliases:
    - exclusive: true
      regex: "#irc_.*:example\\\\.org"
  rooms:
    - exclusive: false
      regex: "!bridged[0-9]+:example\\\\.org"`,
);

// A loose service: shares users with nobody exclusively, claims remote-looking users by a loose regex.
const logger = registration(
  'logger',
  `  users:
    - exclusive: false
      regex: "@irc_.*"
    - exclusive: false
      regex: "@log_.*"
  aliases:
    - exclusive: false
      regex: "#.*"`,
  'receive_ephemeral: true',
);

const message = (fields: Partial<{ type: string; sender: string; room_id: string; state_key: string }>) => ({
  type: 'm.room.message',
  sender: '@alice:example.org',
  room_id: '!plain:example.org',
  ...fields,
});

describe('users', () => {
  test('userInNamespace and isInterestedInUser (which adds the sender)', () => {
    assert.ok(userInNamespace(irc, '@irc_bob:example.org'));
    assert.ok(!userInNamespace(irc, '@alice:example.org'));
    assert.ok(!userInNamespace(irc, '@ircbot:example.org'), 'the sender is not in the namespace');
    assert.ok(isInterestedInUser(irc, '@ircbot:example.org'));
    assert.ok(isInterestedInUser(irc, '@irc_bob:example.org'));
    assert.ok(!isInterestedInUser(irc, '@bob:example.org'));
  });

  test('mayActAsUser: only local users, whatever the regex says', () => {
    assert.ok(mayActAsUser(logger, '@log_1:example.org'));
    assert.ok(!mayActAsUser(logger, '@log_1:remote.example'));
    assert.ok(mayActAsUser(logger, '@loggerbot:example.org'));
    assert.ok(!mayActAsUser(logger, '@alice:example.org'));
  });

  test('exclusive users: the exclusive namespace and the sender', () => {
    assert.ok(isExclusiveUser(irc, '@irc_bob:example.org'));
    assert.ok(isExclusiveUser(irc, '@ircbot:example.org'));
    assert.ok(!isExclusiveUser(irc, '@alice:example.org'));
    assert.ok(!isExclusiveUser(logger, '@log_1:example.org'), 'a shared namespace is not exclusive');
  });

  test('findServiceForUser prefers the exclusive claim; exclusiveServiceForUser refuses ordinary users', () => {
    const regs = [logger, irc];
    assert.equal(findServiceForUser(regs, '@irc_bob:example.org')?.id, 'irc');
    assert.equal(findServiceForUser(regs, '@log_x:example.org')?.id, 'logger');
    assert.equal(findServiceForUser(regs, '@alice:example.org'), undefined);
    assert.equal(exclusiveServiceForUser(regs, '@irc_bob:example.org')?.id, 'irc');
    assert.equal(exclusiveServiceForUser(regs, '@log_x:example.org'), undefined, 'an ordinary user may take it');
    assert.equal(exclusiveServiceForUser(regs, '@loggerbot:example.org')?.id, 'logger');
  });
});

describe('aliases and rooms', () => {
  test('exclusive aliases refuse alias creation by others; findServiceForAlias', () => {
    const regs = [logger, irc];
    assert.ok(isExclusiveAlias(irc, '#irc_chat:example.org'));
    assert.ok(!isExclusiveAlias(irc, '#chat:example.org'));
    assert.ok(!isExclusiveAlias(logger, '#irc_chat:example.org'));
    assert.equal(exclusiveServiceForAlias(regs, '#irc_chat:example.org')?.id, 'irc');
    assert.equal(exclusiveServiceForAlias(regs, '#chat:example.org'), undefined);
    assert.equal(findServiceForAlias(regs, '#irc_chat:example.org')?.id, 'irc');
    assert.equal(findServiceForAlias(regs, '#chat:example.org')?.id, 'logger');
    assert.equal(findServiceForAlias([irc], '#chat:example.org'), undefined);
  });

  test('room namespaces and exclusivity', () => {
    assert.ok(isInterestedInRoom(irc, '!bridged7:example.org', {}));
    assert.ok(!isExclusiveRoom(irc, '!bridged7:example.org'));
    assert.ok(!isInterestedInRoom(irc, '!other:example.org', {}));
  });
});

describe('isInterestedInEvent', () => {
  test('by sender', () => {
    assert.ok(isInterestedInEvent(irc, message({ sender: '@irc_bob:example.org' }), {}));
    assert.ok(isInterestedInEvent(irc, message({ sender: '@ircbot:example.org' }), {}));
    assert.ok(!isInterestedInEvent(irc, message({}), {}));
  });

  test("by a membership event's state_key (its target), not any state event's", () => {
    const invite = message({ type: 'm.room.member', state_key: '@irc_bob:example.org' });
    assert.ok(isInterestedInEvent(irc, invite, {}));
    const other = message({ type: 'org.example.state', state_key: '@irc_bob:example.org' });
    assert.ok(!isInterestedInEvent(irc, other, {}));
  });

  test('by room id', () => {
    assert.ok(isInterestedInEvent(irc, message({ room_id: '!bridged42:example.org' }), {}));
  });

  test('by one of the room aliases', () => {
    assert.ok(isInterestedInEvent(irc, message({}), { aliases: ['#plain:example.org', '#irc_x:example.org'] }));
    assert.ok(!isInterestedInEvent(irc, message({}), { aliases: ['#plain:example.org'] }));
  });

  test('by a joined member of its own, local only', () => {
    assert.ok(isInterestedInEvent(irc, message({}), { joinedMembers: ['@alice:example.org', '@irc_bob:example.org'] }));
    assert.ok(isInterestedInEvent(irc, message({}), { joinedMembers: ['@ircbot:example.org'] }));
    assert.ok(!isInterestedInEvent(irc, message({}), { joinedMembers: ['@alice:example.org'] }));
    // logger's regex "@irc_.*" matches a remote user too, but only local members count.
    assert.ok(!isInterestedInEvent(logger, message({}), { joinedMembers: ['@irc_bob:remote.example'] }));
  });

  test('servicesInterestedInEvent keeps registration order', () => {
    const event = message({ sender: '@irc_bob:example.org' });
    assert.deepEqual(servicesInterestedInEvent([logger, irc], event, {}).map((r) => r.id), ['logger', 'irc']);
    assert.deepEqual(servicesInterestedInEvent([logger, irc], message({}), {}), []);
  });

  test('the lazy form asks for aliases and members only when needed', async () => {
    const asked: string[] = [];
    const lookups = {
      aliases: () => {
        asked.push('aliases');
        return [] as string[];
      },
      joinedMembers: async () => {
        asked.push('members');
        return ['@irc_bob:example.org'];
      },
    };
    assert.equal(await isInterestedInEventLazily(irc, message({ sender: '@irc_x:example.org' }), lookups), true);
    assert.deepEqual(asked, [], 'the sender decided');
    assert.equal(await isInterestedInEventLazily(irc, message({}), lookups), true);
    assert.deepEqual(asked, ['aliases', 'members']);
    asked.length = 0;
    const noAliases = registration('x', '  users: []');
    assert.equal(await isInterestedInEventLazily(noAliases, message({}), lookups), false);
    assert.deepEqual(asked, ['members'], 'no alias namespaces: aliases are not looked up');
  });
});

describe('to-device', () => {
  test('only for services that asked, and only for their local users', () => {
    assert.ok(!isInterestedInToDevice(irc, '@irc_bob:example.org'), 'irc did not ask');
    assert.ok(isInterestedInToDevice(logger, '@log_1:example.org'));
    assert.ok(!isInterestedInToDevice(logger, '@log_1:remote.example'));
  });
});
