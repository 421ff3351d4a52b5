import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import {
  checkRegistrationClashes,
  compileNamespaceRegex,
  loadRegistrations,
  parseRegistration,
  RegistrationError,
} from '../../src/appservice/registration.ts';
import type { Registration } from '../../src/appservice/registration.ts';

const AS_TOKEN = 'as_wfh3Qz1vLk9sPq7Yt2Xc';
const HS_TOKEN = 'hs_Mn4Bv8Rt6Yu1Io3Pa5Sd';

function yamlOf(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
}

const IRC = {
  id: 'irc',
  url: '"http://127.0.0.1:9999/"',
  as_token: AS_TOKEN,
  hs_token: HS_TOKEN,
  sender_localpart: '_irc_bot',
  rate_limited: 'false',
  protocols: '[irc]',
  namespaces: `
  users:
    - exclusive: true
      regex: "@_irc_.*:example\\\\.org"
  aliases:
    - exclusive: false
      regex: "#_irc_.*"
  rooms: []`,
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RegistrationError, `expected a RegistrationError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected a RegistrationError');
}

function assertNoTokens(text: string, ...tokens: string[]): void {
  for (const token of [AS_TOKEN, HS_TOKEN, ...tokens]) assert.ok(!text.includes(token), `a token leaked into: ${text}`);
}

describe('parseRegistration: valid files', () => {
  test('loads the standard format', () => {
    const reg = parseRegistration(yamlOf(IRC), 'irc.yaml', 'example.org');
    assert.equal(reg.id, 'irc');
    assert.equal(reg.url, 'http://127.0.0.1:9999', 'no trailing slash');
    assert.equal(reg.asToken, AS_TOKEN);
    assert.equal(reg.hsToken, HS_TOKEN);
    assert.equal(reg.senderLocalpart, '_irc_bot');
    assert.equal(reg.senderUserId, '@_irc_bot:example.org');
    assert.equal(reg.rateLimited, false);
    assert.deepEqual(reg.protocols, ['irc']);
    assert.equal(reg.namespaces.users.length, 1);
    assert.equal(reg.namespaces.users[0]?.exclusive, true);
    assert.equal(reg.namespaces.users[0]?.source, '@_irc_.*:example\\.org');
    assert.equal(reg.namespaces.aliases[0]?.exclusive, false);
    assert.deepEqual(reg.namespaces.rooms, []);
    assert.equal(reg.receiveEphemeral, false);
    assert.equal(reg.receiveToDevice, false);
    assert.equal(reg.file, 'irc.yaml');
  });

  test('url may be null (no pushes); optional keys default as Synapse does', () => {
    const reg = parseRegistration(
      yamlOf({ id: 'x', url: 'null', as_token: 'a1', hs_token: 'h1', sender_localpart: 'xbot', namespaces: '{}' }),
      'x.yaml',
      'example.org',
    );
    assert.equal(reg.url, null);
    assert.equal(reg.rateLimited, true);
    assert.deepEqual(reg.protocols, []);
    assert.deepEqual(reg.namespaces, { users: [], aliases: [], rooms: [] });
  });

  for (const key of ['receive_ephemeral', 'de.sorunome.msc2409.push_ephemeral', 'push_ephemeral']) {
    test(`${key}: true asks for ephemeral data (and to-device, unless push_to_device says otherwise)`, () => {
      const reg = parseRegistration(yamlOf({ ...IRC, [key]: 'true' }), 'irc.yaml', 'example.org');
      assert.equal(reg.receiveEphemeral, true);
      assert.equal(reg.receiveToDevice, true);
    });
  }

  test('push_to_device decides to-device explicitly either way', () => {
    const on = parseRegistration(yamlOf({ ...IRC, push_to_device: 'true' }), 'irc.yaml', 'example.org');
    assert.equal(on.receiveEphemeral, false);
    assert.equal(on.receiveToDevice, true);
    const off = parseRegistration(
      yamlOf({ ...IRC, receive_ephemeral: 'true', push_to_device: 'false' }),
      'irc.yaml',
      'example.org',
    );
    assert.equal(off.receiveEphemeral, true);
    assert.equal(off.receiveToDevice, false);
  });

  test("the spec's example registration loads (an id with a space, empty rooms list)", () => {
    const reg = parseRegistration(
      `id: "IRC Bridge"
url: "http://127.0.0.1:1234"
as_token: "30c05ae90a248a4188e620216fa72e349803310ec83e2a77b34fe90be6081f46"
hs_token: "312df522183efd404ec1cd22d2ffa4bbc76a8c1ccf541dd692eef281356bb74e"
sender_localpart: "_irc_bot"
namespaces:
  users:
    - exclusive: true
      regex: "@_irc_bridge_.*"
  aliases:
    - exclusive: false
      regex: "#_irc_bridge_.*"
  rooms: []
`,
      'spec.yaml',
      'example.org',
    );
    assert.equal(reg.id, 'IRC Bridge');
    assert.equal(reg.namespaces.users[0]?.regex.test('@_irc_bridge_alice:example.org'), true);
  });

  test('vendor keys are allowed; MSC3202 and MSC4190 flags are read', () => {
    const reg = parseRegistration(
      yamlOf({ ...IRC, 'org.matrix.msc3202': 'true', 'io.element.msc4190': 'true', 'com.beeper.anything': '{a: 1}' }),
      'irc.yaml',
      'example.org',
    );
    assert.equal(reg.msc3202, true);
    assert.equal(reg.msc4190, true);
  });

  test('tokens are not enumerable: JSON.stringify and util.inspect never show them', () => {
    const reg = parseRegistration(yamlOf(IRC), 'irc.yaml', 'example.org');
    assertNoTokens(JSON.stringify(reg));
    assertNoTokens(inspect(reg, { depth: 5 }));
    assert.ok(Object.isFrozen(reg));
  });
});

describe('parseRegistration: invalid files name the file and the field, one line per problem', () => {
  test('missing required fields', () => {
    const problems = problemsOf(() => parseRegistration('id: x\nnamespaces: {}\n', 'bad.yaml', 'example.org'));
    assert.deepEqual(problems.sort(), [
      'bad.yaml: as_token: is required',
      'bad.yaml: hs_token: is required',
      'bad.yaml: sender_localpart: is required',
      'bad.yaml: url: is required (a URL, or null for no pushes)',
    ]);
  });

  test('wrong types and values, inside namespaces too', () => {
    const problems = problemsOf(() =>
      parseRegistration(
        yamlOf({
          ...IRC,
          url: 'ftp://example.org',
          rate_limited: '"yes"',
          receive_ephemeral: '1',
          sender_localpart: '"bad:localpart"',
          namespaces: `
  users:
    - regex: "@a_.*"
  rooms:
    - regex: 5
      exclusive: false`,
        }),
        'bad.yaml',
        'example.org',
      ),
    );
    assert.deepEqual(problems.sort(), [
      'bad.yaml: namespaces.rooms[0].regex: must be string',
      'bad.yaml: namespaces.users[0].exclusive: is required',
      'bad.yaml: rate_limited: must be boolean',
      'bad.yaml: receive_ephemeral: must be boolean',
      'bad.yaml: sender_localpart: must contain only a-z, A-Z, 0-9 and . _ = - / +',
      'bad.yaml: url: must be an http or https URL',
    ]);
  });

  test('a regex that does not compile is refused with its field', () => {
    const problems = problemsOf(() =>
      parseRegistration(
        yamlOf({ ...IRC, namespaces: '\n  aliases:\n    - exclusive: true\n      regex: "#(unclosed"' }),
        'bad.yaml',
        'example.org',
      ),
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^bad\.yaml: namespaces\.aliases\[0\]\.regex: does not compile: /);
  });

  test('YAML that does not parse, or is not a mapping', () => {
    const broken = problemsOf(() => parseRegistration(`id: x\nas_token: "${AS_TOKEN}\nurl: [`, 'bad.yaml', 'example.org'));
    assert.equal(broken.length, 1);
    assert.match(broken[0] ?? '', /^bad\.yaml: \(yaml\): .*line \d+, column \d+$/);
    assertNoTokens(broken.join('\n'));
    assert.deepEqual(problemsOf(() => parseRegistration('- a\n- b\n', 'list.yaml', 'example.org')), [
      'list.yaml: (top level): must be a mapping of registration keys',
    ]);
  });

  test('tokens never appear in messages, whatever is wrong around them', () => {
    const cases = [
      // A token in a field that must be a boolean, a URL, a localpart, a namespace list.
      yamlOf({ ...IRC, rate_limited: AS_TOKEN }),
      yamlOf({ ...IRC, url: `"${HS_TOKEN}"` }),
      yamlOf({ ...IRC, sender_localpart: `"${AS_TOKEN}:x"` }),
      yamlOf({ ...IRC, namespaces: `\n  users: ${HS_TOKEN}` }),
      yamlOf({ ...IRC, namespaces: `\n  users:\n    - exclusive: true\n      regex: "(${AS_TOKEN}"` }),
      // A duplicate key on the token's line.
      `${yamlOf(IRC)}\nas_token: ${AS_TOKEN}`,
      `as_token: { ${AS_TOKEN}`,
    ];
    for (const text of cases) {
      const problems = problemsOf(() => parseRegistration(text, 'bad.yaml', 'example.org'));
      assert.ok(problems.length > 0);
      assert.ok(problems.every((p) => p.startsWith('bad.yaml: ')), problems.join('\n'));
      assertNoTokens(problems.join('\n'));
      const error = (() => {
        try {
          parseRegistration(text, 'bad.yaml', 'example.org');
        } catch (e) {
          return e as Error;
        }
        return new Error('parsed');
      })();
      assertNoTokens(`${error.message}\n${error.stack ?? ''}`);
    }
  });
});

describe('namespace regexes are anchored as Synapse does (re.match: at the start only)', () => {
  const compiled = (source: string): RegExp => {
    const regex = compileNamespaceRegex(source);
    assert.ok(regex instanceof RegExp, String(regex));
    return regex;
  };

  test('a match must start at the beginning of the string', () => {
    const regex = compiled('@_irc_.*');
    assert.ok(regex.test('@_irc_alice:example.org'));
    assert.ok(!regex.test('@mallory_@_irc_x:example.org'), 'not found in the middle');
  });

  test('without $, any suffix is allowed (Python re.match does not anchor the end)', () => {
    assert.ok(compiled('@_irc_bot').test('@_irc_bot:example.org'));
    assert.ok(!compiled('@_irc_bot$').test('@_irc_bot:example.org'));
  });

  test('an alternation is anchored as a whole', () => {
    const regex = compiled('@a_.*|@b_.*');
    assert.ok(regex.test('@b_x:hs'));
    assert.ok(!regex.test('@z:hs@b_x'), 'the second branch is anchored too');
  });

  test('a regex with unbalanced groups cannot escape the anchor', () => {
    assert.equal(typeof compileNamespaceRegex('@a)|(@b'), 'string');
  });

  test('Python spellings: (?P<name>...), (?P=name), a leading (?i)', () => {
    assert.ok(compiled('@(?P<p>[a-z]+)_(?P=p):hs').test('@ab_ab:hs'));
    assert.ok(!compiled('@(?P<p>[a-z]+)_(?P=p):hs').test('@ab_cd:hs'));
    assert.ok(compiled('(?i)@IRC_.*').test('@irc_x:hs'));
    assert.equal(typeof compileNamespaceRegex('(?x)@a # comment'), 'string');
  });

  test('escapes JavaScript allows only without the u flag still compile (\\# is common in alias regexes)', () => {
    assert.ok(compiled('\\#_irc_.*:example\\.org').test('#_irc_room:example.org'));
  });

  test('matching is stateless (no g or y flag)', () => {
    const regex = compiled('@a.*');
    assert.ok(regex.test('@a1'));
    assert.ok(regex.test('@a1'));
  });
});

describe('loadRegistrations', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'troupe-as-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(name: string, fields: Record<string, string>): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, yamlOf(fields));
    return file;
  }

  const other = {
    id: 'slack',
    url: 'null',
    as_token: 'as_slack_Zx81',
    hs_token: 'hs_slack_Qw55',
    sender_localpart: 'slackbot',
    namespaces: '{}',
  };

  async function problemsOfLoad(files: string[]): Promise<string[]> {
    try {
      await loadRegistrations(files, 'example.org');
    } catch (error) {
      assert.ok(error instanceof RegistrationError);
      assertNoTokens(`${error.message}\n${error.stack ?? ''}`, other.as_token, other.hs_token);
      return error.problems;
    }
    assert.fail('expected a RegistrationError');
  }

  test('loads several files in order', async () => {
    const regs = await loadRegistrations([await write('irc.yaml', IRC), await write('slack.yaml', other)], 'example.org');
    assert.deepEqual(regs.map((r) => r.id), ['irc', 'slack']);
    assert.equal(regs[1]?.senderUserId, '@slackbot:example.org');
  });

  test('refuses duplicate ids, as_tokens, hs_tokens and sender localparts, naming both files', async () => {
    const a = await write('a.yaml', IRC);
    for (const [field, clash] of [
      ['id', { ...other, id: 'irc' }],
      ['as_token', { ...other, as_token: AS_TOKEN }],
      ['hs_token', { ...other, hs_token: HS_TOKEN }],
      ['sender_localpart', { ...other, sender_localpart: '_irc_bot' }],
    ] as const) {
      const b = await write(`b-${field}.yaml`, clash);
      const problems = await problemsOfLoad([a, b]);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.ok(problems[0]?.startsWith(`${b}: ${field}: `), problems[0]);
      assert.ok(problems[0]?.includes(a), 'names the file that had it first');
    }
  });

  test("refuses a token that doubles as another service's other token", async () => {
    const problems = await problemsOfLoad([
      await write('a.yaml', IRC),
      await write('c.yaml', { ...other, hs_token: AS_TOKEN }),
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /c\.yaml: hs_token: equals the as_token of .*a\.yaml/);
  });

  test('lists every problem of every file at once, and an unreadable file', async () => {
    const bad = await write('bad.yaml', { ...other, id: 'ok', rate_limited: '3' });
    const missing = path.join(dir, 'missing.yaml');
    const problems = await problemsOfLoad([bad, missing]);
    assert.deepEqual(problems, [`${bad}: rate_limited: must be boolean`, `${missing}: (file): cannot read: ENOENT`]);
  });

  test('checkRegistrationClashes is empty for distinct services', async () => {
    const regs: Registration[] = [
      parseRegistration(yamlOf(IRC), 'irc.yaml', 'example.org'),
      parseRegistration(yamlOf(other), 'slack.yaml', 'example.org'),
    ];
    assert.deepEqual(checkRegistrationClashes(regs), []);
  });
});
