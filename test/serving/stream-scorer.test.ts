/**
 * The streaming scorer on every stream backend (in-process always, NATS JetStream when
 * FLYWHEEL_TEST_NATS_URL is set): the iris fixture reproduced from records and from entity keys,
 * unscorable messages on the error subject, acknowledgement only after the outputs are stored
 * (a failing publish is redelivered and stored once), restart resume, model faults that do not
 * drain the stream; and `flywheel score-stream` itself.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { io } from "../../src/cli/output.js";
import { openPredictServices, registerScoreStreamCommand, type PredictServices } from "../../src/cli/score-stream.js";
import { loadConfig } from "../../src/core/config.js";
import { FlywheelError } from "../../src/core/errors.js";
import { defaultStreamName, StreamScorer, type StreamScorerOptions } from "../../src/serving/stream-scorer.js";
import { OfflineDb, quoteLiteral } from "../../src/storage/offline/duckdb.js";
import { openStreamBus } from "../../src/storage/stream/open.js";
import type { PublishAck, StreamBus, StreamMessage, Subscription } from "../../src/storage/stream/stream-bus.js";
import { sqliteBackend } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { memoryStreamBackend, streamBackends, streamTitleOf } from "../helpers/stream-backends.js";

const FIXTURE = JSON.parse(readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.expected.json", import.meta.url), "utf8")) as {
  inputs: number[][];
  expected: { label: number[]; probabilities: number[][] };
};
const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const CLASSES = ["setosa", "versicolor", "virginica"];
const API = "/api/2.0/mlflow";
const WITH_FEATURES = `metadata:\n  flywheel:\n    feature_service: iris_v1\n    features: [${FEATURES.join(", ")}]\n    class_names: [${CLASSES.join(", ")}]\n`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const featuresOf = (i: number) => Object.fromEntries(FEATURES.map((f, j) => [f, FIXTURE.inputs[i]?.[j]]));

interface Output {
  id: unknown;
  model_name: string;
  model_version: string;
  prediction?: { label: string; probabilities: Record<string, number> };
  predictions?: { label: string; probabilities: Record<string, number> }[];
  source_seq: number;
  source_subject: string;
}

function expectRow(p: { label: string; probabilities: Record<string, number> } | undefined, i: number): void {
  expect(p?.label, `row ${i}`).toBe(CLASSES[FIXTURE.expected.label[i] as number]);
  CLASSES.forEach((c, j) => {
    const want = FIXTURE.expected.probabilities[i]?.[j] as number;
    expect(Math.abs((p?.probabilities[c] as number) - want), `row ${i} ${c}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
  });
}

let server: TestServer;
let services: PredictServices;
let storeFlags: string[];

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  // The fixture's 150 rows as a feature source keyed by flower_id = row index.
  const db = await OfflineDb.open();
  const source = join(server.dataDir, "iris_features.parquet");
  const values = FIXTURE.inputs.map((r, i) => `(${i}, ${r.map((v) => `${v}::FLOAT`).join(", ")}, TIMESTAMPTZ '2024-01-01 00:00:00+00')`).join(", ");
  await db.run(`COPY (SELECT * FROM (VALUES ${values}) t(flower_id, ${FEATURES.join(", ")}, ts)) TO ${quoteLiteral(source)} (FORMAT parquet)`);
  db.close();
  const definitions = {
    entities: [{ kind: "entity", name: "flower", joinKeys: ["flower_id"], valueType: "Int64" }],
    sources: [{ kind: "file_source", name: "iris_src", path: source, timestampField: "ts" }],
    featureViews: [{ kind: "feature_view", name: "iris", entities: ["flower"], source: "iris_src", schema: FEATURES.map((name) => ({ name, dtype: "Float32" })) }],
    featureServices: [{ kind: "feature_service", name: "iris_v1", features: [{ view: "iris" }] }],
  };
  expect((await server.call("POST", "/api/v1/features/apply", { definitions })).status).toBe(200);
  expect((await server.call("POST", "/materialize", { start_ts: "2023-01-01", end_ts: "2025-01-01" })).json.materialized[0].rows).toBe(150);
  const created = new Set<string>();
  const register = async (name: string, metadata: string, alias?: string) => {
    const exp = await server.call("POST", `${API}/experiments/create`, { name: `stream-${name}-${created.size}-${Math.random()}` });
    const run = await server.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
    const uri: string = run.json.run.info.artifact_uri;
    await uploadToRun(server.url, uri, { "model/MLmodel": irisMlmodel(metadata), "model/model.onnx": IRIS_ONNX });
    if (!created.has(name)) await server.call("POST", `${API}/registered-models/create`, { name });
    created.add(name);
    const v = await server.call("POST", `${API}/model-versions/create`, { name, source: `${uri}/model`, run_id: run.json.run.info.run_id });
    expect(v.json.model_version.status).toBe("READY");
    if (alias !== undefined) await server.call("POST", `${API}/registered-models/alias`, { name, alias, version: v.json.model_version.version });
  };
  await register("iris", WITH_FEATURES, "champion");
  await register("iris-bare", "", "champion");
  storeFlags = ["--data-dir", server.dataDir, "--metadata-uri", server.metadataUri, "--artifacts-uri", join(server.dataDir, "artifacts"), "--config", join(server.dataDir, "none.yaml")];
  services = await openPredictServices(
    loadConfig({ flags: { dataDir: server.dataDir, metadataUri: server.metadataUri, artifactsUri: join(server.dataDir, "artifacts") }, env: {}, file: join(server.dataDir, "none.yaml") }),
  );
});

afterAll(async () => {
  await services?.close();
  await server?.stop();
});

/** A bus whose publish can be intercepted; everything else goes to `inner`. */
function interceptedBus(inner: StreamBus, intercept: (subject: string, msgId: string | undefined, publish: () => Promise<PublishAck>) => Promise<PublishAck>): StreamBus {
  return {
    scheme: inner.scheme,
    capabilities: inner.capabilities,
    maxPayloadBytes: inner.maxPayloadBytes,
    ensureStream: (...a) => inner.ensureStream(...a),
    deleteStream: (...a) => inner.deleteStream(...a),
    publish: (subject, payload, options) => intercept(subject, options?.msgId, () => inner.publish(subject, payload, options)),
    consume: (...a) => inner.consume(...a),
    consumerState: (...a) => inner.consumerState(...a),
    deleteConsumer: (...a) => inner.deleteConsumer(...a),
    close: () => inner.close(),
  };
}

for (const backend of streamBackends) {
  describe.skipIf(backend.skip !== undefined)(`stream scorer on ${streamTitleOf(backend)}`, () => {
    let uri: string;
    let prefix: string;
    let drop: () => Promise<void>;
    let bus: StreamBus;
    let n = 0;
    const running: (StreamScorer | Subscription)[] = [];

    beforeAll(async () => {
      ({ uri, prefix, drop } = await backend.create());
      bus = await openStreamBus(uri);
    });

    afterAll(async () => {
      for (const r of running) await r.stop();
      // The scorer's own streams are named after the subjects, not under the prefix `drop` deletes.
      for (const r of running) {
        if (r instanceof StreamScorer) for (const s of [r.inputStream, r.outputStream]) await bus.deleteStream(s);
      }
      await bus?.close();
      await drop?.();
    });

    /** A scorer on fresh subjects `<prefix>.<n>.in` -> `<prefix>.<n>.out`. */
    function scorerOn(options: Partial<StreamScorerOptions> = {}): StreamScorer {
      const k = ++n;
      const scorer = new StreamScorer({
        bus,
        predictor: services.predict,
        inference: services.inference,
        model: { name: "iris", kind: "alias", alias: "champion" },
        inputSubject: `${prefix}.${k}.in`,
        outputSubject: `${prefix}.${k}.out`,
        inputStream: undefined,
        outputStream: undefined,
        durable: `scorer-${k}`,
        batch: 32,
        retryDelayMs: 50,
        ...options,
      } as StreamScorerOptions);
      running.push(scorer);
      return scorer;
    }

    /** Everything stored on the scorer's output stream: predictions and errors, by subject. */
    async function outputsOf(scorer: StreamScorer, on: StreamBus = bus): Promise<{ outputs: StreamMessage[]; errors: StreamMessage[] }> {
      const outputs: StreamMessage[] = [];
      const errors: StreamMessage[] = [];
      const sub = await on.consume(scorer.outputStream, `reader-${++n}`, { batch: 500 }, async (msgs) => {
        for (const m of msgs) (m.subject === scorer.errorSubject ? errors : outputs).push(m);
      });
      running.push(sub);
      return { outputs, errors };
    }

    async function publishAll(subject: string, bodies: (object | Uint8Array)[]): Promise<number[]> {
      const seqs: number[] = [];
      for (const b of bodies) seqs.push((await bus.publish(subject, b)).seq);
      return seqs;
    }

    test("records by name in each envelope, and entity keys alone, reproduce the iris fixture", async () => {
      const scorer = scorerOn();
      expect(await scorer.start()).toEqual({ name: "iris", version: "1" });
      const read = await outputsOf(scorer);
      // Row i is sent as a bare record, as {id, record: {flower_id}} (features from the online store), or as {id, records: [...]}.
      const bodies = FIXTURE.inputs.map((_, i) =>
        i % 3 === 0 ? featuresOf(i) : i % 3 === 1 ? { id: `row-${i}`, record: { flower_id: i } } : { id: i, records: [{ flower_id: i, ...featuresOf(i) }, { flower_id: i, sepal_length: FIXTURE.inputs[i]?.[0] }] },
      );
      const seqs = await publishAll(scorer.inputSubject, bodies);
      await waitFor("150 outputs", () => read.outputs.length >= 150);
      await waitFor("the consumer to catch up", () => scorer.caughtUp());
      expect(read.errors).toEqual([]);
      expect(read.outputs).toHaveLength(150);
      for (const m of read.outputs) {
        const out = m.json<Output>();
        const i = seqs.indexOf(out.source_seq);
        expect(i, `source_seq ${out.source_seq}`).toBeGreaterThanOrEqual(0);
        expect(m.msgId).toBe(`${scorer.durable}:${out.source_seq}`);
        expect(out).toMatchObject({ model_name: "iris", model_version: "1", source_subject: scorer.inputSubject });
        if (i % 3 === 0) {
          expect(out.id).toBe(`${scorer.inputStream}:${out.source_seq}`);
          expectRow(out.prediction, i);
        } else if (i % 3 === 1) {
          expect(out.id).toBe(`row-${i}`);
          expectRow(out.prediction, i);
        } else {
          expect(out.id).toBe(i);
          expect(out.prediction).toBeUndefined();
          expect(out.predictions).toHaveLength(2);
          expectRow(out.predictions?.[0], i);
          expectRow(out.predictions?.[1], i);
        }
      }
      expect(scorer.stats).toMatchObject({ messages: 150, records: 200, rejected: 0, failedBatches: 0 });
      expect(await scorer.consumerState()).toMatchObject({ ackFloorSeq: seqs.at(-1), numPending: 0, numAckPending: 0 });
    });

    test("a message that can never be scored goes to <output>.errors with the reason, is acknowledged, and the rest of its batch is scored", async () => {
      const scorer = scorerOn();
      await scorer.start();
      const read = await outputsOf(scorer);
      const bad: [object | Uint8Array, string][] = [
        [new TextEncoder().encode("{not json"), "not valid JSON"],
        [[1, 2, 3], "expected a JSON object"],
        [{ flower_id: 999 }, `record: feature 'iris:sepal_length' is NOT_FOUND in the online store for {"flower_id":999}`],
        [{ id: "typed", record: { ...featuresOf(3), petal_width: "wide" } }, "record.petal_width must be a number (got string)"],
        [{ records: [] }, "'records' must be a non-empty list of objects"],
        [{ record: featuresOf(4), note: "x" }, "unknown field 'note'"],
        [{ records: [featuresOf(5), { sepal_length: 1 }] }, "carry no entity keys"],
      ];
      // Good messages around the bad ones, all in one batch.
      const bodies = [featuresOf(10), ...bad.map(([b]) => b), featuresOf(20)];
      const seqs = await publishAll(scorer.inputSubject, bodies);
      await waitFor("2 outputs and 7 errors", () => read.outputs.length >= 2 && read.errors.length >= bad.length);
      await waitFor("the consumer to catch up", () => scorer.caughtUp());
      expect(read.outputs.map((m) => m.json<Output>().source_seq)).toEqual([seqs[0], seqs.at(-1)]);
      expectRow(read.outputs[0]?.json<Output>().prediction, 10);
      expectRow(read.outputs[1]?.json<Output>().prediction, 20);
      const errors = read.errors.map((m) => m.json<{ id?: unknown; error: string; source_seq: number; model: string; data: string }>());
      expect(errors.map((e) => e.source_seq)).toEqual(seqs.slice(1, -1));
      errors.forEach((e, k) => expect(e.error).toContain(bad[k]?.[1]));
      expect(errors[0]?.data).toBe("{not json");
      expect(errors[3]).toMatchObject({ id: "typed", model: "iris@champion" });
      expect(read.errors.map((m) => m.msgId)).toEqual(seqs.slice(1, -1).map((s) => `${scorer.durable}:${s}:error`));
      expect(scorer.stats).toMatchObject({ messages: 9, rejected: 7, failedBatches: 0 });
    });

    test("predictions larger than the bus's largest message, and more records than one call takes, go to the errors subject", async () => {
      // The same bus, claiming a 4 KB message limit: 40 predictions do not fit, 2 do.
      const small: StreamBus = { ...interceptedBus(bus, (_s, _id, publish) => publish()), maxPayloadBytes: 4096 };
      const scorer = scorerOn({ bus: small });
      await scorer.start();
      const read = await outputsOf(scorer);
      const rows = (k: number) => Array.from({ length: k }, (_, i) => ({ flower_id: i }));
      const seqs = await publishAll(scorer.inputSubject, [{ records: rows(40) }, { records: rows(10_001) }, { records: rows(2) }]);
      await waitFor("1 output and 2 errors", () => read.outputs.length >= 1 && read.errors.length >= 2);
      await waitFor("the consumer to catch up", () => scorer.caughtUp());
      expect(read.outputs.map((m) => m.json<Output>().source_seq)).toEqual([seqs[2]]);
      const errors = read.errors.map((m) => m.json<{ error: string; source_seq: number }>());
      expect(errors[0]).toMatchObject({ source_seq: seqs[0], error: expect.stringMatching(/^the predictions for 40 records take \d+ bytes, more than the bus's largest message \(4096 bytes\)/) });
      expect(errors[1]).toMatchObject({ source_seq: seqs[1], error: "at most 10000 records per message (got 10001)" });
      expect(scorer.stats).toMatchObject({ messages: 3, records: 2, rejected: 2 });
    });

    test("a batch is acknowledged only after its outputs are stored; a failing publish is redelivered and stored once", async () => {
      let gate: (() => void) | undefined;
      const held = new Promise<void>((r) => (gate = r));
      const failures = new Map<string, "before" | "after">();
      let hold = true;
      const flaky = interceptedBus(bus, async (_subject, msgId, publish) => {
        if (hold) await held;
        const how = msgId === undefined ? undefined : failures.get(msgId);
        if (how === undefined) return publish();
        failures.delete(msgId as string);
        if (how === "after") await publish();
        throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `publish of ${msgId} failed (${how} it was stored)`);
      });
      const scorer = scorerOn({ bus: flaky, batch: 10 });
      await scorer.start();
      const read = await outputsOf(scorer);
      const seqs = await publishAll(scorer.inputSubject, [0, 50, 100].map(featuresOf));
      // The outputs are held: nothing is acknowledged, however long the scorer has had the batch.
      await sleep(300);
      expect(read.outputs).toEqual([]);
      expect((await scorer.consumerState())?.ackFloorSeq).toBe(0);
      hold = false;
      gate?.();
      await waitFor("3 outputs", () => read.outputs.length >= 3);
      await waitFor("the consumer to catch up", () => scorer.caughtUp());
      expect((await scorer.consumerState())?.ackFloorSeq).toBe(seqs.at(-1));

      // One publish fails after its message was stored (the answer was lost), one before.
      failures.set(`${scorer.durable}:${(seqs.at(-1) as number) + 2}`, "after");
      failures.set(`${scorer.durable}:${(seqs.at(-1) as number) + 4}`, "before");
      const more = await publishAll(scorer.inputSubject, [1, 2, 3, 4, 5, 6].map(featuresOf));
      expect(more[0]).toBe((seqs.at(-1) as number) + 1);
      await waitFor("9 outputs", () => read.outputs.length >= 9);
      await waitFor("the consumer to catch up", () => scorer.caughtUp());
      await sleep(200);
      expect(failures.size).toBe(0);
      const sources = read.outputs.map((m) => m.json<Output>().source_seq);
      expect(sources).toHaveLength(9);
      expect(new Set(sources)).toEqual(new Set([...seqs, ...more]));
      for (const m of read.outputs) {
        const out = m.json<Output>();
        expectRow(out.prediction, [0, 50, 100, 1, 2, 3, 4, 5, 6][[...seqs, ...more].indexOf(out.source_seq)] as number);
      }
      expect(scorer.stats.failedBatches).toBeGreaterThanOrEqual(1);
      expect(scorer.stats.redeliveries).toBeGreaterThanOrEqual(2);
    });

    test("a restarted scorer (a new connection, the same durable) resumes after the last acknowledged message", async () => {
      const first = scorerOn();
      await first.start();
      const subject = first.inputSubject;
      const read = await outputsOf(first);
      const before = await publishAll(subject, [0, 1, 2, 3, 4].map(featuresOf));
      await waitFor("5 outputs", () => read.outputs.length >= 5);
      await first.stop();

      const after = await publishAll(subject, [5, 6, 7, 8, 9].map(featuresOf));
      const bus2 = await openStreamBus(uri);
      try {
        const second = new StreamScorer({
          bus: bus2,
          predictor: services.predict,
          inference: services.inference,
          model: { name: "iris", kind: "alias", alias: "champion" },
          inputSubject: subject,
          outputSubject: first.outputSubject,
          durable: first.durable,
          retryDelayMs: 50,
        });
        await second.start();
        await waitFor("10 outputs", () => read.outputs.length >= 10);
        await waitFor("the second scorer to catch up", () => second.caughtUp());
        await second.stop();
        expect(second.stats).toMatchObject({ messages: 5, redeliveries: 0 });
      } finally {
        await bus2.close();
      }
      const sources = read.outputs.map((m) => m.json<Output>().source_seq);
      expect(sources.sort((a, b) => a - b)).toEqual([...before, ...after]);
      read.outputs.forEach((m) => expectRow(m.json<Output>().prediction, [...before, ...after].indexOf(m.json<Output>().source_seq)));
    });

    test("a model that cannot score records is refused at start; a model fault later holds the stream instead of draining it into errors", async () => {
      await expect(scorerOn({ model: { name: "iris-bare", kind: "alias", alias: "champion" } }).start()).rejects.toMatchObject({
        status: 400,
        message: expect.stringContaining("has no feature list"),
      });
      await expect(scorerOn({ model: { name: "nope", kind: "latest" } }).start()).rejects.toMatchObject({ status: 404 });

      // The alias moves to a version without a feature list, then back.
      const alias = `swap${n}`;
      const setAlias = async (version: string) => expect((await server.call("POST", `${API}/registered-models/alias`, { name: "iris", alias, version })).status).toBe(200);
      await setAlias("1");
      const scorer = scorerOn({ model: { name: "iris", kind: "alias", alias } });
      await scorer.start();
      const read = await outputsOf(scorer);
      const exp = await server.call("POST", `${API}/experiments/create`, { name: `stream-bare-${alias}` });
      const run = await server.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
      await uploadToRun(server.url, run.json.run.info.artifact_uri, { "model/MLmodel": irisMlmodel(""), "model/model.onnx": IRIS_ONNX });
      const bare = await server.call("POST", `${API}/model-versions/create`, { name: "iris", source: `${run.json.run.info.artifact_uri}/model`, run_id: run.json.run.info.run_id });
      await setAlias(bare.json.model_version.version);
      const [seq] = await publishAll(scorer.inputSubject, [featuresOf(7)]);
      await waitFor("a failed batch", () => scorer.stats.failedBatches >= 2);
      expect(read.outputs).toEqual([]);
      expect(read.errors).toEqual([]);
      await setAlias("1");
      await waitFor("the output", () => read.outputs.length >= 1);
      expect(read.outputs[0]?.json<Output>()).toMatchObject({ model_version: "1", source_seq: seq });
      expectRow(read.outputs[0]?.json<Output>().prediction, 7);
      expect(read.errors).toEqual([]);
    });

    test.skipIf(backend.name !== "nats")("NATS only: throughput at batch 100, against the bus alone consuming and publishing", async () => {
      const count = 5000;
      const floorScorer = scorerOn({ batch: 100 });
      const floorIn = floorScorer.inputSubject;
      const floorOut = floorScorer.outputSubject;
      // The floor: the same streams and durable consumer, each message re-published with its msgId, no scoring.
      await bus.ensureStream(floorScorer.inputStream, [floorIn]);
      await bus.ensureStream(floorScorer.outputStream, [floorOut, floorScorer.errorSubject]);
      const body = new TextEncoder().encode(JSON.stringify(featuresOf(42)));
      const fill = async (subject: string) => {
        for (let k = 0; k < count; k += 500) await Promise.all(Array.from({ length: Math.min(500, count - k) }, () => bus.publish(subject, body)));
      };
      await fill(floorIn);
      let echoed = 0;
      let t0 = performance.now();
      const echo = await bus.consume(floorScorer.inputStream, "floor", { batch: 100 }, async (msgs) => {
        await Promise.all(msgs.map((m) => bus.publish(floorOut, m.data, { msgId: `floor:${m.seq}` })));
        echoed += msgs.length;
      });
      running.push(echo);
      await waitFor("the floor to finish", () => echoed >= count, 120_000);
      const floorRate = count / ((performance.now() - t0) / 1000);
      await echo.stop();

      const scorer = scorerOn({ batch: 100 });
      await bus.ensureStream(scorer.inputStream, [scorer.inputSubject]);
      await fill(scorer.inputSubject);
      t0 = performance.now();
      await scorer.start();
      await waitFor("the scorer to finish", () => scorer.stats.messages >= count, 120_000);
      const rate = count / ((performance.now() - t0) / 1000);
      expect(scorer.stats).toMatchObject({ messages: count, rejected: 0 });
      console.log(`stream scorer on NATS, batch 100: ${Math.round(rate)} msg/s; the bus alone (consume + publish): ${Math.round(floorRate)} msg/s; ratio ${(rate / floorRate).toFixed(2)}`);
      expect(rate).toBeGreaterThan(floorRate * 0.2);
    });
  });
}

describe("flywheel score-stream", () => {
  let prefix: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ prefix, drop } = await memoryStreamBackend.create());
  });
  afterAll(async () => {
    await drop?.();
  });

  async function flywheel(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    let stdout = "";
    let stderr = "";
    const original = { ...io };
    io.out = (s) => void (stdout += s);
    io.err = (s) => void (stderr += s);
    const program = new Command().name("flywheel").exitOverride();
    program.configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
    registerScoreStreamCommand(program);
    process.exitCode = undefined;
    try {
      await program.parseAsync(["node", "flywheel", "score-stream", ...args]);
      return { stdout, stderr, exitCode: Number(process.exitCode ?? 0) };
    } catch (e) {
      if (e instanceof Error && "exitCode" in e) return { stdout, stderr, exitCode: Number(e.exitCode) };
      throw e;
    } finally {
      process.exitCode = undefined;
      Object.assign(io, original);
    }
  }

  test("--drain scores the backlog with the model the alias points at, prints a summary and exits", async () => {
    const uri = `memory://${prefix}`;
    const bus = await openStreamBus(uri);
    const input = `${prefix}.cli.in`;
    await bus.ensureStream(defaultStreamName("in", input), [input]);
    for (let i = 0; i < 40; i++) await bus.publish(input, i === 39 ? { record: { flower_id: 1000 } } : { id: i, record: { flower_id: i } });
    const res = await flywheel("--model", "iris@champion", "--input-subject", input, "--output-subject", `${prefix}.cli.out`, "--stream-uri", uri, "--batch", "16", "--drain", "--json", ...storeFlags);
    expect(res.stderr).toBe("");
    expect(res.exitCode).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ model: "iris@champion", durable: "score-iris-champion", messages: 40, records: 39, rejected: 1, failed_batches: 0 });
    const outputs: Output[] = [];
    const errors: unknown[] = [];
    const sub = await bus.consume(defaultStreamName("out", `${prefix}.cli.out`), "check", {}, async (msgs) => {
      for (const m of msgs) (m.subject.endsWith(".errors") ? errors : outputs).push(m.json());
    });
    await waitFor("the outputs", () => outputs.length + errors.length >= 40);
    await sub.stop();
    outputs.forEach((o) => {
      expect(o.model_version).toBe("1");
      expectRow(o.prediction, o.id as number);
    });
    expect(errors).toEqual([expect.objectContaining({ error: expect.stringContaining("NOT_FOUND"), source_seq: 40 })]);

    // Run again: the durable resumes after the last acknowledged message, so there is nothing to do.
    const again = await flywheel("--model", "iris@champion", "--input-subject", input, "--output-subject", `${prefix}.cli.out`, "--stream-uri", uri, "--drain", ...storeFlags);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/^Scoring '.*' \(stream FW_SCORE_IN_\w+, durable score-iris-champion\) with iris@champion \(now version 1\)/);
    expect(again.stdout).toContain("Stopped: 0 messages");
    await bus.close();
  });

  test("usage errors exit with 2 and say what is wrong", async () => {
    const uri = `memory://${prefix}`;
    const base = ["--input-subject", `${prefix}.u.in`, "--output-subject", `${prefix}.u.out`, ...storeFlags];
    const bare = await flywheel("--model", "iris-bare@champion", "--stream-uri", uri, ...base);
    expect([bare.exitCode, bare.stderr]).toEqual([2, expect.stringContaining("has no feature list")]);
    const missing = await flywheel("--model", "nope@champion", "--stream-uri", uri, ...base);
    expect(missing.exitCode).toBe(2);
    const loop = await flywheel("--model", "iris@champion", "--stream-uri", uri, ...storeFlags, "--input-subject", `${prefix}.loop.>`, "--output-subject", `${prefix}.loop.out`);
    expect([loop.exitCode, loop.stderr]).toEqual([2, expect.stringContaining("the scorer would read its own output")]);
    const noBus = await flywheel("--model", "iris@champion", ...base);
    expect([noBus.exitCode, noBus.stderr]).toEqual([2, expect.stringContaining("--stream-uri")]);
    const badBatch = await flywheel("--model", "iris@champion", "--stream-uri", uri, "--batch", "0", ...base);
    expect(badBatch.exitCode).toBe(2);
  });
});
