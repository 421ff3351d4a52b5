// A minimal HTTP/1.1 keep-alive client over one TCP socket, for the benchmarks' load generators. They run on the same
// cores as the server and PostgreSQL, so every microsecond they spend is taken from the system under test; like wrk
// or autocannon, this writes each request straight to a kept-alive socket and parses the answer itself, where
// node:http (agents, IncomingMessage streams) and fetch (undici, web streams) cost several times more per request
// (measured in a worker thread, responses arriving one at a time: about 45 µs of CPU here, 165 node:http, 340 fetch).
// One request in flight per connection (no pipelining), so a response never shares the socket with the next one.
import net from 'node:net';

export interface HttpResponse {
  status: number;
  body: string;
}

interface InFlight {
  resolve(response: HttpResponse): void;
  reject(error: Error): void;
  /** HEAD answers carry no body whatever their headers say. */
  head: boolean;
}

type Phase =
  | { kind: 'head' }
  | { kind: 'body'; remaining: number }
  | { kind: 'chunkSize' }
  | { kind: 'chunkData'; remaining: number }
  | { kind: 'chunkEnd' }
  | { kind: 'trailers' };

/** A response head this large means the peer is not speaking HTTP as we expect. */
const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
const LINE_BREAK = /[\r\n]/;
/** Shared by every connection of this thread: a read callback runs to completion before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class HttpConnection {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  #socket: net.Socket | undefined;
  #inFlight: InFlight | undefined;
  /** A protocol error seen while no request was in flight, given to the next request. */
  #broken: Error | undefined;
  #pending: Buffer = EMPTY;
  #phase: Phase = { kind: 'head' };
  #status = 0;
  #closeAfter = false;
  #body: Buffer[] = [];

  /** `origin` is an http:// URL; only its host and port are used. */
  constructor(origin: string | URL) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`HttpConnection speaks plain http only, not ${url.protocol}`);
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = url.port === '' ? 80 : Number(url.port);
    this.#hostHeader = url.host;
  }

  /**
   * Sends one request and resolves with the complete response. The socket is opened on first use and again after the
   * server closed it; a request already in flight, a closed socket or a malformed response rejects.
   */
  request(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<HttpResponse> {
    if (this.#inFlight) return Promise.reject(new Error(`${method} ${path}: a request is already in flight on this connection`));
    if (this.#broken) {
      const error = this.#broken;
      this.#broken = undefined;
      return Promise.reject(error);
    }
    if (LINE_BREAK.test(method) || LINE_BREAK.test(path)) return Promise.reject(new Error('a line break in the method or path would split the request'));
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\n`;
    for (const name in headers) {
      const value = headers[name] as string;
      if (LINE_BREAK.test(name) || LINE_BREAK.test(value)) return Promise.reject(new Error(`a line break in header ${JSON.stringify(name)} would split the request`));
      head += `${name}: ${value}\r\n`;
    }
    if (body !== undefined) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
    else if (method === 'POST' || method === 'PUT') head += 'content-length: 0\r\n';
    return new Promise((resolve, reject) => {
      this.#inFlight = { resolve, reject, head: method === 'HEAD' };
      // One write (one segment when it fits) for the head and body together.
      this.#connection().write(`${head}\r\n${body ?? ''}`);
    });
  }

  /** Closes the socket; a request in flight rejects. */
  close(): void {
    this.#socket?.destroy();
  }

  #connection(): net.Socket {
    if (this.#socket) return this.#socket;
    const socket: net.Socket = net.connect({
      host: this.#host,
      port: this.#port,
      noDelay: true,
      // Reads land in one reused buffer instead of a fresh 64 KiB allocation and a 'data' event each (about a fifth
      // of the client's CPU per request); the bytes are copied out before the next read can overwrite them.
      onread: {
        buffer: READ_BUFFER,
        callback: (bytes, buffer) => {
          this.#onData(socket, Buffer.from(buffer.subarray(0, bytes)));
          return true;
        },
      },
    });
    let failure: Error | undefined;
    socket.on('error', (error) => (failure = error));
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const bytes = this.#pending.length + this.#body.reduce((n, b) => n + b.length, 0);
      this.#fail(new Error(`connection to ${this.#hostHeader} closed before the response was complete (${bytes} bytes of it received)${failure ? `: ${failure.message}` : ''}`));
    });
    this.#socket = socket;
    return socket;
  }

  #onData(socket: net.Socket, chunk: Buffer): void {
    if (!this.#inFlight) {
      this.#broken = new Error(`${this.#hostHeader} sent ${chunk.length} bytes with no request in flight`);
      this.#discard(socket);
      return;
    }
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    try {
      this.#parse();
    } catch (error) {
      this.#discard(socket);
      this.#fail(error as Error);
    }
  }

  /** Consumes what it can of the pending bytes; completes the request when the response is whole. */
  #parse(): void {
    for (;;) {
      const buf = this.#pending;
      switch (this.#phase.kind) {
        case 'head': {
          const end = buf.indexOf(HEAD_END);
          if (end < 0) {
            if (buf.length > MAX_HEAD_BYTES) throw new Error(`response head longer than ${MAX_HEAD_BYTES} bytes`);
            return;
          }
          this.#pending = buf.subarray(end + 4);
          this.#phase = this.#readHead(buf.toString('latin1', 0, end));
          if (this.#phase.kind === 'body' && this.#phase.remaining === 0) return this.#complete();
          break;
        }
        case 'body':
        case 'chunkData': {
          if (buf.length === 0) return;
          const phase = this.#phase;
          const take = Math.min(phase.remaining, buf.length);
          this.#body.push(buf.subarray(0, take));
          this.#pending = buf.subarray(take);
          phase.remaining -= take;
          if (phase.remaining > 0) return;
          if (phase.kind === 'body') return this.#complete();
          this.#phase = { kind: 'chunkEnd' };
          break;
        }
        case 'chunkSize': {
          const end = buf.indexOf(CRLF);
          if (end < 0) {
            if (buf.length > MAX_HEAD_BYTES) throw new Error('chunk size line too long');
            return;
          }
          const line = buf.toString('latin1', 0, end);
          const hex = (line.split(';', 1)[0] as string).trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw new Error(`malformed chunk size line: ${JSON.stringify(line.slice(0, 40))}`);
          const size = parseInt(hex, 16);
          this.#pending = buf.subarray(end + 2);
          this.#phase = size === 0 ? { kind: 'trailers' } : { kind: 'chunkData', remaining: size };
          break;
        }
        case 'chunkEnd': {
          if (buf.length < 2) return;
          if (buf[0] !== 13 || buf[1] !== 10) throw new Error('chunk data not followed by CRLF');
          this.#pending = buf.subarray(2);
          this.#phase = { kind: 'chunkSize' };
          break;
        }
        case 'trailers': {
          // Either an empty line right away, or trailer fields ending in an empty line.
          if (buf.length < 2) return;
          let end: number;
          if (buf[0] === 13 && buf[1] === 10) end = 2;
          else {
            const at = buf.indexOf(HEAD_END);
            if (at < 0) {
              if (buf.length > MAX_HEAD_BYTES) throw new Error(`trailers longer than ${MAX_HEAD_BYTES} bytes`);
              return;
            }
            end = at + 4;
          }
          this.#pending = buf.subarray(end);
          return this.#complete();
        }
      }
    }
  }

  /** Reads the status line and the headers that frame the body; returns where the body parsing starts. */
  #readHead(head: string): Phase {
    const lines = head.split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] as string);
    if (!statusLine) throw new Error(`malformed status line: ${JSON.stringify((lines[0] as string).slice(0, 80))}`);
    const status = Number(statusLine[1]);
    if (status < 200) throw new Error(`interim response ${status} is not supported (no request asks for one)`);
    let length: number | undefined;
    let chunked = false;
    let closeAfter = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) throw new Error(`bad content-length: ${JSON.stringify(value)}`);
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        if (value.toLowerCase() !== 'chunked') throw new Error(`unsupported transfer-encoding: ${JSON.stringify(value)}`);
        chunked = true;
      } else if (name === 'connection') {
        closeAfter = value.toLowerCase().split(',').some((token) => token.trim() === 'close');
      }
    }
    this.#status = status;
    this.#closeAfter = closeAfter;
    if (this.#inFlight?.head || status === 204 || status === 304) return { kind: 'body', remaining: 0 };
    if (chunked) return { kind: 'chunkSize' };
    if (length === undefined) throw new Error(`response ${status} has neither content-length nor chunked transfer-encoding`);
    return { kind: 'body', remaining: length };
  }

  #complete(): void {
    const inFlight = this.#inFlight as InFlight;
    const leftover = this.#pending.length;
    const body = this.#body.length === 1 ? (this.#body[0] as Buffer).toString() : Buffer.concat(this.#body).toString();
    const status = this.#status;
    this.#reset();
    this.#inFlight = undefined;
    if (leftover > 0) {
      this.#discard(this.#socket);
      inFlight.reject(new Error(`${leftover} unexpected bytes after a response ${status} (one request in flight at a time)`));
      return;
    }
    // The server will close this socket; the next request opens another rather than racing that close.
    if (this.#closeAfter) this.#discard(this.#socket);
    inFlight.resolve({ status, body });
  }

  /** Forgets the socket (the next request opens a new one) and closes it. */
  #discard(socket: net.Socket | undefined): void {
    if (this.#socket === socket) this.#socket = undefined;
    socket?.destroy();
    this.#reset();
  }

  #reset(): void {
    this.#pending = EMPTY;
    this.#phase = { kind: 'head' };
    this.#body = [];
  }

  #fail(error: Error): void {
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    this.#reset();
    inFlight?.reject(error);
  }
}
