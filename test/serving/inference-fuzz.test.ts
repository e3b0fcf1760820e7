/**
 * Property-based: malformed V2 requests thrown at a running server. Each case starts from a valid
 * request and breaks it in one way that cannot be valid (a random JSON value at a field, a wrong
 * datatype, shape or count, NaN where it is not allowed, huge or negative dimensions, a broken
 * binary header or body), or is garbage bytes. Every answer must be a 4xx `{"error": "..."}`,
 * never a 5xx, and the server must still be ready afterwards.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixture, IDENTITY_DTYPES, identityOnnx, startServingServer, tensorBytes, type Answer, type ServingServer } from "./serving-server.js";

interface Case {
  what: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

const IRIS = "/v2/models/iris-logreg/infer";
const IDENTITY = "/v2/models/identity/infer";
const ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
const irisInput = () => ({ name: "float_input", shape: [2, 4], datatype: "FP32", data: [...ROWS] }) as Record<string, unknown>;
const irisRequest = () => ({ id: "fuzz", inputs: [irisInput()], outputs: [{ name: "label" }, { name: "probabilities" }], parameters: {} }) as Record<string, unknown>;

const DATATYPE: Record<string, string> = {
  bool: "BOOL", int8: "INT8", int16: "INT16", int32: "INT32", int64: "INT64", uint8: "UINT8", uint16: "UINT16",
  uint32: "UINT32", uint64: "UINT64", float16: "FP16", float32: "FP32", float64: "FP64", string: "BYTES",
};
const GOOD: Record<string, unknown[]> = {
  bool: [true, false], int8: [1, -1], int16: [1, -1], int32: [1, -1], int64: [1, "-1"], uint8: [1, 2], uint16: [1, 2], uint32: [1, 2],
  uint64: [1, "2"], float16: [0.5, "NaN"], float32: [0.5, "Infinity"], float64: [0.5, -1], string: ["a", "b"],
};
const identityRequest = () => ({
  inputs: [...IDENTITY_DTYPES.map((d) => ({ name: `x_${d}`, shape: [2], datatype: DATATYPE[d], data: [...(GOOD[d] as unknown[])] })), { name: "m", shape: [2, 2], datatype: "FP32", data: [1, 2, 3, 4] }],
}) as { inputs: Record<string, unknown>[] };

const RANGES: Record<string, [number, number]> = {
  int8: [-128, 127], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1], uint8: [0, 255], uint16: [0, 65535], uint32: [0, 2 ** 32 - 1],
};

/** Whether `v` is a valid JSON element of `dtype` (the test's own reading of the protocol). */
function validElement(dtype: string, v: unknown): boolean {
  switch (dtype) {
    case "bool":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string";
    case "float16":
    case "float32":
    case "float64":
      return typeof v === "number" || v === "NaN" || v === "Infinity" || v === "-Infinity";
    case "int64":
    case "uint64": {
      let b: bigint;
      if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === "string" && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
      else return false;
      return dtype === "int64" ? b >= -(2n ** 63n) && b < 2n ** 63n : b >= 0n && b < 2n ** 64n;
    }
    default: {
      const [lo, hi] = RANGES[dtype] as [number, number];
      return typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
    }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const flat = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

const anyJson = fc.jsonValue({ maxDepth: 3 });
const notRecord = anyJson.filter((v) => !isRecord(v));
const notArray = anyJson.filter((v) => !Array.isArray(v));
const json = (what: string, body: unknown, path = IRIS): Case => ({ what, path, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** The valid iris request with `field` of its input replaced. */
const irisInputWith = (what: string, field: string, value: unknown) => {
  const req = irisRequest();
  req.inputs = [{ ...irisInput(), [field]: value }];
  return json(`${what}: ${JSON.stringify(value)?.slice(0, 80)}`, req);
};

/** A dimension that is never valid: negative, fractional, beyond 2^53, or not a number. */
const badDim = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(2 ** 53, 1e300, -0.5),
  anyJson.filter((v) => typeof v !== "number"),
);
const goodDim = fc.integer({ min: 0, max: 2 ** 40 });

const badShape = fc.oneof(
  notArray,
  fc.tuple(fc.array(goodDim, { maxLength: 3 }), badDim, fc.array(goodDim, { maxLength: 3 })).map(([a, b, c]) => [...a, b, ...c]),
  fc.array(goodDim, { maxLength: 6 }).filter((s) => s.length !== 2),
  goodDim.filter((k) => k !== 2).map((k) => [k, 4]),
  goodDim.filter((k) => k !== 4).map((k) => [2, k]),
);

const inputCases: fc.Arbitrary<Case>[] = [
  anyJson.filter((v) => v !== "float_input").map((v) => irisInputWith("input name", "name", v)),
  badShape.map((v) => irisInputWith("shape", "shape", v)),
  anyJson.filter((v) => typeof v !== "string" || v.toUpperCase() !== "FP32").map((v) => irisInputWith("datatype", "datatype", v)),
  anyJson.filter((v) => !(Array.isArray(v) && flat(v).length === 8 && flat(v).every((x) => validElement("float32", x)))).map((v) => irisInputWith("data", "data", v)),
  fc.array(fc.double(), { maxLength: 20 }).filter((a) => a.length !== 8).map((v) => irisInputWith("element count", "data", v)),
  fc.oneof(notRecord, anyJson.map((v) => ({ binary_data_size: v }))).map((v) => irisInputWith("input parameters", "parameters", v)),
];

const requestCases: fc.Arbitrary<Case>[] = [
  anyJson.filter((v) => !isRecord(v) || !("inputs" in v)).map((v) => json("whole body", v)),
  fc.oneof(notArray, fc.constant([]), fc.array(anyJson.filter((v) => !isRecord(v)), { minLength: 1, maxLength: 4 })).map((v) => json("inputs", { ...irisRequest(), inputs: v })),
  fc.oneof(notArray, fc.array(notRecord, { minLength: 1, maxLength: 3 })).map((v) => json("outputs", { ...irisRequest(), outputs: v })),
  fc.string().filter((s) => s !== "label" && s !== "probabilities").map((s) => json("unknown output", { ...irisRequest(), outputs: [{ name: "label" }, { name: s }] })),
  anyJson.filter((v) => typeof v !== "boolean").map((v) => json("output binary_data", { ...irisRequest(), outputs: [{ name: "label", parameters: { binary_data: v } }] })),
  anyJson.filter((v) => typeof v !== "string").map((v) => json("id", { ...irisRequest(), id: v })),
  fc.oneof(notRecord, anyJson.filter((v) => typeof v !== "boolean").map((v) => ({ binary_data_output: v }))).map((v) => json("request parameters", { ...irisRequest(), parameters: v })),
  fc.constantFrom("extra", "duplicate", "missing").map((how) => {
    const req = identityRequest();
    if (how === "extra") req.inputs.push({ name: "z", shape: [1], datatype: "FP32", data: [1] });
    if (how === "duplicate") req.inputs.push(req.inputs[0] as Record<string, unknown>);
    if (how === "missing") req.inputs.pop();
    return json(`${how} input`, req, IDENTITY);
  }),
  fc.constantFrom("/v2/models/no-such-model/infer", "/v2/models/iris-logreg/versions/99/infer", "/v2/models/iris-logreg/versions/abc/infer", "/v2/models/iris-logreg@nope/infer", "/v2/models/@/infer", "/v2/models/iris-logreg/versions/1/infer/x").map((path) =>
    json(`path ${path}`, irisRequest(), path),
  ),
  // NaN as a JSON literal is not JSON; cut text is not JSON either.
  fc.constantFrom("5.1", "3.5", "2", "4").map((n) => ({ what: `NaN literal for ${n}`, path: IRIS, headers: { "content-type": "application/json" }, body: JSON.stringify(irisRequest()).replace(n, "NaN") })),
  fc.nat().map((k) => {
    const text = JSON.stringify(irisRequest());
    return { what: "truncated JSON", path: IRIS, headers: {}, body: text.slice(0, k % text.length) };
  }),
];

/** An element of `dtype` that is not valid, including "NaN" and NaN-like strings where only floats take them. */
const dtypeCases: fc.Arbitrary<Case>[] = [
  fc
    .constantFrom(...IDENTITY_DTYPES)
    .chain((d) => fc.tuple(fc.constant(d), fc.oneof(fc.constantFrom("NaN", "nan", "Infinity", null, 1.5, -1, 2 ** 64, "1e3", true), anyJson).filter((v) => !Array.isArray(v) && !validElement(d, v)), fc.nat({ max: 1 })))
    .map(([d, bad, at]) => {
      const req = identityRequest();
      const input = req.inputs.find((i) => i.name === `x_${d}`) as { data: unknown[] };
      input.data[at] = bad;
      return json(`${d} element ${JSON.stringify(bad)?.slice(0, 60)}`, req, IDENTITY);
    }),
  fc.constantFrom(...IDENTITY_DTYPES).chain((d) =>
    fc.oneof(notRecord, fc.string()).filter((v) => typeof v !== "string" || v.toUpperCase() !== DATATYPE[d]).map((v) => {
      const req = identityRequest();
      (req.inputs.find((i) => i.name === `x_${d}`) as Record<string, unknown>).datatype = v;
      return json(`${d} datatype ${JSON.stringify(v)?.slice(0, 60)}`, req, IDENTITY);
    }),
  ),
];

const F32 = tensorBytes("FP32", ROWS);
const binaryCase = (what: string, header: unknown, binary: Uint8Array, length?: string, contentType = "application/octet-stream", path = IRIS): Case => {
  const head = Buffer.from(JSON.stringify(header));
  return { what, path, headers: { "content-type": contentType, "inference-header-content-length": length ?? String(head.length) }, body: Buffer.concat([head, binary]) };
};
const binaryIris = (size: unknown, shape: unknown = [2, 4]) => ({ inputs: [{ name: "float_input", shape, datatype: "FP32", parameters: { binary_data_size: size } }] });
const correctLength = Buffer.byteLength(JSON.stringify(binaryIris(32)));

const binaryCases: fc.Arbitrary<Case>[] = [
  fc
    .oneof(fc.string({ unit: "grapheme-ascii", maxLength: 24 }), fc.integer({ min: -1e6, max: 1e9 }).map(String), fc.constantFrom("", "1e3", "0x10", "NaN", "-0", "Infinity"))
    .filter((s) => !(/^\s*\d+\s*$/.test(s) && Number(s) === correctLength))
    .map((h) => binaryCase(`header length '${h}'`, binaryIris(32), F32, h)),
  fc
    .oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => Buffer.concat([F32, extra])),
      fc.nat({ max: 31 }).map((n) => F32.subarray(0, n)),
      fc.uint8Array({ maxLength: 200 }).filter((b) => b.length !== 32),
    )
    .map((b) => binaryCase(`binary part of ${b.length} bytes for binary_data_size 32`, binaryIris(32), b)),
  fc.oneof(fc.integer({ min: -100, max: 1000 }), fc.constantFrom(2 ** 53, 2 ** 60, 1e300)).filter((n) => n !== 32).map((n) => binaryCase(`binary_data_size ${n}`, binaryIris(n), F32)),
  fc.tuple(goodDim, goodDim).filter(([a, b]) => a * b !== 8 || b !== 4).map(([a, b]) => binaryCase(`binary shape [${a}, ${b}]`, binaryIris(32, [a, b]), F32)),
  fc.constantFrom("text/plain", "application/json", "multipart/form-data", "application/x-www-form-urlencoded", "").map((t) => binaryCase(`binary with type '${t}' and data too`, { inputs: [{ ...irisInput(), parameters: { binary_data_size: 32 } }] }, F32, undefined, t)),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((b) => b.some((x) => x > 1)).map((b) => {
    const req = identityRequest();
    const i = req.inputs.findIndex((x) => x.name === "x_bool");
    req.inputs[i] = { name: "x_bool", shape: [b.length], datatype: "BOOL", parameters: { binary_data_size: b.length } };
    return binaryCase("BOOL bytes other than 0/1", req, b, undefined, "application/octet-stream", IDENTITY);
  }),
  fc.tuple(fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 64 })).filter(([n, b]) => n > b.length).map(([n, b]) => {
    const req = identityRequest();
    const i = req.inputs.findIndex((x) => x.name === "x_string");
    const length = Buffer.alloc(4);
    length.writeUInt32LE(n, 0);
    const bytes = Buffer.concat([length, b]);
    req.inputs[i] = { name: "x_string", shape: [1], datatype: "BYTES", parameters: { binary_data_size: bytes.length } };
    return binaryCase(`BYTES element claiming ${n} bytes`, req, bytes, undefined, "application/octet-stream", IDENTITY);
  }),
];

const garbage: fc.Arbitrary<Case> = fc
  .tuple(fc.uint8Array({ maxLength: 65536 }), fc.constantFrom("application/json", "application/octet-stream", "text/plain", ""), fc.option(fc.nat({ max: 70000 })))
  .map(([bytes, type, length]) => ({
    what: `${bytes.length} garbage bytes (${type}, header ${length ?? "none"})`,
    path: IRIS,
    headers: { ...(type === "" ? {} : { "content-type": type }), ...(length === null ? {} : { "inference-header-content-length": String(length) }) },
    body: bytes,
  }));

const malformed = fc.oneof(...inputCases, ...requestCases, ...dtypeCases, ...binaryCases, garbage);

describe("malformed V2 requests (property-based)", () => {
  let server: ServingServer;
  const send = async (c: Case): Promise<Answer> =>
    typeof c.body === "string" ? server.call("POST", c.path, c.body, c.headers) : server.send("POST", c.path, c.body, c.headers);
  const expectRefused = (res: Answer, what: string) => {
    const where = `${what} -> ${res.status} ${res.body.toString("utf8").slice(0, 300)}`;
    expect(res.status >= 400 && res.status < 500, where).toBe(true);
    expect(isRecord(res.json) && Object.keys(res.json).length === 1 && typeof res.json.error === "string" && res.json.error !== "", where).toBe(true);
  };

  beforeAll(async () => {
    server = await startServingServer();
    expect((await server.register("iris-logreg", fixture("iris_logreg").onnx)).status).toBe("READY");
    expect((await server.register("identity", identityOnnx())).status).toBe("READY");
    // The unbroken requests are answered: the breakage, not the template, is what is refused.
    expect((await server.call("POST", IRIS, irisRequest())).status).toBe(200);
    expect((await server.call("POST", IDENTITY, identityRequest())).status).toBe(200);
    const ok = binaryCase("ok", binaryIris(32), F32);
    expect((await server.send("POST", ok.path, ok.body as Uint8Array, ok.headers)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.close();
  });

  test("every malformed request is a 4xx {error}, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(malformed, async (c) => {
        expectRefused(await send(c), c.what);
      }),
      { numRuns: 300 },
    );
  });

  test("10 MB of garbage, and deeply nested JSON, once each", async () => {
    const big = randomBytes(10 * 1024 * 1024);
    expectRefused(await server.send("POST", IRIS, big, { "content-type": "application/octet-stream" }), "10 MB garbage");
    expectRefused(await server.send("POST", IRIS, big, { "inference-header-content-length": "4096" }), "10 MB garbage with a header length");
    expectRefused(await server.send("POST", IRIS, big, { "inference-header-content-length": String(big.length) }), "10 MB garbage, all header");
    const depth = 1_000_000;
    const nested = `{"inputs":[{"name":"float_input","shape":[2,4],"datatype":"FP32","data":${"[".repeat(depth)}1${"]".repeat(depth)}}]}`;
    expectRefused(await server.call("POST", IRIS, nested), "nested data");
    expectRefused(await server.call("POST", IRIS, "[".repeat(depth)), "unterminated nesting");
  });

  test("the server is still ready, and still serving, after all of it", async () => {
    expect(await server.call("GET", "/v2/health/ready")).toMatchObject({ status: 200, json: { ready: true } });
    expect((await server.call("POST", IRIS, irisRequest())).status).toBe(200);
  });
});
