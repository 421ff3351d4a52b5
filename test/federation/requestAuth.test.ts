// X-Matrix request authentication: header parsing, signing, and every way a request is refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MatrixError } from '../../src/http/errors.ts';
import { authenticateRequest, parseXMatrix, signRequest, type RequestAuthOptions } from '../../src/federation/requestAuth.ts';
import { generateSigningKey, type VerifyKey } from '../../src/protocol/signing.ts';

describe('parseXMatrix', () => {
  test('quoted and unquoted values, any case of names, spaces around commas', () => {
    assert.deepEqual(parseXMatrix('X-Matrix origin=origin.example.com,destination=dest.example.com,key="ed25519:key1",sig="ABC/+"'), {
      origin: 'origin.example.com',
      destination: 'dest.example.com',
      key: 'ed25519:key1',
      sig: 'ABC/+',
    });
    assert.deepEqual(parseXMatrix('x-matrix  Origin="a.example:8448" , KEY=ed25519:k , Sig=xyz'), {
      origin: 'a.example:8448',
      key: 'ed25519:k',
      sig: 'xyz',
    });
  });

  test('backslash escapes in quoted values', () => {
    assert.equal(parseXMatrix('X-Matrix origin="a\\"b",key="k",sig="s"')?.origin, 'a"b');
  });

  test('other schemes, missing parameters, duplicates and junk are refused', () => {
    assert.equal(parseXMatrix('Bearer abc'), undefined);
    assert.equal(parseXMatrix('X-Matrix origin=a,key=b'), undefined);
    assert.equal(parseXMatrix('X-Matrix origin=a,origin=b,key=k,sig=s'), undefined);
    assert.equal(parseXMatrix('X-Matrix origin="a,key=k,sig=s'), undefined);
    assert.equal(parseXMatrix('X-Matrix'), undefined);
  });

  test('signRequest produces a header parseXMatrix reads back', () => {
    const key = generateSigningKey('k1');
    const header = signRequest({ method: 'GET', uri: '/x', origin: 'remote.example:8448', destination: 'us.example', key });
    const parsed = parseXMatrix(header);
    assert.equal(parsed?.origin, 'remote.example:8448');
    assert.equal(parsed?.destination, 'us.example');
    assert.equal(parsed?.key, 'ed25519:k1');
    assert.match(parsed?.sig ?? '', /^[A-Za-z0-9+/]{86}$/);
  });
});

describe('authenticateRequest', () => {
  const remoteKey = generateSigningKey('r1');
  const remote = 'remote.example';
  const us = 'us.example';
  const now = 1_700_000_000_000;

  function setup(overrides: Partial<RequestAuthOptions> = {}, validUntilTs?: number) {
    const up: string[] = [];
    const asked: { server: string; minimum: number; keyIds: readonly string[] }[] = [];
    const options: RequestAuthOptions = {
      serverName: us,
      keys: {
        async getVerifyKeys(server, minimum, keyIds = []) {
          asked.push({ server, minimum, keyIds });
          const key: VerifyKey = validUntilTs === undefined ? { key: remoteKey.publicKey } : { key: remoteKey.publicKey, validUntilTs };
          return server === remote ? new Map([[remoteKey.keyId, key]]) : new Map();
        },
      },
      remoteUp: (server) => up.push(server),
      now: () => now,
      ...overrides,
    };
    return { options, up, asked };
  }

  const sign = (method: string, uri: string, content?: unknown, destination = us, key = remoteKey, origin = remote) =>
    signRequest({ method, uri, origin, destination, key, ...(content !== undefined ? { content: content as never } : {}) });

  async function refused(promise: Promise<unknown>, status: number, errcode: string): Promise<void> {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof MatrixError, String(error));
      assert.equal(error.status, status);
      assert.equal(error.errcode, errcode);
      return true;
    });
  }

  test('a correctly signed request passes, reports the origin up and asks for keys valid now', async () => {
    const { options, up, asked } = setup();
    const uri = '/_matrix/federation/v1/send/1?x=1';
    const content = { pdus: [], edus: [{ edu_type: 'm.typing', content: { n: 15 } }] };
    const origin = await authenticateRequest({ method: 'PUT', uri, authorization: [sign('PUT', uri, content)], content }, options);
    assert.equal(origin, remote);
    assert.deepEqual(up, [remote]);
    assert.deepEqual(asked, [{ server: remote, minimum: now, keyIds: [remoteKey.keyId] }]);
  });

  test('a request without the destination parameter (older servers) is checked against our name', async () => {
    const { options } = setup();
    const header = sign('GET', '/a').replace(/,destination="[^"]*"/, '');
    assert.equal(await authenticateRequest({ method: 'GET', uri: '/a', authorization: [header], content: undefined }, options), remote);
  });

  test('missing or malformed headers are 401 M_UNAUTHORIZED', async () => {
    const { options, up, asked } = setup();
    await refused(authenticateRequest({ method: 'GET', uri: '/a', authorization: [], content: undefined }, options), 401, 'M_UNAUTHORIZED');
    await refused(authenticateRequest({ method: 'GET', uri: '/a', authorization: ['Bearer x'], content: undefined }, options), 401, 'M_UNAUTHORIZED');
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: ['X-Matrix origin=a'], content: undefined }, options),
      401,
      'M_UNAUTHORIZED',
    );
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: ['X-Matrix origin="not a name",key=k,sig=s'], content: undefined }, options),
      401,
      'M_UNAUTHORIZED',
    );
    assert.deepEqual(up, []);
    assert.deepEqual(asked, []);
  });

  test('a request for another destination is 401 without asking for keys', async () => {
    const { options, up, asked } = setup();
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a', undefined, 'other.example')], content: undefined }, options),
      401,
      'M_UNAUTHORIZED',
    );
    assert.deepEqual(up, []);
    assert.deepEqual(asked, []);
  });

  test('a signature over something else (method, uri, body) is 401', async () => {
    const { options, up } = setup();
    const header = sign('PUT', '/a', { a: 1 });
    await refused(authenticateRequest({ method: 'POST', uri: '/a', authorization: [header], content: { a: 1 } }, options), 401, 'M_UNAUTHORIZED');
    await refused(authenticateRequest({ method: 'PUT', uri: '/a?b', authorization: [header], content: { a: 1 } }, options), 401, 'M_UNAUTHORIZED');
    await refused(authenticateRequest({ method: 'PUT', uri: '/a', authorization: [header], content: { a: 2 } }, options), 401, 'M_UNAUTHORIZED');
    await refused(authenticateRequest({ method: 'PUT', uri: '/a', authorization: [header], content: undefined }, options), 401, 'M_UNAUTHORIZED');
    assert.deepEqual(up, []);
  });

  test('a key the origin does not have, or another server key, is 401', async () => {
    const { options, up } = setup();
    const stranger = generateSigningKey('r1');
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a', undefined, us, stranger)], content: undefined }, options),
      401,
      'M_UNAUTHORIZED',
    );
    const unknown = generateSigningKey('zz');
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a', undefined, us, unknown)], content: undefined }, options),
      401,
      'M_UNAUTHORIZED',
    );
    await refused(
      authenticateRequest(
        { method: 'GET', uri: '/a', authorization: [sign('GET', '/a', undefined, us, remoteKey, 'unknown.example')], content: undefined },
        options,
      ),
      401,
      'M_UNAUTHORIZED',
    );
    assert.deepEqual(up, []);
  });

  test('an expired key is not trusted', async () => {
    const { options, up } = setup({}, now - 1);
    await refused(authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a')], content: undefined }, options), 401, 'M_UNAUTHORIZED');
    assert.deepEqual(up, []);
  });

  test('content canonical JSON cannot encode (a float) is 400 M_BAD_JSON, not a 500', async () => {
    const { options, up } = setup();
    const header = sign('PUT', '/a', { n: 1 });
    await refused(authenticateRequest({ method: 'PUT', uri: '/a', authorization: [header], content: { n: 1.5 } }, options), 400, 'M_BAD_JSON');
    assert.deepEqual(up, []);
  });

  test('a request claiming to come from ourselves is 401', async () => {
    const { options } = setup();
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a', undefined, us, remoteKey, us)], content: undefined }, options),
      401,
      'M_UNAUTHORIZED',
    );
  });

  test('federation_domain_whitelist: others get 403 M_FORBIDDEN before any key fetch; listed servers pass', async () => {
    const refusedSetup = setup({ domainWhitelist: ['friend.example'] });
    await refused(
      authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a')], content: undefined }, refusedSetup.options),
      403,
      'M_FORBIDDEN',
    );
    assert.deepEqual(refusedSetup.asked, []);
    assert.deepEqual(refusedSetup.up, []);
    const allowed = setup({ domainWhitelist: [remote] });
    assert.equal(await authenticateRequest({ method: 'GET', uri: '/a', authorization: [sign('GET', '/a')], content: undefined }, allowed.options), remote);
  });

  test('several X-Matrix headers: one good signature is enough; mixed origins are refused', async () => {
    const { options } = setup();
    const bad = sign('GET', '/a', undefined, us, generateSigningKey('r1'));
    const good = sign('GET', '/a');
    assert.equal(await authenticateRequest({ method: 'GET', uri: '/a', authorization: [bad, good], content: undefined }, options), remote);
    const other = sign('GET', '/a', undefined, us, remoteKey, 'other.example');
    await refused(authenticateRequest({ method: 'GET', uri: '/a', authorization: [good, other], content: undefined }, options), 401, 'M_UNAUTHORIZED');
  });
});
