/**
 * The inference log on real files: rows encoded from tensors, group commit, a bounded queue that
 * drops and counts, rolling into hourly Parquet that DuckDB reads, recovery of a crashed writer's
 * segments (torn tail skipped, nothing duplicated), labels joined with the latest one winning,
 * and the stream sink on the in-process bus.
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../../storage/offline/duckdb.js";
import { discardMemoryBroker } from "../../storage/stream/memory/memory-stream-bus.js";
import { openStreamBus } from "../../storage/stream/open.js";
import { tempDir } from "../../../test/helpers/backends.js";
import { InferenceLog } from "./inference-log.js";
import { interpret } from "../predictions.js";
import { toResponseTensor } from "../tensors.js";
import { encodeEntry, type InferenceLogEntry } from "./log-record.js";
import { HOST, segmentFileName } from "./segment-files.js";
import { SegmentLog } from "./segment-log.js";
import { logSampleRateOf } from "./sampling.js";

const HOUR = 3_600_000;
const T0 = Date.parse("2024-05-01T10:15:00Z");
const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const CLASSES = ["setosa", "versicolor", "virginica"];

/** An iris-like entry: `rows` rows of 4 float32 features, int64 labels and [rows, 3] probabilities. */
function irisEntry(id: string, rows: number, time = T0, model = "iris"): InferenceLogEntry {
  const x = new Float32Array(rows * 4).map((_, k) => 5.1 + k / 10);
  const label = new BigInt64Array(rows).map((_, i) => BigInt(i % 3));
  const probs = new Float32Array(rows * 3).map((_, k) => (k % 3 === 0 ? 0.8 : 0.1));
  return {
    requestId: id,
    protocol: "v2",
    time,
    latencyMs: 1.25,
    model,
    version: "1",
    features: FEATURES,
    classNames: CLASSES,
    inputs: { float_input: { type: "float32", data: x, dims: [rows, 4] } },
    outputs: [
      ["label", { type: "int64", dims: [rows], data: label }],
      ["probabilities", { type: "float32", dims: [rows, 3], data: probs }],
    ],
  };
}

const dirs: { remove(): void }[] = [];
const logs: InferenceLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  for (const d of dirs.splice(0)) d.remove();
});

function newDir(): string {
  const d = tempDir("flywheel-ilog-");
  dirs.push(d);
  return d.path;
}

async function openLog(dir: string, options: Parameters<typeof InferenceLog.open>[1] = {}): Promise<InferenceLog> {
  const log = await InferenceLog.open(dir, options);
  logs.push(log);
  return log;
}

function segmentLines(dir: string): string[] {
  const segs = join(dir, "inference-log", "segments");
  if (!existsSync(segs)) return [];
  return readdirSync(segs).flatMap((f) => readFileSync(join(segs, f), "utf8").split("\n").filter((l) => l !== ""));
}

describe("log rows", () => {
  test("one row per input row: features by name, short float32 values, class names, probabilities, raw outputs", () => {
    const lines = encodeEntry(irisEntry("r1", 2)).trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({
      request_id: "r1",
      row: 0,
      ts: "2024-05-01T10:15:00.000Z",
      model: "iris",
      version: "1",
      protocol: "v2",
      latency_ms: 1.25,
      "input.sepal_length": 5.1,
      "input.sepal_width": 5.2,
      "input.petal_length": 5.3,
      "input.petal_width": 5.4,
      prediction: "setosa",
      "proba.setosa": 0.8,
      "proba.versicolor": 0.1,
      "proba.virginica": 0.1,
      // The class index (the prediction is its name); the probabilities are in proba.*.
      "output.label": 0,
    });
    expect(lines[1]).toMatchObject({ row: 1, "input.sepal_length": 5.5, prediction: "versicolor", "output.label": 1 });
  });

  test("without a feature list: tensor names, lists for wider rows (inputs and outputs); NaN as null, big int64 as strings, booleans", () => {
    const e: InferenceLogEntry = {
      requestId: "r2",
      protocol: "v1",
      time: T0,
      latencyMs: 0.5,
      model: "m",
      version: "3",
      inputs: {
        x: { type: "float64", data: new Float64Array([1.5, Number.NaN, 3, 4]), dims: [2, 2] },
        id: { type: "int64", data: new BigInt64Array([2n ** 60n, 7n]), dims: [2] },
        flag: { type: "bool", data: new Uint8Array([1, 0]), dims: [2, 1] },
      },
      outputs: [
        ["variable", { type: "float32", dims: [2, 1], data: new Float32Array([0.25, Number.POSITIVE_INFINITY]) }],
        ["embedding", { type: "float64", dims: [2, 2], data: new Float64Array([0.5, -1, 2, 3]) }],
      ],
    };
    const [a, b] = encodeEntry(e).trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(a).toMatchObject({ "input.x": [1.5, null], "input.id": "1152921504606846976", "input.flag": true, prediction: 0.25, "output.embedding": [0.5, -1] });
    expect(b).toMatchObject({ "input.x": [3, 4], "input.id": 7, "input.flag": false, prediction: null, "output.embedding": [2, 3] });
    // A one-value regression output is the prediction; it is not written twice.
    expect(a["output.variable"]).toBeUndefined();
  });

  test("prediction and proba.* read the outputs as the predict API does; ts is the request's arrival in ISO-8601", () => {
    const f32 = (values: number[]) => new Float32Array(values);
    const cases: [string, InferenceLogEntry["outputs"], readonly string[] | undefined][] = [
      ["label and probabilities, class names", [["label", { type: "int64", dims: [2], data: new BigInt64Array([2n, 0n]) }], ["probabilities", { type: "float32", dims: [2, 3], data: f32([0.1, 0.2, 0.7, 0.6, 0.3, 0.1]) }]], CLASSES],
      ["probabilities alone", [["output_probability", { type: "float32", dims: [2, 3], data: f32([0.1, 0.2, 0.7, 0.6, 0.3, 0.1]) }]], undefined],
      ["string labels", [["output_label", { type: "string", dims: [2], data: ["yes", "no"] }]], undefined],
      ["regression", [["variable", { type: "float32", dims: [2, 1], data: f32([1.5, -2.25]) }]], undefined],
    ];
    for (const [what, outputs, classNames] of cases) {
      const e: InferenceLogEntry = { ...irisEntry("p", 2), classNames, outputs };
      const rows = encodeEntry(e).trimEnd().split("\n").map((l) => JSON.parse(l));
      const expected = interpret(outputs.map(([name, t]) => toResponseTensor(name, t)), 2, classNames);
      rows.forEach((r, i) => {
        const p = expected[i];
        expect(r.prediction, what).toEqual(p?.label ?? p?.value);
        const probas = Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith("proba.")).map(([k, v]) => [k.slice(6), Math.fround(v as number)]));
        expect(probas, what).toEqual(Object.fromEntries(Object.entries(p?.probabilities ?? {}).map(([k, v]) => [k, Math.fround(v)])));
      });
    }
    for (const t of [T0, T0 + 0.75, Date.parse("2024-12-31T23:59:59.999Z"), Date.parse("2025-01-01T00:00:00.007Z"), Date.parse("2024-02-29T12:00:09.05Z") + 0.5]) {
      const [row] = encodeEntry({ ...irisEntry("t", 1), time: t }).trimEnd().split("\n").map((l) => JSON.parse(l));
      expect(row.ts).toBe(new Date(Math.floor(t)).toISOString());
    }
  });

  test("float32 values are written as short decimals that read back as the same float32", () => {
    const xs = new Float32Array(20_000);
    const bits = new Uint32Array(xs.buffer);
    for (let i = 0; i < xs.length; i++) {
      if (i % 2 === 0) bits[i] = Math.floor(Math.random() * 2 ** 32);
      else xs[i] = (Math.random() - 0.5) * 10 ** (Math.floor(Math.random() * 60) - 30);
    }
    xs.set([5.1, 0.1, 3.5, 100.7, 1e-7, 0, -2.25]);
    const entry = (data: Float32Array): InferenceLogEntry => ({ requestId: "f", protocol: "v2", time: T0, latencyMs: 0, model: "m", version: "1", inputs: { x: { type: "float32", data, dims: [1, data.length] } }, outputs: [] });
    const values = JSON.parse(encodeEntry(entry(xs)))["input.x"] as (number | null)[];
    expect(values.slice(0, 7)).toEqual([5.1, 0.1, 3.5, 100.7, 1e-7, 0, -2.25]);
    values.forEach((v, i) => {
      const x = xs[i] as number;
      if (Number.isFinite(x)) expect(Math.fround(v as number), `${x}`).toBe(x);
      else expect(v).toBeNull();
    });
  });

  test("the sample-rate tag: a number from 0 to 1, anything else is the default 1", () => {
    const rate = (value: string | undefined) => logSampleRateOf(value === undefined ? [] : [{ key: "flywheel.log.sample_rate", value }]);
    expect(rate(undefined)).toBe(1);
    expect(rate("0")).toBe(0);
    expect(rate(" 0.25 ")).toBe(0.25);
    expect(rate("1e-2")).toBe(0.01);
    for (const bad of ["", "-0.5", "1.5", "abc", "NaN", "Infinity", "0x1"]) expect(rate(bad), bad).toBe(1);
  });
});

describe("segments with group commit", () => {
  test("records offered together are written by one fsync'd group; append resolves once durable", async () => {
    const dir = newDir();
    const groups: number[] = [];
    const seg = new SegmentLog<string>({ dir, groupCommitMs: 20, onWritten: (n) => groups.push(n) }, (s) => `${s}\n`);
    for (let i = 0; i < 5; i++) expect(seg.offer(JSON.stringify({ i }), 1)).toBe(true);
    expect(seg.backlog).toBe(5);
    await seg.append(JSON.stringify({ i: 5 }), 1);
    expect(groups).toEqual([6]);
    const path = seg.currentPath as string;
    expect(readFileSync(path, "utf8").trimEnd().split("\n")).toHaveLength(6);
    await seg.close();
    expect(seg.written).toBe(6);
  });

  test("with a sync interval, groups are written at once (and counted) but fsync'd at most once per interval", async () => {
    const dir = newDir();
    const seg = new SegmentLog<string>({ dir, groupCommitMs: 1, syncIntervalMs: 300 }, (s) => `${s}\n`);
    await seg.append("first", 1);
    const started = performance.now();
    let resolved = false;
    const second = seg.append("second", 1).then(() => (resolved = true));
    while (seg.written < 2) await new Promise((r) => setTimeout(r, 5));
    expect(readFileSync(seg.currentPath as string, "utf8")).toBe("first\nsecond\n");
    expect(resolved, "written, not yet fsync'd").toBe(false);
    await second;
    expect(performance.now() - started).toBeGreaterThan(200);
    await seg.close();
  });

  test("a full queue drops and counts, and append is refused rather than waiting", async () => {
    const dir = newDir();
    const dropped: [number, string][] = [];
    const seg = new SegmentLog<string>({ dir, groupCommitMs: 1000, groupCommitRecords: 100, capacity: 3, onDropped: (n, r) => dropped.push([n, r]) }, (s) => `${s}\n`);
    expect(seg.offer("1", 1)).toBe(true);
    expect(seg.offer("2", 2)).toBe(true);
    expect(seg.offer("3", 1)).toBe(false);
    await expect(seg.append("4", 1)).rejects.toThrow(/queue is full/);
    expect(dropped).toEqual([[1, "queue_full"]]);
    await seg.close();
    expect(seg.written).toBe(3);
    expect(seg.offer("5", 1)).toBe(false);
    expect(dropped.at(-1)).toEqual([1, "closed"]);
  });

  test("a segment is sealed when it is full, and when the UTC hour changes", async () => {
    const dir = newDir();
    let now = T0;
    const sealed: string[] = [];
    const seg = new SegmentLog<string>({ dir, maxSegmentBytes: 64, now: () => now, onSealed: (p) => sealed.push(p) }, (s) => `${s}\n`);
    await seg.append("x".repeat(40), 1);
    await seg.append("y".repeat(40), 1);
    expect(sealed).toHaveLength(1);
    now += HOUR;
    await seg.append("z", 1);
    expect(sealed).toHaveLength(2);
    await seg.close();
    expect(sealed).toHaveLength(3);
    expect(sealed.map((p) => readFileSync(p, "utf8"))).toEqual([`${"x".repeat(40)}\n`, `${"y".repeat(40)}\n`, "z\n"]);
  });
});

describe("rolling into Parquet and reading back", () => {
  test("hourly partitions per model, read by a DuckDB glob; the reader joins the latest label", async () => {
    const dir = newDir();
    const log = await openLog(dir);
    void log.offer(irisEntry("a", 2, T0));
    void log.offer(irisEntry("b", 1, T0 + HOUR));
    void log.offer(irisEntry("c", 1, T0, "other.model"));
    await log.flush();
    expect(segmentLines(dir)).toHaveLength(4);
    // Before rolling, the reader reads the segments.
    expect((await log.reader.records({ model: "iris" })).map((r) => `${r.request_id}/${r.row}`)).toEqual(["b/0", "a/0", "a/1"]);

    const files = await log.roll();
    expect(files.map((f) => f.slice(dir.length + 1).replace(/[^/]+\.parquet$/, "*.parquet")).sort()).toEqual([
      "inference-log/parquet/model=iris/date=2024-05-01/hour=10/*.parquet",
      "inference-log/parquet/model=iris/date=2024-05-01/hour=11/*.parquet",
      "inference-log/parquet/model=other%2Emodel/date=2024-05-01/hour=10/*.parquet",
    ]);
    expect(segmentLines(dir)).toEqual([]);
    const db = await OfflineDb.open();
    try {
      const glob = join(dir, "inference-log/parquet/model=iris/*/*/*.parquet");
      const rows = await db.query(`SELECT request_id, "row", "input.petal_width" AS pw, prediction, "proba.setosa" AS p FROM read_parquet(${quoteLiteral(glob)}) ORDER BY ts, request_id, "row"`);
      expect(rows).toEqual([
        { request_id: "a", row: 0, pw: 5.4, prediction: "setosa", p: 0.8 },
        { request_id: "a", row: 1, pw: 5.8, prediction: "versicolor", p: 0.8 },
        { request_id: "b", row: 0, pw: 5.4, prediction: "setosa", p: 0.8 },
      ]);
      const types = await db.describe(`read_parquet(${quoteLiteral(glob)})`);
      expect(types.find((c) => c.name === "ts")?.type).toBe("TIMESTAMP WITH TIME ZONE");
      expect(types.find((c) => c.name === "proba.virginica")?.type).toBe("DOUBLE");
    } finally {
      db.close();
    }

    await log.addLabels([{ request_id: "a", label: "virginica" }, { request_id: "a", row: 1, label: "versicolor" }]);
    await log.addLabels([{ request_id: "a", label: "setosa", timestamp: T0 + 5 * 60_000 }]);
    const db2 = await OfflineDb.open();
    try {
      const window = await log.reader.load(db2, { model: "iris", since: new Date(T0), until: new Date(T0 + HOUR) });
      expect(window.rows).toBe(2);
      expect(await db2.query(`SELECT request_id, "row", label, label_ts FROM inference_window ORDER BY "row"`)).toEqual([
        { request_id: "a", row: 0, label: "setosa", label_ts: new Date(T0 + 5 * 60_000) },
        { request_id: "a", row: 1, label: "versicolor", label_ts: expect.any(Date) },
      ]);
    } finally {
      db2.close();
    }
    // Labels rolled into Parquet join the same way.
    await log.roll();
    const records = await log.reader.records({ model: "iris", version: "1" });
    expect(records.map((r) => [r.request_id, r.row, r.label ?? null])).toEqual([["b", 0, null], ["a", 0, "setosa"], ["a", 1, "versicolor"]]);
    expect(records[1]).toMatchObject({ inputs: { sepal_length: 5.1 }, probabilities: { setosa: 0.8 }, outputs: { label: 0 }, protocol: "v2" });
  });

  test("a crashed writer's segment: its torn tail is skipped, and a roll repeated after a crash duplicates nothing", async () => {
    const dir = newDir();
    const segs = join(dir, "inference-log", "segments");
    mkdirSync(segs, { recursive: true });
    // A writer on this host whose process is gone left two whole rows and half of a third.
    const dead = join(segs, segmentFileName("deadbeef", 1).replace(`_${process.pid}_`, "_999999999_"));
    const text = encodeEntry(irisEntry("x", 2)) + encodeEntry(irisEntry("y", 1)).slice(0, 50);
    writeFileSync(dead, text);
    expect(dead).toContain(`${HOST}_999999999_`);
    const keep = join(dir, "copy.ndjson");
    copyFileSync(dead, keep);

    const log = await openLog(dir);
    await log.roll();
    expect(existsSync(dead)).toBe(false);
    expect((await log.reader.records({ model: "iris" })).map((r) => `${r.request_id}/${r.row}`).sort()).toEqual(["x/0", "x/1"]);

    // A crash after the Parquet file was in place but before the segment was removed: rolled again, same file.
    copyFileSync(keep, dead);
    appendFileSync(dead, "");
    expect((await log.reader.records({ model: "iris" })).map((r) => `${r.request_id}/${r.row}`).sort()).toEqual(["x/0", "x/1"]);
    const files = await log.roll();
    expect(files).toHaveLength(1);
    expect((await log.reader.records({ model: "iris" })).map((r) => `${r.request_id}/${r.row}`).sort()).toEqual(["x/0", "x/1"]);
  });
  test("a segment that fails to roll is counted, logged and kept; the other segments still roll, and it rolls once it can", async () => {
    const dir = newDir();
    const segs = join(dir, "inference-log", "segments");
    mkdirSync(segs, { recursive: true });
    // Two abandoned segments; the first cannot be rolled while a file sits where its model's directory goes.
    const bad = join(segs, segmentFileName("deadbeef", 1).replace(`_${process.pid}_`, "_999999999_"));
    const good = join(segs, segmentFileName("deadbeef", 2).replace(`_${process.pid}_`, "_999999999_"));
    writeFileSync(bad, encodeEntry(irisEntry("x", 1, T0, "blocked")));
    writeFileSync(good, encodeEntry(irisEntry("y", 1)));
    const blocker = join(dir, "inference-log", "parquet", "model=blocked");
    mkdirSync(join(dir, "inference-log", "parquet"), { recursive: true });
    writeFileSync(blocker, "");
    const logged: { msg: string; segment?: string }[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const failures: number[] = [];
    const log = await openLog(dir, { logger, rollIntervalMs: 3_600_000 });
    log.subscribe({ written() {}, dropped() {}, labelsWritten() {}, published() {}, rollFailed: (n) => failures.push(n) });

    await expect(log.roll()).rejects.toThrow(/Could not roll 1 inference log segment/);
    expect(existsSync(bad)).toBe(true);
    expect(existsSync(good)).toBe(false);
    expect(log.stats().rollFailures).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBe(log.stats().rollFailures);
    expect(logged.some((l) => l.segment === bad && /kept and rolled again/.test(l.msg))).toBe(true);
    expect((await log.reader.records({ model: "iris" })).map((r) => r.request_id)).toEqual(["y"]);

    rmSync(blocker);
    expect(await log.roll()).toHaveLength(1);
    expect(existsSync(bad)).toBe(false);
    expect((await log.reader.records({ model: "blocked" })).map((r) => r.request_id)).toEqual(["x"]);
  });
});

describe("stream sink", () => {
  test("every row is published to flywheel.<project>.inference.<model> on the in-process bus", async () => {
    const dir = newDir();
    const uri = `memory://ilog_${Date.now()}`;
    const bus = await openStreamBus(uri);
    try {
      const log = await openLog(dir, { bus, project: "demo" });
      void log.offer(irisEntry("s1", 2, T0, "churn.v2"));
      await log.flush();
      expect(log.stats().stream).toEqual({ published: 2, dropped: 0, backlog: 0 });
      const seen: { subject: string; body: any; msgId: string | undefined }[] = [];
      const sub = await bus.consume("FLYWHEEL_INFERENCE_demo", "test", { batch: 10 }, async (msgs) => {
        for (const m of msgs) seen.push({ subject: m.subject, body: m.json(), msgId: m.msgId });
      });
      while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
      await sub.stop();
      expect(seen.map((s) => [s.subject, s.msgId, s.body.request_id, s.body.row])).toEqual([
        ["flywheel.demo.inference.churn~2Ev2", "s1:0", "s1", 0],
        ["flywheel.demo.inference.churn~2Ev2", "s1:1", "s1", 1],
      ]);
    } finally {
      await bus.close();
      discardMemoryBroker(uri.slice("memory://".length));
    }
  });
});
