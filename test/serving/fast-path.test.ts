/**
 * The V2 fast path (a JSON inference request with a Content-Length, answered on the bare HTTP
 * server) answers exactly as the Fastify route does. Each request is sent twice: with a
 * Content-Length (the fast path takes it) and chunked (only Fastify takes that), and the two
 * answers must agree on status, content type, route header and body.
 */
import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { FastPaths } from "../../src/server/fast-paths.js";
import { IRIS_ONNX, irisMlmodel } from "../helpers/model-package.js";
import { fixture, startServingServer, type ServingServer } from "./serving-server.js";

interface Raw {
  status: number;
  type: string | undefined;
  route: string | undefined;
  requestId: string | undefined;
  body: Buffer;
}

/** POSTs `body` with a Content-Length, or chunked (no Content-Length). */
function post(base: string, path: string, body: string, chunked: boolean, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: "POST", headers: chunked ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            type: res.headers["content-type"],
            route: res.headers["x-flywheel-route"] as string | undefined,
            requestId: res.headers["x-request-id"] as string | undefined,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on("error", reject);
    if (chunked) {
      // Two writes without a Content-Length: Node sends the body chunked.
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half));
      req.end(body.slice(half));
    } else req.end(body);
  });
}

describe("V2 fast path", () => {
  let server: ServingServer;
  const taken: boolean[] = [];
  const { expected: fx } = fixture("iris_logreg");
  const row = fx.inputs[0] as number[];

  beforeAll(async () => {
    const handle = FastPaths.prototype.handle;
    vi.spyOn(FastPaths.prototype, "handle").mockImplementation(function (this: FastPaths, req, res) {
      const took = handle.call(this, req, res);
      taken.push(took);
      return took;
    });
    server = await startServingServer();
    const a = await server.register("fp", IRIS_ONNX, irisMlmodel());
    const b = await server.register("fp", fixture("iris_logreg").onnx);
    expect([a.status, b.status]).toEqual(["READY", "READY"]);
    await server.setAlias("fp", "champion", "1");
  });
  afterAll(async () => {
    await server?.close();
    vi.restoreAllMocks();
  });

  const tensor = (data: unknown = [row], extra: object = {}) => ({ name: "float_input", shape: [1, 4], datatype: "FP32", data, ...extra });
  const cases: { what: string; path: string; body: unknown; headers?: Record<string, string> }[] = [
    { what: "latest version", path: "/v2/models/fp/infer", body: { inputs: [tensor()] } },
    { what: "id echoed, outputs requested", path: "/v2/models/fp/infer", body: { id: "abc", inputs: [tensor()], outputs: [{ name: "label" }] } },
    { what: "a version in the path", path: "/v2/models/fp/versions/1/infer", body: { inputs: [tensor()] } },
    { what: "an alias, percent-encoded", path: "/v2/models/fp%40champion/infer", body: { inputs: [tensor()] } },
    { what: "the path's model wins over the body's", path: "/v2/models/fp/infer", body: { model: "other", inputs: [tensor()] } },
    { what: "binary outputs asked of a JSON request", path: "/v2/models/fp/infer", body: { inputs: [tensor()], parameters: { binary_data_output: true } } },
    { what: "request parameters (the schema path)", path: "/v2/models/fp/infer", body: { inputs: [tensor(undefined, { parameters: { content_type: "np" } })], parameters: { x: 1 } } },
    { what: "wrong datatype", path: "/v2/models/fp/infer", body: { inputs: [{ ...tensor(), datatype: "INT32", data: [[1, 2, 3, 4]] }] } },
    { what: "wrong element count", path: "/v2/models/fp/infer", body: { inputs: [tensor([1, 2, 3])] } },
    { what: "unknown model", path: "/v2/models/nope/infer", body: { inputs: [tensor()] } },
    { what: "unknown version", path: "/v2/models/fp/versions/9/infer", body: { inputs: [tensor()] } },
    { what: "a bad version", path: "/v2/models/fp/versions/x/infer", body: { inputs: [tensor()] } },
    { what: "alias and version", path: "/v2/models/fp%40champion/versions/1/infer", body: { inputs: [tensor()] } },
    { what: "no inputs", path: "/v2/models/fp/infer", body: {} },
    { what: "an array body", path: "/v2/models/fp/infer", body: "[1, 2]" },
    { what: "malformed JSON", path: "/v2/models/fp/infer", body: '{"inputs": [' },
    { what: "an empty body", path: "/v2/models/fp/infer", body: "" },
    { what: "binary_data_size without the header", path: "/v2/models/fp/infer", body: { inputs: [{ name: "float_input", shape: [1, 4], datatype: "FP32", parameters: { binary_data_size: 16 } }] } },
    { what: "a bad x-request-id", path: "/v2/models/fp/infer", body: { inputs: [tensor()] }, headers: { "x-request-id": "x".repeat(300) } },
  ];

  for (const c of cases) {
    test(`answers as the Fastify route does: ${c.what}`, async () => {
      const text = typeof c.body === "string" ? c.body : JSON.stringify(c.body);
      taken.length = 0;
      const fast = await post(server.url, c.path, text, false, c.headers);
      const slow = await post(server.url, c.path, text, true, c.headers);
      expect(taken).toEqual([true, false]);
      expect(fast.status).toBe(slow.status);
      expect(fast.type).toBe(slow.type);
      expect(fast.route).toBe(slow.route);
      expect(fast.requestId).toBe(slow.requestId);
      if (fast.type?.startsWith("application/json") === true) {
        expect(JSON.parse(fast.body.toString("utf8"))).toEqual(JSON.parse(slow.body.toString("utf8")));
      } else {
        expect(fast.body.equals(slow.body)).toBe(true);
      }
      if (fast.status === 200) expect(fast.body.length).toBeGreaterThan(0);
      else expect(JSON.parse(fast.body.toString("utf8")).error).toEqual(expect.any(String));
    });
  }

  test("a query string, a body over the limit or another path are left to Fastify", async () => {
    taken.length = 0;
    const body = JSON.stringify({ inputs: [tensor()] });
    expect((await post(server.url, "/v2/models/fp/infer?x=1", body, false)).status).toBe(200);
    expect((await post(server.url, "/v2/models/fp/ready", body, false)).status).toBe(404);
    expect((await post(server.url, "/v2/models/fp/extra/infer", body, false)).status).toBe(404);
    expect(taken).toEqual([false, false, false]);
    // Over Fastify's body limit (16 MB): Fastify refuses it with 413, in the protocol's error shape.
    const big = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(new URL("/v2/models/fp/infer", server.url), { method: "POST", headers: { "content-length": String(17 * 1024 * 1024) } }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      req.end(Buffer.alloc(17 * 1024 * 1024, 32));
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text).error).toMatch(/too large/i);
    expect(taken.at(-1)).toBe(false);
  });

  test("a client that goes away mid-body leaves the server answering", async () => {
    const port = Number(new URL(server.url).port);
    await new Promise<void>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write("POST /v2/models/fp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inputs\": [");
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    const after = await post(server.url, "/v2/models/fp/infer", JSON.stringify({ inputs: [tensor()] }), false);
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body.toString("utf8")).outputs.find((o: { name: string }) => o.name === "label").data).toEqual([(fx.expected.label as number[])[0]]);
  });
});
