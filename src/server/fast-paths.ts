/**
 * Requests answered on the bare `node:http` server before Fastify sees them. A hot endpoint whose
 * common request is simple (a V2 JSON inference request) registers a handler here; the handler
 * takes a request only when it is certain to answer it exactly as the Fastify route would, and
 * leaves every other request (other paths, unusual framing, a body without a Content-Length) to
 * Fastify. Fastify's hook chain, content-type parsing and reply pipeline cost a model server a
 * measurable share of each small request; see bench:serving.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from "node:http";

/** Returns true when it has taken the request (and will answer it); false to leave it to Fastify. */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

export class FastPaths {
  private readonly paths: FastPath[] = [];

  add(path: FastPath): void {
    this.paths.push(path);
  }

  /** Offers the request to each fast path in turn; true when one took it. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    for (const path of this.paths) if (path(req, res)) return true;
    return false;
  }
}

/** What Fastify passes its `serverFactory` (the options it would have set on its own server). */
interface FactoryOptions {
  http?: ServerOptions | null;
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number;
}

/**
 * A Fastify `serverFactory`: the HTTP/1 server Fastify would create, with the same timeouts, whose
 * requests go to `paths` first and to Fastify's handler otherwise.
 */
export function serverWithFastPaths(paths: FastPaths) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void, options: FactoryOptions): Server => {
    const server = createServer(options.http ?? {}, (req, res) => {
      if (!paths.handle(req, res)) handler(req, res);
    });
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
    if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
    if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
    if (options.maxRequestsPerSocket !== undefined && options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    return server;
  };
}

/**
 * Reads a request body of exactly `length` bytes (its Content-Length), then calls `done` with it.
 * A client that goes away mid-body is dropped quietly (nothing is answered, nothing is thrown).
 */
export function readBody(req: IncomingMessage, length: number, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  req.on("data", (c: Buffer) => {
    received += c.length;
    if (received > length) {
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("error", () => undefined);
  req.on("end", () => {
    if (received !== length) return;
    done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
  });
}
