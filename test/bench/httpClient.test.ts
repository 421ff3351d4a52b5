import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpConnection } from '../../bench/lib/httpClient.ts';

async function listen(t: TestContext, server: http.Server | net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    if (server instanceof http.Server) server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as net.AddressInfo;
  return `http://127.0.0.1:${port}`;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

/** A raw TCP server that answers each request (read up to its blank line) with what `answer` writes. */
async function rawServer(t: TestContext, answer: (socket: net.Socket, request: string) => Promise<void> | void): Promise<string> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true); // small writes leave as separate segments
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const request = pending.slice(0, end);
      pending = pending.slice(end + 4);
      void answer(socket, request);
    });
    socket.on('error', () => {});
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  return listen(t, server);
}

test('sends method, path, host, authorization, content-type, content-length and the body; answers status and body', async (t) => {
  let seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string } | undefined;
  const base = await listen(
    t,
    http.createServer(async (req, res) => {
      seen = { method: req.method, url: req.url, headers: req.headers, body: await readBody(req) };
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ event_id: '$é' }));
    }),
  );
  const client = new HttpConnection(`${base}/_matrix/client/v3`);
  t.after(() => client.close());
  const body = JSON.stringify({ msgtype: 'm.text', body: 'héllo ☃' });
  const res = await client.request('PUT', '/rooms/!r/send/m.room.message/t1', { authorization: 'Bearer tok', 'content-type': 'application/json' }, body);
  assert.equal(res.status, 201);
  assert.deepEqual(JSON.parse(res.body), { event_id: '$é' });
  assert.equal(seen?.method, 'PUT');
  assert.equal(seen?.url, '/rooms/!r/send/m.room.message/t1');
  assert.equal(seen?.headers.host, new URL(base).host);
  assert.equal(seen?.headers.authorization, 'Bearer tok');
  assert.equal(seen?.headers['content-type'], 'application/json');
  assert.equal(seen?.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(seen?.body, body);
});

test('answers error statuses with their bodies, and 204 with an empty body', async (t) => {
  const base = await listen(
    t,
    http.createServer((req, res) => {
      if (req.url === '/none') res.writeHead(204).end();
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"errcode":"M_UNRECOGNIZED"}');
    }),
  );
  const client = new HttpConnection(base);
  t.after(() => client.close());
  assert.deepEqual(await client.request('GET', '/missing'), { status: 404, body: '{"errcode":"M_UNRECOGNIZED"}' });
  assert.deepEqual(await client.request('DELETE', '/none'), { status: 204, body: '' });
  assert.deepEqual(await client.request('GET', '/missing'), { status: 404, body: '{"errcode":"M_UNRECOGNIZED"}' });
});

test('a response arriving one byte at a time, split inside the status line, headers and body, is put back together', async (t) => {
  const body = '{"next_batch":"s1_2_3","ünï":"côdé"}';
  const response = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const base = await rawServer(t, async (socket) => {
    for (const byte of response) {
      socket.write(Buffer.from([byte]));
      await sleep(1);
    }
  });
  const client = new HttpConnection(base);
  t.after(() => client.close());
  const res = await client.request('GET', '/sync');
  assert.equal(res.status, 200);
  assert.equal(res.body, body);
  // The same socket serves the next request once the split response is complete.
  assert.equal((await client.request('GET', '/sync')).body, body);
});

test('large bodies both ways (8 MiB up, 8 MiB down, over many socket reads)', async (t) => {
  const big = 'x'.repeat(8 * 1024 * 1024 - 3) + 'end';
  let received = '';
  const base = await listen(
    t,
    http.createServer(async (req, res) => {
      received = await readBody(req);
      res.writeHead(200, { 'content-length': String(Buffer.byteLength(big)) }).end(big);
    }),
  );
  const client = new HttpConnection(base);
  t.after(() => client.close());
  const res = await client.request('POST', '/upload', { 'content-type': 'text/plain' }, big);
  assert.equal(received.length, big.length);
  assert.equal(received, big);
  assert.equal(res.status, 200);
  assert.equal(res.body.length, big.length);
  assert.equal(res.body, big);
});

test('connections reading at the same time each get their own bytes', async (t) => {
  const base = await listen(
    t,
    http.createServer((req, res) => {
      const letter = (req.url as string).slice(1);
      res.writeHead(200, { 'content-type': 'text/plain' });
      // Chunked, in pieces, so the connections' reads interleave.
      let left = 16;
      const piece = letter.repeat(64 * 1024);
      const next = () => (left-- > 0 ? res.write(piece, () => setImmediate(next)) : res.end());
      next();
    }),
  );
  const letters = ['a', 'b', 'c', 'd', 'e'];
  const clients = letters.map(() => new HttpConnection(base));
  t.after(() => clients.forEach((c) => c.close()));
  for (let round = 0; round < 2; round++) {
    const bodies = await Promise.all(clients.map((c, i) => c.request('GET', `/${letters[i]}`)));
    bodies.forEach((res, i) => assert.equal(res.body, (letters[i] as string).repeat(16 * 64 * 1024), `connection ${i}`));
  }
});

test('transfer-encoding: chunked responses (written in pieces, with and without trailers)', async (t) => {
  const base = await listen(
    t,
    http.createServer(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', ...(req.url === '/trailers' ? { trailer: 'x-sum' } : {}) });
      for (const part of ['first ', 'sécond ', 'x'.repeat(100_000), ' last']) {
        res.write(part);
        await sleep(2);
      }
      if (req.url === '/trailers') res.addTrailers({ 'x-sum': '4' });
      res.end();
    }),
  );
  const client = new HttpConnection(base);
  t.after(() => client.close());
  const expected = `first sécond ${'x'.repeat(100_000)} last`;
  for (const path of ['/plain', '/trailers', '/plain']) {
    const res = await client.request('GET', path);
    assert.equal(res.status, 200);
    assert.equal(res.body, expected, path);
  }
});

test('keep-alive: 100 requests in turn reuse one connection', async (t) => {
  let connections = 0;
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, body }));
  });
  server.on('connection', () => connections++);
  const base = await listen(t, server);
  const client = new HttpConnection(base);
  t.after(() => client.close());
  for (let i = 0; i < 100; i++) {
    const res = await client.request('PUT', `/send/${i}`, { 'content-type': 'application/json' }, `{"n":${i}}`);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { url: `/send/${i}`, body: `{"n":${i}}` });
  }
  assert.equal(connections, 1);
});

test('the server closing the socket before answering rejects the request clearly; the next request reconnects', async (t) => {
  let requests = 0;
  const base = await rawServer(t, (socket) => {
    if (++requests === 1) {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      setImmediate(() => socket.destroy());
    } else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = new HttpConnection(base);
  t.after(() => client.close());
  await assert.rejects(client.request('GET', '/a'), /closed before the response was complete \(3 bytes of it received\)/);
  assert.deepEqual(await client.request('GET', '/b'), { status: 200, body: 'ok' });
});

test('an idle socket closed by the server, or answered with connection: close, is replaced on the next request', async (t) => {
  let connections = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/bye') res.setHeader('connection', 'close');
    res.writeHead(200, { 'content-length': '2' }).end('ok');
  });
  server.on('connection', () => connections++);
  const base = await listen(t, server);
  const client = new HttpConnection(base);
  t.after(() => client.close());
  assert.equal((await client.request('GET', '/one')).body, 'ok');
  server.closeIdleConnections();
  await sleep(20);
  assert.equal((await client.request('GET', '/two')).body, 'ok');
  assert.equal((await client.request('GET', '/bye')).body, 'ok');
  assert.equal((await client.request('GET', '/three')).body, 'ok');
  assert.equal(connections, 3);
});

test('bytes sent with no request in flight fail the next request, which says so; the one after reconnects', async (t) => {
  const base = await rawServer(t, async (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    await sleep(10);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = new HttpConnection(base);
  t.after(() => client.close());
  assert.deepEqual(await client.request('GET', '/a'), { status: 200, body: 'ok' });
  await sleep(40);
  await assert.rejects(client.request('GET', '/b'), /sent 40 bytes with no request in flight/);
  assert.deepEqual(await client.request('GET', '/c'), { status: 200, body: 'ok' });
});

test('close() rejects the request in flight', async (t) => {
  const base = await rawServer(t, () => {}); // never answers
  const client = new HttpConnection(base);
  const pending = client.request('GET', '/sync?timeout=30000');
  await sleep(20);
  client.close();
  await assert.rejects(pending, /closed before the response was complete/);
});

test('a second request while one is in flight is refused', async (t) => {
  const base = await rawServer(t, async (socket) => {
    await sleep(20);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = new HttpConnection(base);
  t.after(() => client.close());
  const first = client.request('GET', '/first');
  await assert.rejects(client.request('GET', '/second'), /already in flight/);
  assert.deepEqual(await first, { status: 200, body: 'ok' });
});

test('malformed or unsupported responses reject with what was wrong', async (t) => {
  const answers: Record<string, string> = {
    '/garbage': 'SMTP ready\r\n\r\n',
    '/no-length': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello',
    '/gzip': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
    '/bad-length': 'HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n',
    '/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    '/two-answers': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  };
  const base = await rawServer(t, (socket, request) => {
    const path = request.split(' ')[1] as string;
    socket.write(answers[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = new HttpConnection(base);
  t.after(() => client.close());
  const expected: Record<string, RegExp> = {
    '/garbage': /malformed status line: "SMTP ready"/,
    '/no-length': /neither content-length nor chunked/,
    '/gzip': /unsupported transfer-encoding: "gzip"/,
    '/bad-length': /bad content-length: "12x"/,
    '/bad-chunk': /malformed chunk size line/,
    '/two-answers': /unexpected bytes after a response 200/,
  };
  for (const [path, error] of Object.entries(expected)) {
    await assert.rejects(client.request('GET', path), error, path);
    // Each failure drops the socket; the next request works on a new one.
    assert.deepEqual(await client.request('GET', '/fine'), { status: 200, body: 'ok' }, `after ${path}`);
  }
});

test('a line break in the path or a header value is refused before anything is sent', async (t) => {
  let requests = 0;
  const base = await rawServer(t, (socket) => {
    requests++;
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const client = new HttpConnection(base);
  t.after(() => client.close());
  await assert.rejects(client.request('GET', '/a HTTP/1.1\r\nx-evil: 1\r\n\r\nGET /b'), /line break in the method or path/);
  await assert.rejects(client.request('GET', '/a', { authorization: 'Bearer x\r\nx-evil: 1' }), /line break in header "authorization"/);
  assert.equal(requests, 0);
  assert.deepEqual(await client.request('GET', '/a'), { status: 200, body: 'ok' });
});

test('plain http only', () => {
  assert.throws(() => new HttpConnection('https://example.org'), /plain http only/);
});
