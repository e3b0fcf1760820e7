/**
 * The inference log through a real server and real files: V2, V1 and predict API requests are
 * logged with their ids, feature-named inputs and outputs; labels posted later are joined (the
 * latest wins) and bad labels are refused naming the field; a sample rate of 0 logs nothing; a
 * full queue drops and counts without failing a request, or, under the backpressure policy, holds
 * requests until there is room (at most maxWaitMs); the log rolls into Parquet that DuckDB
 * reads by glob; and every row is published to the stream bus (in-process, and NATS when
 * FLYWHEEL_TEST_NATS_URL is set).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../../src/storage/offline/duckdb.js";
import { openStreamBus } from "../../src/storage/stream/open.js";
import { inferenceStreamNames } from "../../src/serving/inference-log/stream-sink.js";
import { pushStreamNames } from "../../src/features/push-consumer.js";
import { sqliteBackend } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { streamBackends, streamTitleOf } from "../helpers/stream-backends.js";

const API = "/api/2.0/mlflow";
const FIXTURE = JSON.parse(readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.expected.json", import.meta.url), "utf8")) as {
  inputs: number[][];
  expected: { label: number[]; probabilities: number[][] };
};
const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const CLASSES = ["setosa", "versicolor", "virginica"];
const METADATA = `metadata:\n  flywheel:\n    features: [${FEATURES.join(", ")}]\n    class_names: [${CLASSES.join(", ")}]\n`;

const v2Body = (rows: number[], id?: string) => ({
  ...(id === undefined ? {} : { id }),
  inputs: [{ name: "float_input", datatype: "FP32", shape: [rows.length, 4], data: rows.flatMap((i) => FIXTURE.inputs[i] as number[]) }],
});

async function post(s: TestServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as any, requestId: res.headers.get("x-request-id") };
}

async function register(s: TestServer, name: string, metadata: string): Promise<void> {
  const exp = await s.call("POST", `${API}/experiments/create`, { name: `log-${name}` });
  const run = await s.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
  const uri: string = run.json.run.info.artifact_uri;
  await uploadToRun(s.url, uri, { "model/MLmodel": irisMlmodel(metadata), "model/model.onnx": IRIS_ONNX });
  expect((await s.call("POST", `${API}/registered-models/create`, { name })).status).toBe(200);
  const v = await s.call("POST", `${API}/model-versions/create`, { name, source: `${uri}/model`, run_id: run.json.run.info.run_id });
  expect(v.json.model_version.status).toBe("READY");
}

async function metric(s: TestServer, pattern: RegExp): Promise<number> {
  const m = pattern.exec(await (await fetch(`${s.url}/metrics`)).text());
  return m === null ? 0 : Number(m[1]);
}

async function logged(s: TestServer, model: string): Promise<any[]> {
  await s.inferenceLog.flush();
  const res = await s.call("GET", `/api/v1/inference-log?model=${encodeURIComponent(model)}&limit=10000`);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json.records;
}

describe("inference log through the server", () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer(sqliteBackend);
    await register(s, "iris", METADATA);
    await register(s, "iris-bare", "");
  });

  afterAll(async () => {
    await s?.stop();
  });

  test("V2, V1 and predict requests are logged with their ids, feature-named inputs, labels and probabilities", async () => {
    const withId = await post(s, "/v2/models/iris/infer", v2Body([0, 60], "req-v2"));
    expect(withId.status).toBe(200);
    expect(withId.json.id).toBe("req-v2");
    // Without an id the answer gets one (the protocol's optional `id`), and stays a valid V2 answer.
    const noId = await post(s, "/v2/models/iris/infer", v2Body([120]));
    expect(Object.keys(noId.json).sort()).toEqual(["id", "model_name", "model_version", "outputs"]);
    expect(noId.json.id).toMatch(/^[0-9a-f-]{36}$/);
    // A V2 request without a body id may name itself in the header.
    expect((await post(s, "/v2/models/iris/infer", v2Body([5]), { "x-request-id": "hdr-v2" })).json.id).toBe("hdr-v2");
    const v1 = await post(s, "/v1/models/iris:predict", { instances: [FIXTURE.inputs[149]] }, { "x-request-id": "req-v1" });
    expect(v1.status).toBe(200);
    expect(v1.requestId).toBe("req-v1");
    const records = FEATURES.map((f, j) => [f, FIXTURE.inputs[30]?.[j]]);
    const predicted = await post(s, "/api/v1/predict/iris", { records: [Object.fromEntries(records)], id: "req-predict" });
    expect(predicted.json.id).toBe("req-predict");
    expect((await post(s, "/v1/models/iris:predict", { instances: [FIXTURE.inputs[0]] }, { "x-request-id": "" })).status).toBe(400);

    const rows = await logged(s, "iris");
    const byKey = new Map(rows.map((r) => [`${r.request_id}/${r.row}`, r]));
    expect([...byKey.keys()].sort()).toEqual(["hdr-v2/0", "req-predict/0", "req-v1/0", "req-v2/0", "req-v2/1", `${noId.json.id}/0`].sort());
    const check = (key: string, fixtureRow: number, protocol: string) => {
      const r = byKey.get(key);
      expect(r, key).toMatchObject({ model: "iris", version: "1", protocol });
      expect(Object.keys(r.inputs)).toEqual(FEATURES);
      // Logged as the shortest decimal of the float32 the model saw (5.1, not 5.099999904632568).
      FEATURES.forEach((f, j) => expect(Math.fround(r.inputs[f]), `${key} ${f}`).toBe(Math.fround(FIXTURE.inputs[fixtureRow]?.[j] as number)));
      expect(r.prediction, key).toBe(CLASSES[FIXTURE.expected.label[fixtureRow] as number]);
      CLASSES.forEach((c, k) => expect(Math.abs(r.probabilities[c] - (FIXTURE.expected.probabilities[fixtureRow]?.[k] as number))).toBeLessThan(1e-5));
      expect(r.outputs.label).toBe(FIXTURE.expected.label[fixtureRow]);
      expect(r.latency_ms).toBeGreaterThan(0);
      expect(Date.now() - Date.parse(r.timestamp)).toBeLessThan(60_000);
    };
    check("req-v2/0", 0, "v2");
    check("req-v2/1", 60, "v2");
    check(`${noId.json.id}/0`, 120, "v2");
    check("req-v1/0", 149, "v1");
    check("req-predict/0", 30, "predict");

    // A package without a feature list: inputs by tensor name, one list per row.
    const bare = await post(s, "/v2/models/iris-bare/infer", v2Body([0], "bare-1"));
    expect(bare.status).toBe(200);
    const [b] = await logged(s, "iris-bare");
    expect(b).toMatchObject({ request_id: "bare-1", prediction: FIXTURE.expected.label[0] });
    expect(b.inputs.float_input.map(Math.fround)).toEqual(FIXTURE.inputs[0]?.map(Math.fround));
    expect(await metric(s, /^flywheel_inference_log_records_written_total (\d+)/m)).toBeGreaterThanOrEqual(6);
  });

  test("labels posted later are joined by request id and row; a later label replaces an earlier one; then rolled into Parquet", async () => {
    await post(s, "/v2/models/iris/infer", v2Body([1, 2], "late"));
    expect((await logged(s, "iris")).find((r) => r.request_id === "late").label).toBeUndefined();
    const first = await post(s, "/api/v1/labels", { labels: [{ request_id: "late", label: "virginica" }, { request_id: "late", row: 1, label: "setosa", timestamp: "2024-05-01T10:00:00Z" }] });
    expect(first).toMatchObject({ status: 200, json: { accepted: 2 } });
    await post(s, "/api/v1/labels", { labels: [{ request_id: "late", label: "setosa" }] });
    const late = (await logged(s, "iris")).filter((r) => r.request_id === "late").sort((a, b) => a.row - b.row);
    expect(late.map((r) => [r.row, r.label, r.label_timestamp])).toEqual([
      [0, "setosa", expect.any(String)],
      [1, "setosa", "2024-05-01T10:00:00.000Z"],
    ]);

    const files = await s.inferenceLog.roll();
    expect(files.some((f) => /inference-log\/parquet\/model=iris\/date=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/[^/]+\.parquet$/.test(f))).toBe(true);
    expect(files.some((f) => /labels\/parquet\/date=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/[^/]+\.parquet$/.test(f))).toBe(true);
    const db = await OfflineDb.open();
    try {
      const glob = join(s.dataDir, "inference-log/parquet/model=iris/*/*/*.parquet");
      const [count] = await db.query(`SELECT count(*)::INTEGER AS n, count(DISTINCT request_id)::INTEGER AS ids FROM read_parquet(${quoteLiteral(glob)}, union_by_name = true)`);
      expect(count).toEqual({ n: 8, ids: 6 });
    } finally {
      db.close();
    }
    // After the roll, the same answer from Parquet.
    const rolled = (await logged(s, "iris")).filter((r) => r.request_id === "late").map((r) => r.label);
    expect(rolled).toEqual(["setosa", "setosa"]);
  });

  test("bad labels are refused with a 400 naming the field and the rule", async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /'labels'/],
      [{ labels: [] }, /'labels'.*at least 1|'labels'.*>=1/i],
      [{ labels: [{ label: 1 }] }, /'labels\[0\]\.request_id'/],
      [{ labels: [{ request_id: "a", label: null }] }, /'labels\[0\]\.label': must be a string, a finite number or a boolean/],
      [{ labels: [{ request_id: "a", label: { x: 1 } }] }, /'labels\[0\]\.label'/],
      [{ labels: [{ request_id: "a", label: 1 }, { request_id: "b", label: 2, timestamp: "yesterday" }] }, /'labels\[1\]\.timestamp': must be an ISO-8601 time/],
      [{ labels: [{ request_id: "a", label: 1, row: -1 }] }, /'labels\[0\]\.row'/],
      [{ labels: Array.from({ length: 10_001 }, (_, i) => ({ request_id: String(i), label: 1 })) }, /'labels'/],
    ];
    for (const [body, message] of cases) {
      const res = await s.call("POST", "/api/v1/labels", body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json.error_code).toBe("FW_REQUEST_INVALID_FIELD");
      expect(res.json.message).toMatch(message);
    }
    expect((await s.call("GET", "/api/v1/inference-log?model=iris&since=soon")).json.message).toMatch(/'since'/);
  });

  test("a sample rate of 0 logs nothing for that model", async () => {
    await s.call("POST", `${API}/registered-models/set-tag`, { name: "iris-bare", key: "flywheel.log.sample_rate", value: "0" });
    await new Promise((r) => setTimeout(r, 1100));
    const before = (await logged(s, "iris-bare")).length;
    for (let i = 0; i < 5; i++) expect((await post(s, "/v2/models/iris-bare/infer", v2Body([i], `unsampled-${i}`))).status).toBe(200);
    expect((await logged(s, "iris-bare")).length).toBe(before);
    await s.call("POST", `${API}/registered-models/set-tag`, { name: "iris-bare", key: "flywheel.log.sample_rate", value: "1" });
  });
});

describe("inference log backpressure", () => {
  let s: TestServer;
  beforeAll(async () => {
    // Room for two rows, and no group written for a minute: the third row on finds the queue full.
    s = await startTestServer(sqliteBackend, { inferenceLog: { capacity: 2, groupCommitMs: 60_000 } });
    await register(s, "iris", METADATA);
  });
  afterAll(async () => {
    await s?.stop();
  });

  test("a full queue drops and counts rows; every request still succeeds", async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(s, "/v2/models/iris/infer", v2Body([i], `q-${i}`))));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 10 }, () => 200));
    expect(await metric(s, /^flywheel_inference_log_records_dropped_total\{reason="queue_full"\} (\d+)/m)).toBe(8);
    expect(await metric(s, /^flywheel_inference_log_backlog_records (\d+)/m)).toBe(2);
    expect(await metric(s, /^flywheel_batch_queue_depth (\d+)/m)).toBe(0);
    await s.inferenceLog.flush();
    expect(await metric(s, /^flywheel_inference_log_records_written_total (\d+)/m)).toBe(2);
    expect(await metric(s, /^flywheel_inference_log_backlog_records (\d+)/m)).toBe(0);
    expect(s.inferenceLog.stats()).toMatchObject({ written: 2, dropped: 8, backlog: 0 });
  });
});

describe("inference log overflow policy backpressure", () => {
  let s: TestServer;
  afterAll(async () => {
    await s?.stop();
  });

  test("requests that find the log full wait for room: every row is written, none dropped, and the waits are counted", async () => {
    // Room for two rows; a group is written 150 ms after its first row, which frees the room.
    s = await startTestServer(sqliteBackend, { inferenceLog: { capacity: 2, groupCommitMs: 150, overflow: "backpressure", maxWaitMs: 30_000 } });
    await register(s, "iris", METADATA);
    await s.inferenceLog.flush();
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const a = await post(s, "/v2/models/iris/infer", v2Body([i], `bp-${i}`));
        return { ...a, ms: performance.now() - started };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 8 }, () => 200));
    for (const [i, a] of answers.entries()) expect(a.json.outputs.find((o: any) => o.name === "label").data).toEqual([FIXTURE.expected.label[i]]);
    // Two rows per written group: the last pair waited for three groups to be written.
    expect(Math.max(...answers.map((a) => a.ms))).toBeGreaterThanOrEqual(3 * 150 - 20);
    await s.inferenceLog.flush();
    expect(s.inferenceLog.stats()).toMatchObject({ written: 8, dropped: 0, backlog: 0, waiting: 0, waited: 6 });
    expect(await metric(s, /^flywheel_inference_log_backpressure_waits_total (\d+)/m)).toBe(6);
    expect(await metric(s, /^flywheel_inference_log_waiting_requests (\d+)/m)).toBe(0);
    expect(await metric(s, /^flywheel_inference_log_records_dropped_total\{reason="queue_full"\} (\d+)/m)).toBe(0);
    const rows = await logged(s, "iris");
    expect(rows.map((r) => r.request_id).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `bp-${i}`).sort());
  });

  test("a request waits at most maxWaitMs: its rows are then dropped and counted, and it is answered", async () => {
    await s.stop();
    // Room for one row, and no group written for a minute: the others give up after 100 ms.
    s = await startTestServer(sqliteBackend, { inferenceLog: { capacity: 1, groupCommitMs: 60_000, overflow: "backpressure", maxWaitMs: 100 } });
    await register(s, "iris", METADATA);
    await s.inferenceLog.flush();
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => post(s, "/v2/models/iris/infer", v2Body([i], `gave-up-${i}`))));
    const ms = performance.now() - started;
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(ms).toBeGreaterThanOrEqual(95);
    expect(ms).toBeLessThan(5_000);
    expect(await metric(s, /^flywheel_inference_log_records_dropped_total\{reason="queue_full"\} (\d+)/m)).toBe(3);
    expect(s.inferenceLog.stats()).toMatchObject({ dropped: 3, backlog: 1, waiting: 0, waited: 3 });
    await s.inferenceLog.flush();
    expect(s.inferenceLog.stats()).toMatchObject({ written: 1, dropped: 3, backlog: 0 });
  });
});

for (const backend of streamBackends) {
  describe.skipIf(backend.skip !== undefined)(`inference log stream sink on ${streamTitleOf(backend)}`, () => {
    let s: TestServer;
    let stream: { uri: string; prefix: string; drop(): Promise<void> };
    beforeAll(async () => {
      stream = await backend.create();
      s = await startTestServer(sqliteBackend, { streamUri: stream.uri, featureProject: stream.prefix });
      await register(s, "iris", METADATA);
    });
    afterAll(async () => {
      await s?.stop();
      if (stream !== undefined) {
        const bus = await openStreamBus(stream.uri);
        await bus.deleteStream(inferenceStreamNames(stream.prefix).stream);
        await bus.deleteStream(pushStreamNames(stream.prefix).stream);
        await bus.close();
        await stream.drop();
      }
    });

    test("every logged row is published to flywheel.<project>.inference.<model>", async () => {
      expect((await post(s, "/v2/models/iris/infer", v2Body([0, 1, 2], "streamed"))).status).toBe(200);
      await s.inferenceLog.flush();
      expect(s.inferenceLog.stats().stream).toEqual({ published: 3, dropped: 0, backlog: 0 });
      const names = inferenceStreamNames(stream.prefix);
      const bus = await openStreamBus(stream.uri);
      const seen: { subject: string; msgId: string | undefined; body: any }[] = [];
      try {
        const sub = await bus.consume(names.stream, "inference-log-test", { batch: 10 }, async (msgs) => {
          for (const m of msgs) seen.push({ subject: m.subject, msgId: m.msgId, body: m.json() });
        });
        const deadline = Date.now() + 10_000;
        while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await sub.stop();
      } finally {
        await bus.close();
      }
      expect(seen.map((m) => [m.subject, m.msgId, m.body.row, m.body.prediction])).toEqual(
        [0, 1, 2].map((i) => [`${names.subjectPrefix}.iris`, `streamed:${i}`, i, CLASSES[FIXTURE.expected.label[i] as number]]),
      );
      expect(seen[0]?.body).toMatchObject({ request_id: "streamed", model: "iris", protocol: "v2" });
      expect(Math.fround(seen[0]?.body["input.sepal_length"])).toBe(Math.fround(FIXTURE.inputs[0]?.[0] as number));
      expect(await metric(s, /^flywheel_inference_log_records_published_total (\d+)/m)).toBe(3);
    });
  });
}
