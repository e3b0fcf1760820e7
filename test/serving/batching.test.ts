/**
 * Adaptive batching over HTTP: the iris and breast cancer fixture models registered through the
 * MLflow API, batching turned on with registered-model tags (no restart), and concurrent requests
 * answered exactly as they are without batching, while the service reports batches of several.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MAX_BATCH_SIZE_TAG, MAX_BATCH_TIME_TAG } from "../../src/serving/batcher.js";
import { inferenceServiceOf, type InferenceService } from "../../src/serving/inference-service.js";
import { API, fixture, splitAnswer, startServingServer, tensorValues, type Answer, type ServingServer } from "./serving-server.js";

const MODELS = [
  { name: "iris-batching", fixture: "iris_logreg" },
  { name: "cancer-batching", fixture: "breast_cancer_rf" },
] as const;
const CONCURRENT = 32;
/** Longer than the model cache's settings TTL (1000 ms), so a changed tag is read again. */
const SETTINGS_TTL_WAIT_MS = 1100;

/** Equal, except that non-integer numbers need only be within relative 1e-5 (1e-7 absolute near zero). */
function expectClose(a: unknown, b: unknown, where: string): void {
  if (typeof a === "number" && typeof b === "number") {
    if (a === b) return;
    const err = Math.abs(b) < 1e-7 ? Math.abs(a - b) : Math.abs(a - b) / Math.abs(b);
    if (!(Number.isInteger(a) && Number.isInteger(b)) && err < (Math.abs(b) < 1e-7 ? 1e-7 : 1e-5)) return;
    expect.fail(`${where}: got ${a}, expected ${b}`);
  }
  if (Array.isArray(b)) {
    expect(Array.isArray(a), where).toBe(true);
    expect((a as unknown[]).length, where).toBe(b.length);
    b.forEach((x, i) => expectClose((a as unknown[])[i], x, `${where}[${i}]`));
    return;
  }
  if (typeof b === "object" && b !== null) {
    expect(Object.keys(a as object), where).toEqual(Object.keys(b));
    for (const [k, x] of Object.entries(b)) expectClose((a as Record<string, unknown>)[k], x, `${where}.${k}`);
    return;
  }
  expect(a, where).toBe(b);
}

/** The same answer: JSON header compared with expectClose, binary parts byte for byte except FP32 values (close). */
function expectSameAnswer(a: Answer, b: Answer, where: string): void {
  const x = splitAnswer(a);
  const y = splitAnswer(b);
  expectClose(x.json, y.json, where);
  expect(Object.keys(x.parts), where).toEqual(Object.keys(y.parts));
  for (const o of y.json.outputs ?? []) {
    const want = y.parts[o.name];
    if (want === undefined) continue;
    const got = x.parts[o.name] as Buffer;
    if (o.datatype === "FP32") expectClose(tensorValues("FP32", got), tensorValues("FP32", want), `${where} binary ${o.name}`);
    else expect(got.equals(want), `${where} binary ${o.name}`).toBe(true);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Request `k` of a model: 1-3 rows of the fixture's inputs, an id, and varied outputs and parameters. */
function inferBody(fx: ReturnType<typeof fixture>["expected"], k: number): Record<string, unknown> {
  const rows = 1 + (k % 3);
  const start = (k * 7) % (fx.inputs.length - rows);
  const data = fx.inputs.slice(start, start + rows);
  const variant = k % 4;
  return {
    id: `req-${k}`,
    inputs: [{ name: fx.input, shape: [rows, data[0]?.length], datatype: "FP32", data }],
    ...(variant === 1 ? { outputs: [{ name: "probabilities" }] } : {}),
    ...(variant === 2 ? { outputs: [{ name: "label" }, { name: "probabilities", parameters: { binary_data: true } }] } : {}),
    ...(variant === 3 ? { parameters: { binary_data_output: true } } : {}),
  };
}

// With the second ONNX Runtime thread too (flywheel server's default): concurrent batches run there.
for (const runtimeThread of [false, true]) describe(`adaptive batching over HTTP${runtimeThread ? ", ONNX Runtime thread on" : ""}`, () => {
  let server: ServingServer;
  let service: InferenceService;
  const versions = new Map<string, string>();
  /** The answers of a burst with batching off, which every batched burst must repeat. */
  let without = new Map<string, Answer>();

  /** Every model's CONCURRENT V2 requests and a few V1 ones, all in flight at once. */
  const burst = async (): Promise<Map<string, Answer>> => {
    const answers = new Map<string, Answer>();
    await Promise.all(
      MODELS.flatMap(({ name, fixture: f }) => {
        const { expected: fx } = fixture(f);
        const v2 = Array.from({ length: CONCURRENT }, async (_, k) => {
          answers.set(`${name} v2 ${k}`, await server.call("POST", `/v2/models/${name}/versions/${versions.get(name)}/infer`, inferBody(fx, k)));
        });
        const v1 = Array.from({ length: 4 }, async (_, k) => {
          answers.set(`${name} v1 ${k}`, await server.call("POST", `/v1/models/${name}:predict`, { instances: fx.inputs.slice(k * 5, k * 5 + 1 + k) }));
        });
        return [...v2, ...v1];
      }),
    );
    return answers;
  };

  const setTag = async (name: string, key: string, value: string) => {
    const res = await server.call("POST", `${API}/registered-models/set-tag`, { name, key, value });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
  };

  beforeAll(async () => {
    server = await startServingServer({ runtimeThread });
    const s = inferenceServiceOf(server.app.server);
    if (s === undefined) throw new Error("the server has no inference service attached");
    service = s;
    for (const m of MODELS) versions.set(m.name, (await server.register(m.name, fixture(m.fixture).onnx)).version);
  });
  afterAll(async () => {
    await server?.close();
  });

  test(`${CONCURRENT} concurrent requests per model give the same answers with batching on as with it off`, async () => {
    without = await burst();
    expect(service.batchStats.requests, "batching is off by default").toBe(0);
    for (const [key, a] of without) {
      expect(a.status, `${key}: ${a.body.toString("utf8").slice(0, 200)}`).toBe(200);
    }
    // Sanity: the unbatched answers are the fixture's reference labels.
    const iris = fixture("iris_logreg").expected;
    expect(without.get("iris-batching v2 0")?.json.outputs[0]).toMatchObject({ name: "label", shape: [1], data: iris.expected.label?.slice(0, 1) });
    expect(without.get("iris-batching v2 1")?.json).toMatchObject({ id: "req-1", outputs: [{ name: "probabilities", shape: [2, 3] }] });

    for (const { name } of MODELS) {
      await setTag(name, MAX_BATCH_SIZE_TAG, "16");
      await setTag(name, MAX_BATCH_TIME_TAG, "50");
    }
    await sleep(SETTINGS_TTL_WAIT_MS);

    const withBatching = await burst();
    let identical = 0;
    expect([...withBatching.keys()].sort()).toEqual([...without.keys()].sort());
    for (const [key, a] of withBatching) {
      const b = without.get(key) as Answer;
      expect(a.status, key).toBe(200);
      expect(a.headers.get("inference-header-content-length"), key).toBe(b.headers.get("inference-header-content-length"));
      // Ids, requested outputs, names, shapes, datatypes, labels and binary layout exactly; FP32 values
      // within 1e-5 (ONNX Runtime's kernels may round differently for another number of rows).
      expectSameAnswer(a, b, key);
      if (a.body.equals(b.body)) identical++;
      // The tree ensemble sums per row in a fixed order: its answers are the same byte for byte.
      if (key.startsWith("cancer-")) expect(a.body.equals(b.body), key).toBe(true);
    }
    // Most answers are byte for byte the same (all of the tree model's).
    expect(identical).toBeGreaterThan(withBatching.size / 2);

    const stats = service.batchStats;
    expect(stats.requests).toBe(MODELS.length * (CONCURRENT + 4));
    expect(stats.largestBatch, JSON.stringify(stats)).toBeGreaterThan(1);
    expect(stats.runs).toBeLessThan(stats.requests);
    expect(stats.largestBatchRows).toBeLessThanOrEqual(16);
  });

  test("max_batch_time_ms 0: requests read in the same event-loop turn share a run, a lone request runs alone, answers unchanged", async () => {
    expect(without.size, "the first test ran").toBeGreaterThan(0);
    for (const { name } of MODELS) await setTag(name, MAX_BATCH_TIME_TAG, "0");
    await sleep(SETTINGS_TTL_WAIT_MS);
    const before = structuredClone(service.batchStats);

    const lone = await server.call("POST", `/v2/models/${MODELS[0].name}/infer`, inferBody(fixture(MODELS[0].fixture).expected, 0));
    expect(lone.status).toBe(200);
    expectSameAnswer(lone, without.get(`${MODELS[0].name} v2 0`) as Answer, "lone request");
    expect(service.batchStats.requests - before.requests, "the lone request went through the batcher").toBe(1);
    expect((service.batchStats.runsBySize[1] ?? 0) - (before.runsBySize[1] ?? 0), "and ran alone").toBe(1);

    const natural = await burst();
    for (const [key, a] of natural) {
      expect(a.status, key).toBe(200);
      expectSameAnswer(a, without.get(key) as Answer, key);
    }
    const stats = service.batchStats;
    expect(stats.requests - before.requests).toBe(1 + MODELS.length * (CONCURRENT + 4));
    const shared = Object.entries(stats.runsBySize).filter(([size, n]) => Number(size) > 1 && n > (before.runsBySize[Number(size)] ?? 0));
    expect(shared.length, `runs of several requests in the burst: ${JSON.stringify(stats.runsBySize)} after ${JSON.stringify(before.runsBySize)}`).toBeGreaterThan(0);
    expect(stats.largestBatchRows).toBeLessThanOrEqual(16);
    expect(stats.waiting).toBe(0);

    // /metrics has every batcher run so far: runs (count) and the requests they served (sum), per model.
    const text = (await server.call("GET", "/metrics")).body.toString("utf8");
    const summed = (metric: string) =>
      [...text.matchAll(new RegExp(`^${metric}\\{model="[^"]+"\\} (\\S+)$`, "gm"))].reduce((n, m) => n + Number(m[1]), 0);
    expect(summed("flywheel_batch_size_requests_count")).toBe(stats.runs);
    expect(summed("flywheel_batch_size_requests_sum")).toBe(stats.requests);
    expect(summed("flywheel_batch_size_rows_count")).toBe(stats.runs);
  });

  test("removing a tag turns batching off again, without a restart", async () => {
    const { name, fixture: f } = MODELS[0];
    const res = await server.call("DELETE", `${API}/registered-models/delete-tag`, { name, key: MAX_BATCH_SIZE_TAG });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    await sleep(SETTINGS_TTL_WAIT_MS);
    const before = service.batchStats.requests;
    const { expected: fx } = fixture(f);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, k) => server.call("POST", `/v2/models/${name}/infer`, inferBody(fx, k))));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 8 }, () => 200));
    expect(service.batchStats.requests).toBe(before);
  });

  test("with the thread on, the bursts' runs went to it too", () => {
    if (runtimeThread) expect(service.models.thread?.offloaded ?? 0).toBeGreaterThan(0);
    else expect(service.models.thread).toBeUndefined();
  });
});
