// Secrets never reach the logs: redacted by key at any usual depth, and access tokens stripped from URLs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, redactUrl } from '../src/log.ts';
import { forEachBackend } from './helpers/database.ts';
import { startTestServer } from './helpers/server.ts';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

test('secret keys are redacted at the top level and nested', () => {
  const { lines, stream } = capture();
  const logger = createLogger({ destination: stream });
  logger.info({ password: 'hunter2', body: { access_token: 'tok1', auth: { new_password: 'pw2' } }, as_token: 'astok' }, 'x');
  logger.info({ req: { headers: { authorization: 'Bearer tok3', cookie: 'c' } } }, 'y');
  const text = lines.join('\n');
  for (const secret of ['hunter2', 'tok1', 'pw2', 'astok', 'tok3']) assert.equal(text.includes(secret), false, secret);
  assert.match(text, /<redacted>/);
});

test('access tokens in query strings are replaced', () => {
  assert.equal(redactUrl('/_matrix/client/v3/sync?since=s1&access_token=abc&timeout=0'), '/_matrix/client/v3/sync?since=s1&access_token=<redacted>&timeout=0');
  assert.equal(redactUrl('/x?access_token=abc'), '/x?access_token=<redacted>');
  assert.equal(redactUrl('/_matrix/app/v1/transactions/1?hs_token=zzz'), '/_matrix/app/v1/transactions/1?hs_token=<redacted>');
  assert.equal(redactUrl('/plain?since=1'), '/plain?since=1');
});

forEachBackend('request logs', (backend) => {
  test('a request with a token in its query string is logged without it', async (t) => {
    const { lines, stream } = capture();
    const server = await startTestServer(t, { backend: backend.name, logTo: stream });
    const alice = await server.createUser('alice');
    const response = await server.request('GET', `/_matrix/client/v3/account/whoami?access_token=${alice.accessToken}`);
    assert.equal(response.status, 200);
    // The access log line is written once the response has gone out, so it may trail the client's read.
    for (let i = 0; i < 100 && !lines.some((l) => l.includes('whoami')); i++) await new Promise((r) => setTimeout(r, 10));
    const text = lines.join('\n');
    assert.match(text, /access_token=<redacted>/);
    assert.equal(text.includes(alice.accessToken), false);
  });
});
