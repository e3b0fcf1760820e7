/**
 * Generated monitoring data: a binary classifier p = σ(1.5·f1 + f2) over four standard-normal
 * features, a reference CSV (features, target y, predicted label, probability) registered as the
 * model version's training dataset, and hourly inference-log traffic in which, from a chosen hour
 * on, f3 is shifted by +1 and f4 scaled by 3 (neither enters the model, so predictions do not move).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "vitest";
import type { InferenceLog } from "../../src/serving/inference-log/inference-log.js";
import type { InferenceLogEntry } from "../../src/serving/inference-log/log-record.js";
import { IRIS_ONNX, irisMlmodel } from "../helpers/model-package.js";
import type { TestServer } from "../helpers/server.js";

export const HOUR = 3_600_000;
export const T0 = Date.parse("2024-05-01T00:00:00Z");
export const FEATURES = ["f1", "f2", "f3", "f4"];

/** Seeded standard normals and uniforms (mulberry32 + Box–Muller). */
export function rng(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
  };
}

export interface Row {
  f: number[];
  p: number;
  y: 0 | 1;
}

export function row(r: ReturnType<typeof rng>, shifted: boolean): Row {
  const f = FEATURES.map(() => r.normal());
  if (shifted) {
    f[2] = (f[2] as number) + 1;
    f[3] = (f[3] as number) * 3;
  }
  const p = 1 / (1 + Math.exp(-(1.5 * (f[0] as number) + (f[1] as number))));
  return { f, p, y: r.uniform() < p ? 1 : 0 };
}

/** Writes the reference CSV and returns its path. */
export function writeReference(dir: string, rows = 2000, seed = 1): string {
  const r = rng(seed);
  const lines = ["f1,f2,f3,f4,y,prediction,proba"];
  for (let i = 0; i < rows; i++) {
    const x = row(r, false);
    lines.push(`${x.f.join(",")},${x.y},${x.p >= 0.5 ? 1 : 0},${x.p}`);
  }
  const path = join(dir, "churn-train.csv");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** One logged request of `rows` rows at `time`. */
export function entry(requestId: string, time: number, rows: Row[], model = "churn", version = "1"): InferenceLogEntry {
  const x = new Float32Array(rows.length * 4);
  const label = new BigInt64Array(rows.length);
  const probs = new Float32Array(rows.length * 2);
  rows.forEach((r, i) => {
    r.f.forEach((v, j) => (x[i * 4 + j] = v));
    label[i] = r.p >= 0.5 ? 1n : 0n;
    probs[i * 2] = 1 - r.p;
    probs[i * 2 + 1] = r.p;
  });
  return {
    requestId,
    protocol: "v2",
    time,
    latencyMs: 1,
    model,
    version,
    features: FEATURES,
    classNames: ["0", "1"],
    inputs: { float_input: { type: "float32", data: x, dims: [rows.length, 4] } },
    outputs: [
      ["label", { type: "int64", dims: [rows.length], data: label }],
      ["probabilities", { type: "float32", dims: [rows.length, 2], data: probs }],
    ],
  };
}

export interface Traffic {
  /** Per hour, per request: the rows. Request ids are `h<hour>-r<k>`. */
  hours: Row[][][];
}

/** Logs `hours` hours of traffic from T0, `requests` requests of `perRequest` rows an hour; shifted from `shiftFrom`. */
export async function logTraffic(log: InferenceLog, o: { hours: number; shiftFrom: number; requests?: number; perRequest?: number; seed?: number; model?: string }): Promise<Traffic> {
  const r = rng(o.seed ?? 7);
  const hours: Row[][][] = [];
  for (let h = 0; h < o.hours; h++) {
    const reqs: Row[][] = [];
    for (let k = 0; k < (o.requests ?? 6); k++) {
      const rows = Array.from({ length: o.perRequest ?? 100 }, () => row(r, h >= o.shiftFrom));
      reqs.push(rows);
      expect(log.offer(entry(`h${h}-r${k}`, T0 + h * HOUR + k * 300_000, rows, o.model))).toBeUndefined();
    }
    hours.push(reqs);
  }
  await log.flush();
  return { hours };
}

/** Registers `name` version 1 (alias champion) whose package names `datasetUri` as its training dataset. */
export async function registerChurn(s: TestServer, datasetPath: string, name = "churn"): Promise<void> {
  const API = "/api/2.0/mlflow";
  const exp = (await s.call("POST", `${API}/experiments/create`, { name: `${name}-experiments` })).json.experiment_id;
  const run = (await s.call("POST", `${API}/runs/create`, { experiment_id: exp, run_name: "train" })).json.run.info;
  const mlmodel = `${irisMlmodel()}metadata:\n  flywheel:\n    training_dataset: {uri: "${pathToFileURL(datasetPath).href}", version: "v1"}\n`;
  for (const [path, body] of [
    ["model/MLmodel", mlmodel],
    ["model/model.onnx", IRIS_ONNX],
  ] as const) {
    const res = await fetch(`${s.url}/api/2.0/mlflow-artifacts/artifacts/${String(run.artifact_uri).replace(/^mlflow-artifacts:\//, "")}/${path}`, { method: "PUT", body });
    expect(res.status).toBe(200);
  }
  expect((await s.call("POST", `${API}/registered-models/create`, { name })).status).toBe(200);
  const v = await s.call("POST", `${API}/model-versions/create`, { name, source: `${run.artifact_uri}/model`, run_id: run.run_id });
  expect(v.status).toBe(200);
  expect((await s.call("POST", `${API}/registered-models/alias`, { name, alias: "champion", version: "1" })).status).toBe(200);
}
