/** MLflow's rules for keys, values and batch sizes (mlflow/utils/validation.py). */
import { describe, expect, test } from "vitest";
import { FlywheelError } from "../core/errors.js";
import type { Batch, DatasetInput, Metric, Tag } from "../storage/metadata/metadata-store.js";
import {
  LIMITS,
  validateBatch,
  validateDatasetInputs,
  validateExperimentName,
  validateExperimentTag,
  validateKey,
  validateMaxResults,
  validateMetric,
  validateParam,
  validateTag,
} from "./validation.js";

/** Runs `fn`, expects FW_REQUEST_INVALID_FIELD, returns the message. */
function rejects(fn: () => void): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FlywheelError);
  expect((caught as FlywheelError).code).toBe("FW_REQUEST_INVALID_FIELD");
  return (caught as FlywheelError).message;
}

const m = (key: string, i = 0): Metric => ({ key, value: i, timestamp: 1_700_000_000_000 + i, step: i });
const kv = (key: string, value = "v"): Tag => ({ key, value });
const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const batch = (part: Partial<Batch>): Batch => ({ metrics: part.metrics ?? [], params: part.params ?? [], tags: part.tags ?? [] });

describe("validateKey", () => {
  test.each([
    "loss",
    "val_loss",
    "Loss-2",
    "train/loss",
    "a/b/c",
    "a.b",
    "a..b",
    "with space",
    " leading space",
    "trailing space ",
    "mlflow.runName",
    "mlflow.source.git.commit",
    "0",
    "précision",
    "精度/训练",
    "Ωmega_β",
    "x²",
    "Ⅻ",
    "𝔸𝔹",
    "a.",
  ])("accepts %j", (key) => {
    for (const kind of ["metric", "param", "tag"] as const) expect(() => validateKey(kind, key)).not.toThrow();
  });

  test.each([
    ["a:b"],
    ["a@b"],
    ["a#b"],
    ["a\\b"],
    ["a?b"],
    ["a*b"],
    ["a\tb"],
    ["a\nb"],
    ["emoji🚀"],
    ["quote'"],
    ["a,b"],
    ["e\u0301"], // a combining accent is not \w in Python's re
  ])("rejects the character set of %j", (key) => {
    expect(rejects(() => validateKey("metric", key))).toMatch(/alphanumerics, underscores/);
  });

  test.each([["/a"], ["/"], ["a//b"], ["./a"], ["a/./b"], ["a/"], ["."], [".."], ["../a"], ["a/../b"], ["a/.."], ["..a"], ["...a"]])(
    "rejects the path %j",
    (key) => {
      expect(rejects(() => validateKey("param", key))).toMatch(/normalized relative paths/);
    },
  );

  test("rejects an empty key", () => {
    expect(rejects(() => validateKey("tag", ""))).toMatch(/must not be empty/);
  });

  test("length: 250 characters, counted as Python counts them", () => {
    expect(() => validateKey("metric", "k".repeat(250))).not.toThrow();
    expect(rejects(() => validateKey("metric", "k".repeat(251)))).toMatch(/longer than 250/);
    // Outside the BMP, a character is two UTF-16 units but one character for MLflow and PostgreSQL.
    expect(() => validateKey("metric", "𝔸".repeat(250))).not.toThrow();
    expect(rejects(() => validateKey("metric", "𝔸".repeat(251)))).toMatch(/longer than 250/);
  });

  test("the message names the field and the key", () => {
    const msg = rejects(() => validateKey("param", "bad:key", "params.key"));
    expect(msg).toContain("'params.key'");
    expect(msg).toContain("bad:key");
  });
});

describe("entity values", () => {
  test("param values up to 6000 characters", () => {
    expect(() => validateParam(kv("p", "x".repeat(LIMITS.paramValueLength)))).not.toThrow();
    expect(rejects(() => validateParam(kv("p", "x".repeat(LIMITS.paramValueLength + 1))))).toMatch(/params\[p\]\.value.*6000/);
    expect(() => validateParam(kv("p", ""))).not.toThrow();
    expect(() => validateParam(kv("p", "🚀".repeat(LIMITS.paramValueLength)))).not.toThrow();
    expect(rejects(() => validateParam(kv("bad key?", "x")))).toMatch(/params\.key/);
  });

  test("run tag values up to 8000 characters", () => {
    expect(() => validateTag(kv("t", "x".repeat(LIMITS.tagValueLength)))).not.toThrow();
    expect(rejects(() => validateTag(kv("t", "x".repeat(LIMITS.tagValueLength + 1))))).toMatch(/tags\[t\]\.value.*8000/);
  });

  test("the mlflow.runName tag is limited like a run name", () => {
    expect(() => validateTag(kv("mlflow.runName", "n".repeat(LIMITS.runNameLength)))).not.toThrow();
    expect(rejects(() => validateTag(kv("mlflow.runName", "n".repeat(LIMITS.runNameLength + 1))))).toMatch(/mlflow\.runName.*250/);
  });

  test("experiment tag values up to 5000 characters", () => {
    expect(() => validateExperimentTag(kv("t", "x".repeat(LIMITS.experimentTagValueLength)))).not.toThrow();
    expect(rejects(() => validateExperimentTag(kv("t", "x".repeat(LIMITS.experimentTagValueLength + 1))))).toMatch(/5000/);
    expect(rejects(() => validateExperimentTag(kv("../t", "x")))).toMatch(/normalized/);
  });

  test("experiment names: non-blank, up to 256 characters", () => {
    expect(() => validateExperimentName("my experiment")).not.toThrow();
    expect(() => validateExperimentName("n".repeat(256))).not.toThrow();
    expect(rejects(() => validateExperimentName("n".repeat(257)))).toMatch(/'name'.*256/);
    expect(rejects(() => validateExperimentName(""))).toMatch(/non-empty/);
    expect(rejects(() => validateExperimentName("   ", "new_name"))).toMatch(/'new_name'/);
  });

  test("metrics: any value, integer step and timestamp", () => {
    for (const value of [0, -1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => validateMetric({ key: "m", value, timestamp: 1, step: 0 })).not.toThrow();
    }
    expect(() => validateMetric({ key: "m", value: 1, timestamp: 0, step: -5 })).not.toThrow();
    expect(rejects(() => validateMetric({ key: "m", value: 1, timestamp: 1.5, step: 0 }))).toMatch(/metrics\[m\]\.timestamp/);
    expect(rejects(() => validateMetric({ key: "m", value: 1, timestamp: 1, step: 0.5 }))).toMatch(/metrics\[m\]\.step/);
    expect(rejects(() => validateMetric({ key: "m", value: 1, timestamp: Number.NaN, step: 0 }))).toMatch(/timestamp/);
    expect(rejects(() => validateMetric({ key: "m", value: 1, timestamp: 2 ** 53, step: 0 }))).toMatch(/timestamp/);
    expect(rejects(() => validateMetric({ key: "m/", value: 1, timestamp: 1, step: 0 }))).toMatch(/metrics\.key/);
  });
});

describe("validateBatch", () => {
  test("an empty batch is valid", () => {
    expect(() => validateBatch(batch({}))).not.toThrow();
  });

  test("up to 1000 metrics", () => {
    expect(() => validateBatch(batch({ metrics: many(1000, (i) => m("loss", i)) }))).not.toThrow();
    expect(rejects(() => validateBatch(batch({ metrics: many(1001, (i) => m("loss", i)) })))).toMatch(/'metrics'.*at most 1000 metrics, got 1001/);
  });

  test("up to 100 params", () => {
    expect(() => validateBatch(batch({ params: many(100, (i) => kv(`p${i}`)) }))).not.toThrow();
    expect(rejects(() => validateBatch(batch({ params: many(101, (i) => kv(`p${i}`)) })))).toMatch(/'params'.*at most 100 params, got 101/);
  });

  test("up to 100 tags", () => {
    expect(() => validateBatch(batch({ tags: many(100, (i) => kv(`t${i}`)) }))).not.toThrow();
    expect(rejects(() => validateBatch(batch({ tags: many(101, (i) => kv(`t${i}`)) })))).toMatch(/'tags'.*at most 100 tags, got 101/);
  });

  test("up to 1000 entities in total", () => {
    const full = { metrics: many(800, (i) => m("m", i)), params: many(100, (i) => kv(`p${i}`)), tags: many(100, (i) => kv(`t${i}`)) };
    expect(() => validateBatch(batch(full))).not.toThrow();
    expect(rejects(() => validateBatch(batch({ ...full, metrics: many(801, (i) => m("m", i)) })))).toMatch(/in total, got 1001/);
    expect(rejects(() => validateBatch(batch({ metrics: many(1000, (i) => m("m", i)), params: [kv("p")] })))).toMatch(/in total, got 1001/);
  });

  test("every entity is checked, also a repeated metric key", () => {
    expect(rejects(() => validateBatch(batch({ metrics: [m("ok"), m("bad//key")] })))).toMatch(/bad\/\/key/);
    expect(rejects(() => validateBatch(batch({ metrics: [m("ok"), { key: "ok", value: 1, timestamp: 1, step: 1.5 }] })))).toMatch(/step/);
    expect(rejects(() => validateBatch(batch({ tags: [kv("t", "x".repeat(8001))] })))).toMatch(/tags\[t\]/);
    expect(rejects(() => validateBatch(batch({ params: [kv("p", "x".repeat(6001))] })))).toMatch(/params\[p\]/);
    expect(rejects(() => validateBatch(batch({ params: [kv("/abs")] })))).toMatch(/\/abs/);
  });

  test("duplicate param keys: same value is fine, different values are rejected", () => {
    expect(() => validateBatch(batch({ params: [kv("lr", "0.1"), kv("bs", "8"), kv("lr", "0.1")] }))).not.toThrow();
    const msg = rejects(() => validateBatch(batch({ params: [kv("lr", "0.1"), kv("bs", "8"), kv("lr", "0.2")] })));
    expect(msg).toMatch(/duplicate parameter key 'lr'/);
    expect(msg).toContain("'0.1'");
    expect(msg).toContain("'0.2'");
  });

  test("duplicate tag and metric keys are allowed", () => {
    expect(() => validateBatch(batch({ tags: [kv("t", "a"), kv("t", "b")], metrics: [m("x", 1), m("x", 1)] }))).not.toThrow();
  });
});

describe("validateMaxResults", () => {
  test.each([undefined, 1, 1000, 50000])("accepts %s", (n) => {
    expect(() => validateMaxResults(n)).not.toThrow();
  });
  test.each([0, -1, 1.5, 50001, Number.NaN])("rejects %s", (n) => {
    expect(rejects(() => validateMaxResults(n))).toMatch(/'max_results'.*between 1 and 50000/);
  });
});

describe("validateDatasetInputs", () => {
  const input = (over: Partial<DatasetInput["dataset"]> = {}, tags: Tag[] = []): DatasetInput => ({
    dataset: { name: "train", digest: "abc", sourceType: "local", source: "{}", schema: null, profile: null, ...over },
    tags,
  });

  test("MLflow's limits, counted in characters, are accepted at the limit", () => {
    const atLimit = input(
      { name: "é".repeat(LIMITS.datasetNameLength), digest: "d".repeat(36), sourceType: "s".repeat(36), schema: "", profile: "" },
      [{ key: "😀".repeat(LIMITS.inputTagKeyLength), value: "v".repeat(LIMITS.inputTagValueLength) }],
    );
    expect(() => validateDatasetInputs([atLimit])).not.toThrow();
    expect(() => validateDatasetInputs([])).not.toThrow();
  });

  test.each([
    ["name", input({ name: "n".repeat(501) }), /'datasets\[0\]\.dataset\.name'.*limit of 500/],
    ["digest", input({ digest: "d".repeat(37) }), /'datasets\[0\]\.dataset\.digest'.*limit of 36/],
    ["source_type", input({ sourceType: "s".repeat(37) }), /'datasets\[0\]\.dataset\.source_type'.*limit of 36/],
    ["source", input({ source: "s".repeat(65536) }), /'datasets\[0\]\.dataset\.source'.*limit of 65535/],
    ["schema", input({ schema: "s".repeat(1048576) }), /'datasets\[0\]\.dataset\.schema'.*limit of 1048575/],
    ["tag key", input({}, [{ key: "k".repeat(256), value: "v" }]), /'datasets\[0\]\.tags\[0\]\.key'.*limit of 255/],
    ["tag value", input({}, [{ key: "k", value: "v".repeat(501) }]), /'datasets\[0\]\.tags\[0\]\.value'.*limit of 500/],
    ["repeated tag key", input({}, [{ key: "k", value: "1" }, { key: "k", value: "2" }]), /'datasets\[0\]\.tags\[1\]\.key'.*twice/],
    ["NUL", input({ name: "a\u0000b" }), /'datasets\[0\]\.dataset\.name'.*NUL/],
  ])("rejects a too long or unstorable %s", (_what, bad, message) => {
    expect(rejects(() => validateDatasetInputs([bad]))).toMatch(message);
  });

  test("at most 1000 datasets a request", () => {
    expect(() => validateDatasetInputs(Array.from({ length: 1000 }, () => input()))).not.toThrow();
    expect(rejects(() => validateDatasetInputs(Array.from({ length: 1001 }, () => input())))).toMatch(/'datasets'.*at most 1000 datasets, got 1001/);
  });
});
