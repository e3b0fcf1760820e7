/**
 * Inference-log entries of every kind the log writes, for property tests: floats with NaN and
 * infinities, 64-bit integers beyond 2^53, class names, labels outside the class list, strings,
 * booleans, lists, scalars, traffic arms, features from the store, two models, two hours.
 */
import fc from "fast-check";
import type { InferenceLogEntry } from "../../src/serving/inference-log/log-record.js";

export const T0 = Date.parse("2024-05-01T10:59:59Z");

const CLASSES = ["setosa", "versicolor", "virginica"];
const floats = fc.oneof(fc.float({ noDefaultInfinity: false, noNaN: false }), fc.constantFrom(0.5, -2, 1e-8, 3e7));
const bigints = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -5n, max: 5n }));

/** An entry of `rows` rows whose tensors are drawn from `kind`. */
export const entryArb = fc
  .record({
    rows: fc.integer({ min: 1, max: 3 }),
    model: fc.constantFrom("iris", "churn"),
    hourOffset: fc.integer({ min: 0, max: 1 }),
    kind: fc.constantFrom("features", "list", "scalar", "strings", "bools", "regression", "argmax"),
    classNames: fc.boolean(),
    arm: fc.option(fc.constantFrom("3", "@champion"), { nil: undefined }),
    fromStore: fc.option(fc.constantFrom(["a"], ["a", "b"]), { nil: undefined }),
    seed: fc.array(floats, { minLength: 12, maxLength: 12 }),
    ints: fc.array(bigints, { minLength: 3, maxLength: 3 }),
  })
  .map((r): InferenceLogEntry => {
    const n = r.rows;
    const f32 = (len: number) => Float32Array.from({ length: len }, (_, k) => r.seed[k % r.seed.length] as number);
    const base = { requestId: `r-${Math.abs(r.seed.length * 7 + n)}`, protocol: "v2" as const, time: T0 + r.hourOffset * 1000, latencyMs: 1.5, model: r.model, version: "2" };
    const extras = { ...(r.arm === undefined ? {} : { arm: r.arm }), ...(r.fromStore === undefined ? {} : { featuresFromStore: r.fromStore }) };
    const label = { type: "int64", dims: [n], data: BigInt64Array.from({ length: n }, (_, i) => r.ints[i % 3] as bigint) };
    const probs = { type: "float32", dims: [n, 3], data: f32(n * 3) };
    switch (r.kind) {
      case "features":
        return { ...base, ...extras, features: ["a", "b"], ...(r.classNames ? { classNames: CLASSES } : {}), inputs: { x: { type: "float32", dims: [n, 2], data: f32(n * 2) } }, outputs: [["label", label], ["probabilities", probs]] };
      case "list":
        return { ...base, ...extras, inputs: { x: { type: "float32", dims: [n, 4], data: f32(n * 4) } }, outputs: [["label", label], ["scores", { type: "float64", dims: [n, 2], data: Float64Array.from(f32(n * 2)) }]] };
      case "scalar":
        return { ...base, ...extras, inputs: { x: { type: "int64", dims: [n, 1], data: BigInt64Array.from({ length: n }, (_, i) => r.ints[i % 3] as bigint) } }, outputs: [["variable", { type: "float32", dims: [n, 1], data: f32(n) }]] };
      case "strings":
        return { ...base, ...extras, inputs: { s: { type: "string", dims: [n], data: Array.from({ length: n }, (_, i) => `t"${i}`) } }, outputs: [["label", { type: "string", dims: [n], data: Array.from({ length: n }, (_, i) => CLASSES[i % 3] as string) }]] };
      case "bools":
        return { ...base, ...extras, inputs: { b: { type: "bool", dims: [n, 2], data: Uint8Array.from({ length: n * 2 }, (_, k) => k % 2) } }, outputs: [["out", { type: "float32", dims: [n, 3], data: f32(n * 3) }]] };
      case "regression":
        return { ...base, ...extras, inputs: { x: { type: "float32", dims: [n, 3], data: f32(n * 3) } }, outputs: [["variable", { type: "float32", dims: [n], data: f32(n) }]] };
      case "argmax":
        return { ...base, ...extras, ...(r.classNames ? { classNames: CLASSES } : {}), inputs: { x: { type: "float32", dims: [n, 3], data: f32(n * 3) } }, outputs: [["probabilities", probs]] };
    }
  });

