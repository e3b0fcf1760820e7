/** Promotion gates on a run's datasets: passed when some logged dataset (or input context) compares, as the run search finds runs. */
import { expect, test } from "vitest";
import type { DatasetInput, Run } from "../storage/metadata/metadata-store.js";
import { evaluateGate } from "./gates.js";

const input = (name: string, digest: string, context?: string): DatasetInput => ({
  dataset: { name, digest, sourceType: "local", source: "{}", schema: null, profile: null },
  tags: context === undefined ? [] : [{ key: "mlflow.data.context", value: context }],
});

const run = (inputs: DatasetInput[]): Run => ({
  info: { runId: "r1", runName: "r", experimentId: "1", userId: "u", status: "FINISHED", startTime: 1, endTime: 2, artifactUri: "a", lifecycleStage: "active" },
  metrics: [{ key: "auc", value: 0.93, timestamp: 1, step: 0 }],
  params: [],
  tags: [],
  inputs,
  modelInputs: [],
  modelOutputs: [],
});

test("a dataset gate passes when any of the run's datasets compares, and a refusal lists what the run has", () => {
  const r = run([input("iris-train", "abc", "training"), input("iris-holdout", "def", "eval")]);
  expect(evaluateGate("datasets.name = 'iris-holdout' and metrics.auc >= 0.9", r).passed).toBe(true);
  expect(evaluateGate("datasets.context = 'eval'", r).passed).toBe(true);
  expect(evaluateGate("datasets.digest IN ('zzz', 'abc')", r).passed).toBe(true);
  expect(evaluateGate("datasets.name ILIKE 'IRIS-%'", r).passed).toBe(true);
  expect(evaluateGate("datasets.name = 'census'", r)).toEqual({ gate: "datasets.name = 'census'", passed: false, detail: "datasets.name is 'iris-train', 'iris-holdout'" });
  expect(evaluateGate("datasets.context = 'training'", run([input("x", "1")])).detail).toBe("datasets.context is missing on run r1");
  expect(evaluateGate("datasets.name != 'x'", run([])).passed).toBe(false);
});
