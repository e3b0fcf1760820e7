/**
 * The second ONNX Runtime thread (`runtimeThread`, on in `flywheel server`): under concurrent
 * traffic runs go to the thread's sessions, and the answers are the same as on the serving
 * thread: the fixture models' reference values, every datatype, ONNX Runtime's own errors. A
 * thread that dies loses no request.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { inferenceServiceOf } from "../../src/serving/inference-service.js";
import type { ModelCache } from "../../src/serving/model-cache.js";
import { RuntimeRunError, RuntimeThread, RuntimeThreadLost } from "../../src/serving/runtime-thread.js";
import { expectClose, fixture, FIXTURE_MODELS, IDENTITY_DTYPES, identityOnnx, startServingServer, type ServingServer } from "./serving-server.js";

function cacheOf(server: ServingServer): ModelCache {
  const service = inferenceServiceOf(server.app.server);
  if (service === undefined) throw new Error("no inference service");
  return service.models;
}

const offloaded = (server: ServingServer) => cacheOf(server).thread?.offloaded ?? 0;

/** Sends bursts of requests for `model` until the thread has taken one of them (it has the model loaded then). */
async function threadReady(server: ServingServer, model: string, body: unknown): Promise<void> {
  const deadline = Date.now() + 15_000;
  const start = offloaded(server);
  while (offloaded(server) === start) {
    if (Date.now() > deadline) throw new Error("the ONNX Runtime thread never took a run");
    await Promise.all(Array.from({ length: 8 }, () => server.call("POST", `/v2/models/${model}/infer`, body)));
  }
}

describe("the ONNX Runtime thread, over HTTP", () => {
  let server: ServingServer;
  beforeAll(async () => {
    server = await startServingServer({ runtimeThread: true });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  for (const name of FIXTURE_MODELS) {
    test(`${name}: every fixture row sent as its own request, all at once, reproduces the reference values`, async () => {
      const { onnx, expected: fx } = fixture(name);
      const model = `${name.replace(/_/g, "-")}-threaded`;
      await server.register(model, onnx);
      const rowBody = (row: number[]) => ({ inputs: [{ name: fx.input, shape: [1, row.length], datatype: "FP32", data: row }] });
      await threadReady(server, model, rowBody(fx.inputs[0] as number[]));
      const before = offloaded(server);
      const answers = await Promise.all(fx.inputs.map((row) => server.call("POST", `/v2/models/${model}/infer`, rowBody(row))));
      // The rows went through both threads: some on the thread, the first of each burst on the serving thread.
      expect(offloaded(server) - before).toBeGreaterThan(0);
      answers.forEach((res, i) => {
        expect(res.status, JSON.stringify(res.json)).toBe(200);
        for (const out of res.json.outputs) {
          const want = (fx.expected[out.name] as unknown[])[i];
          if (out.name === "label") expect(out.data, `${name} row ${i}`).toEqual([want]);
          else expectClose(out.data, want, `${name} row ${i} ${out.name}`);
        }
      });
    }, 60_000);
  }

  test("every datatype comes back from the thread as from the serving thread", async () => {
    await server.register("identity-threaded", identityOnnx());
    const data: Record<string, { datatype: string; data: unknown[] }> = {
      bool: { datatype: "BOOL", data: [true, false, true] },
      int8: { datatype: "INT8", data: [-128, 0, 127] },
      int16: { datatype: "INT16", data: [-32768, 1, 32767] },
      int32: { datatype: "INT32", data: [-2147483648, 7, 2147483647] },
      int64: { datatype: "INT64", data: [-9007199254740991, "123", 9007199254740991] },
      uint8: { datatype: "UINT8", data: [0, 1, 255] },
      uint16: { datatype: "UINT16", data: [0, 1, 65535] },
      uint32: { datatype: "UINT32", data: [0, 1, 4294967295] },
      uint64: { datatype: "UINT64", data: [0, 9007199254740991, "18446744073709551615"] },
      float16: { datatype: "FP16", data: [0.1, 65504, "-Infinity"] },
      float32: { datatype: "FP32", data: [0.1, -2.25, "NaN"] },
      float64: { datatype: "FP64", data: [0.1, 1e300, -0.5] },
      string: { datatype: "BYTES", data: ["a", "héllo ✓", ""] },
    };
    const body = {
      inputs: [...IDENTITY_DTYPES.map((d) => ({ name: `x_${d}`, shape: [3], ...data[d] })), { name: "m", shape: [3, 2], datatype: "FP32", data: [[1, 2], [3, 4], [5, 6]] }],
    };
    // One request alone runs on the serving thread: the reference answer.
    const reference = await server.call("POST", "/v2/models/identity-threaded/infer", body);
    expect(reference.status).toBe(200);
    await threadReady(server, "identity-threaded", body);
    const before = offloaded(server);
    const answers = await Promise.all(Array.from({ length: 64 }, () => server.call("POST", "/v2/models/identity-threaded/infer", body)));
    expect(offloaded(server) - before).toBeGreaterThan(0);
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.json).toEqual(reference.json);
    }
  }, 60_000);

  test("a thread that dies under load loses no request; later runs stay on the serving thread", async () => {
    const { onnx, expected: fx } = fixture("iris_logreg");
    await server.register("iris-killed", onnx);
    const body = (i: number) => ({ inputs: [{ name: fx.input, shape: [1, 4], datatype: "FP32", data: fx.inputs[i] }] });
    await threadReady(server, "iris-killed", body(0));
    const thread = cacheOf(server).thread as RuntimeThread;
    const inFlight = Array.from({ length: 150 }, (_, i) => server.call("POST", "/v2/models/iris-killed/infer", body(i)));
    await thread.kill();
    const answers = await Promise.all(inFlight);
    answers.forEach((a, i) => {
      expect(a.status, JSON.stringify(a.json)).toBe(200);
      expect(a.json.outputs[0].data).toEqual([(fx.expected.label as unknown[])[i]]);
    });
    expect(thread.alive).toBe(false);
    const after = thread.offloaded;
    const more = await Promise.all(Array.from({ length: 32 }, (_, i) => server.call("POST", "/v2/models/iris-killed/infer", body(i))));
    for (const a of more) expect(a.status).toBe(200);
    expect(thread.offloaded).toBe(after);
  }, 60_000);
});

describe("RuntimeThread", () => {
  const { onnx, expected: fx } = fixture("iris_logreg");
  const row = { type: "float32" as const, data: Float32Array.from(fx.inputs[0] as number[]), dims: [1, 4] };

  async function loaded(): Promise<RuntimeThread> {
    const thread = RuntimeThread.start();
    if (thread === undefined) throw new Error("the thread script is not built");
    thread.load(1, onnx, { intraOpNumThreads: 1 });
    const deadline = Date.now() + 15_000;
    while (!thread.canRun(1)) {
      if (Date.now() > deadline) throw new Error("the thread never loaded the model");
      await new Promise((r) => setTimeout(r, 10));
    }
    return thread;
  }

  test("runs a session and answers its outputs, timed", async () => {
    const thread = await loaded();
    try {
      const done = await thread.run(1, { float_input: row }, ["label", "probabilities"]);
      expect(done.outputs.label?.type).toBe("int64");
      expect(Array.from(done.outputs.label?.data as BigInt64Array, Number)).toEqual([(fx.expected.label as unknown[])[0]]);
      expect(done.outputs.probabilities?.dims).toEqual([1, 3]);
      expectClose(Array.from(done.outputs.probabilities?.data as Float32Array), (fx.expected.probabilities as unknown[])[0], "probabilities");
      expect(done.seconds).toBeGreaterThan(0);
    } finally {
      await thread.close();
    }
  }, 30_000);

  test("ONNX Runtime's refusal comes back as RuntimeRunError with its message; a released session runs no more", async () => {
    const thread = await loaded();
    try {
      const bad = thread.run(1, { float_input: { ...row, dims: [2, 2] } }, ["label"]);
      await expect(bad).rejects.toBeInstanceOf(RuntimeRunError);
      await expect(bad).rejects.toThrow(/dimension|shape|Got invalid/i);
      const unknown = thread.run(1, { nope: row }, ["label"]);
      await expect(unknown).rejects.toThrow(/float_input.*missing/);
      thread.release(1);
      expect(thread.canRun(1)).toBe(false);
    } finally {
      await thread.close();
    }
  }, 30_000);

  test("runs pending when the thread ends are handed back as RuntimeThreadLost; it takes no more", async () => {
    const thread = await loaded();
    const pending = Array.from({ length: 20 }, () => thread.run(1, { float_input: row }, ["label"]));
    await thread.kill();
    const settled = await Promise.allSettled(pending);
    for (const s of settled) if (s.status === "rejected") expect(s.reason).toBeInstanceOf(RuntimeThreadLost);
    expect(thread.alive).toBe(false);
    expect(thread.canRun(1)).toBe(false);
    await expect(thread.run(1, { float_input: row }, ["label"])).rejects.toBeInstanceOf(RuntimeThreadLost);
    await thread.close();
  }, 30_000);
});

describe("intraOpNumThreads", () => {
  let server: ServingServer;
  beforeAll(async () => {
    server = await startServingServer({ runtimeThread: true, intraOpNumThreads: 2 });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  test("reaches the sessions of both threads, whose answers still match the reference values", async () => {
    expect(cacheOf(server).intraOpNumThreads).toBe(2);
    const { onnx, expected: fx } = fixture("breast_cancer_rf");
    await server.register("cancer-two-threads", onnx);
    const rows = fx.inputs as number[][];
    const body = { inputs: [{ name: fx.input, shape: [rows.length, (rows[0] as number[]).length], datatype: "FP32", data: rows }] };
    await threadReady(server, "cancer-two-threads", { inputs: [{ name: fx.input, shape: [1, (rows[0] as number[]).length], datatype: "FP32", data: rows[0] }] });
    const answers = await Promise.all(Array.from({ length: 4 }, () => server.call("POST", "/v2/models/cancer-two-threads/infer", body)));
    for (const res of answers) {
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      for (const out of res.json.outputs) {
        const want = fx.expected[out.name] as unknown[];
        if (out.name === "label") expect(out.data).toEqual(want);
        else expectClose(out.data, want.flat(), `breast_cancer_rf ${out.name}`);
      }
    }
  }, 60_000);
});
