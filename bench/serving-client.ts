/**
 * The load generator of bench:serving: HTTP/1.1 keep-alive connections on raw sockets, each with
 * one request in flight (the next is sent when the last answer is complete), the request bytes
 * built once. It costs the shared cores a fraction of what `node:http`'s client does, so the
 * servers' share of the machine is what gets measured.
 *
 * Every answer is checked: its status, and its body either equal byte for byte to an answer
 * already checked in full for the same server and model, or parsed and checked in full itself.
 * Answers with `Transfer-Encoding: chunked` are decoded too.
 */
import { connect, type Socket } from "node:net";

/** Why an answer (status, body) is wrong, or undefined when it is right. */
export type Check = (status: number, body: Buffer) => string | undefined;

export interface Answer {
  status: number;
  body: Buffer;
}

const HEADER_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/** The request bytes of a JSON POST. */
export function requestBytes(url: URL, body: Buffer): Buffer {
  const head =
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

/** Decodes a chunked body, or returns undefined while it is incomplete; `used` is the bytes consumed. */
function dechunk(buf: Buffer, from: number): { body: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const eol = buf.indexOf(CRLF, at);
    if (eol < 0) return undefined;
    const size = Number.parseInt(buf.toString("latin1", at, eol).split(";")[0] ?? "", 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size line '${buf.toString("latin1", at, eol)}'`);
    const start = eol + 2;
    if (size === 0) {
      // No trailers are sent by the servers measured here: the last chunk ends with one CRLF.
      if (buf.length < start + 2) return undefined;
      return { body: Buffer.concat(parts), used: start + 2 - from };
    }
    if (buf.length < start + size + 2) return undefined;
    parts.push(buf.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** One keep-alive connection sending the same request over and over. */
export class Connection {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { done: (a: Answer) => void; fail: (e: Error) => void } | undefined;
  private closed: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.parse();
    });
    const close = (e: Error) => {
      this.closed ??= e;
      const w = this.waiting;
      this.waiting = undefined;
      w?.fail(e);
    };
    socket.on("error", close);
    socket.on("close", () => close(new Error("connection closed by the server")));
  }

  static open(url: URL): Promise<Connection> {
    return new Promise((done, fail) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) }, () => {
        socket.off("error", fail);
        done(new Connection(socket));
      });
      socket.once("error", fail);
    });
  }

  /** Sends `bytes` (one whole request) and resolves with the answer. */
  send(bytes: Buffer): Promise<Answer> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    if (this.waiting !== undefined) return Promise.reject(new Error("a request is already in flight on this connection"));
    return new Promise((done, fail) => {
      this.waiting = { done, fail };
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    const w = this.waiting;
    if (w === undefined) return;
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buf.toString("latin1", 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let body: Buffer;
    let used: number;
    try {
      if (length?.[1] !== undefined) {
        const n = Number(length[1]);
        if (this.buf.length < end + 4 + n) return;
        body = this.buf.subarray(end + 4, end + 4 + n);
        used = end + 4 + n;
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const d = dechunk(this.buf, end + 4);
        if (d === undefined) return;
        body = d.body;
        used = end + 4 + d.used;
      } else {
        throw new Error(`answer without Content-Length or chunked encoding: ${head.slice(0, 200)}`);
      }
    } catch (e) {
      this.waiting = undefined;
      this.socket.destroy();
      w.fail(e as Error);
      return;
    }
    this.buf = used === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(used);
    this.waiting = undefined;
    w.done({ status, body });
  }
}

const ID_KEY = Buffer.from('"id":"');

/** The bytes of a JSON answer before and after the value of its (first) `"id"` string, which differs per request. */
function aroundId(body: Buffer): { before: Buffer; after: Buffer; exact: boolean } {
  const key = body.indexOf(ID_KEY);
  const end = key < 0 ? -1 : body.indexOf(0x22, key + ID_KEY.length);
  if (end < 0) return { before: body, after: Buffer.alloc(0), exact: true };
  return { before: body.subarray(0, key + ID_KEY.length), after: body.subarray(end), exact: false };
}

/**
 * Checks answers, remembering the bodies already checked in full so that a repeated answer costs
 * a byte comparison. The value of an `"id"` field is not compared (servers that log requests put
 * a fresh request id in every answer). At most `limit` distinct bodies are remembered.
 */
export class AnswerChecker {
  private readonly good: { before: Buffer; after: Buffer; exact: boolean }[] = [];

  constructor(
    private readonly check: Check,
    private readonly limit = 8,
  ) {}

  why(status: number, body: Buffer): string | undefined {
    if (status === 200) {
      for (const g of this.good) {
        if (g.exact ? body.length !== g.before.length : body.length < g.before.length + g.after.length) continue;
        if (body.compare(g.before, 0, g.before.length, 0, g.before.length) !== 0) continue;
        if (body.compare(g.after, 0, g.after.length, body.length - g.after.length) !== 0) continue;
        // Between the two: the id value alone, with no quote in it.
        if (body.subarray(g.before.length, body.length - g.after.length).includes(0x22)) continue;
        return undefined;
      }
    }
    const why = this.check(status, body);
    if (why === undefined && this.good.length < this.limit) {
      this.good.push(aroundId(Buffer.from(body)));
    }
    return why;
  }
}
