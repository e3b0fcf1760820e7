import { describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import {
  readNumericCsv,
  splitFeaturesTarget,
  standardize,
  take,
  takeRows,
  trainTestSplit,
} from "../data/csv.js";
import { predictProba, trainLogisticRegression } from "../training/logistic-regression.js";
import { exportLogisticRegression } from "./export-logistic-regression.js";
import { inspectOnnx } from "./inspect.js";

const BREAST_CANCER = new URL("../../examples/data/breast_cancer.csv", import.meta.url);

/** Row-major float32 copy of a column-major matrix. */
function rowMajor(X: readonly Float64Array[]): Float32Array {
  const n = X[0]?.length ?? 0;
  const out = new Float32Array(n * X.length);
  X.forEach((col, j) => {
    for (let i = 0; i < n; i++) out[i * X.length + j] = col[i] as number;
  });
  return out;
}

interface Prediction {
  label: BigInt64Array;
  probabilities: Float32Array;
  labelDims: readonly number[];
  probDims: readonly number[];
}

async function runModel(model: Uint8Array, rows: Float32Array, nFeatures: number): Promise<Prediction> {
  const session = await ort.InferenceSession.create(model);
  try {
    const input = new ort.Tensor("float32", rows, [rows.length / nFeatures, nFeatures]);
    const out = await session.run({ float_input: input });
    const label = out.label;
    const probabilities = out.probabilities;
    if (label === undefined || probabilities === undefined) throw new Error("missing outputs");
    return {
      label: label.data as BigInt64Array,
      probabilities: probabilities.data as Float32Array,
      labelDims: label.dims,
      probDims: probabilities.dims,
    };
  } finally {
    await session.release();
  }
}

const SIGNATURE = (d: number) => ({
  inputs: [{ name: "float_input", dtype: "float32", shape: [-1, d] }],
  outputs: [
    { name: "label", dtype: "int64", shape: [-1] },
    { name: "probabilities", dtype: "float32", shape: [-1, 2] },
  ],
});

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), Number.MIN_VALUE);
}

describe("exportLogisticRegression", () => {
  it("reproduces predictProba on breast_cancer.csv from raw features in ONNX Runtime", async () => {
    const table = await readNumericCsv(BREAST_CANCER);
    const { featureNames, X, y } = splitFeaturesTarget(table, "target");
    const split = trainTestSplit(y.length, 0.2, 42);
    const rawTest = takeRows(X, split.test);
    const { train, test, standardizer } = standardize(takeRows(X, split.train), rawTest);
    const model = trainLogisticRegression({
      X: train,
      y: take(y, split.train),
      learningRate: 0.5,
      epochs: 500,
      l2: 1e-3,
    });
    const expected = predictProba(model, test);

    const bytes = exportLogisticRegression({
      weights: model.weights,
      bias: model.bias,
      featureNames,
      standardizer,
    });
    const d = featureNames.length;
    expect(await inspectOnnx(bytes)).toEqual(SIGNATURE(d));

    const out = await runModel(bytes, rowMajor(rawTest), d);
    const n = expected.length;
    expect(out.labelDims).toEqual([n]);
    expect(out.probDims).toEqual([n, 2]);
    let worst = 0;
    let positives = 0;
    for (let i = 0; i < n; i++) {
      const p1 = expected[i] as number;
      const p0 = 1 - p1;
      const got0 = out.probabilities[2 * i] as number;
      const got1 = out.probabilities[2 * i + 1] as number;
      worst = Math.max(worst, relErr(got1, p1), relErr(got0, p0));
      expect(relErr(got1, p1), `row ${i} P(1)`).toBeLessThan(1e-5);
      expect(relErr(got0, p0), `row ${i} P(0)`).toBeLessThan(1e-5);
      const label = p1 >= 0.5 ? 1n : 0n;
      if (label === 1n) positives++;
      expect(out.label[i], `row ${i} label`).toBe(label);
    }
    console.log(`breast_cancer ONNX export: ${n} test rows, worst relative error ${worst.toExponential(2)}`);
    // Both classes occur, so the label comparison is meaningful.
    expect(positives).toBeGreaterThan(0);
    expect(positives).toBeLessThan(n);
  });

  it("works without a standardizer and divides by 1 where std is 0", async () => {
    const weights = Float64Array.from([0.5, -1.25, 2]);
    const bias = -0.75;
    const rows = [
      [1, 2, 3],
      [0, 0, 0],
      [-4, 1.5, 0.25],
      [10, -3, -8],
    ];
    const logistic = (z: number): number => 1 / (1 + Math.exp(-z));
    const plain = exportLogisticRegression({ weights, bias });
    expect(await inspectOnnx(plain)).toEqual(SIGNATURE(3));
    const mean = Float64Array.from([1, 2, 3]);
    const std = Float64Array.from([2, 0, 0.5]);
    const scaled = exportLogisticRegression({ weights, bias, standardizer: { mean, std } });

    const flat = Float32Array.from(rows.flat());
    const outPlain = await runModel(plain, flat, 3);
    const outScaled = await runModel(scaled, flat, 3);
    rows.forEach((r, i) => {
      const zPlain = r.reduce((s, v, j) => s + v * (weights[j] as number), bias);
      const zScaled = r.reduce((s, v, j) => {
        const sd = std[j] as number;
        return s + ((v - (mean[j] as number)) / (sd === 0 ? 1 : sd)) * (weights[j] as number);
      }, bias);
      for (const [out, z] of [
        [outPlain, zPlain],
        [outScaled, zScaled],
      ] as const) {
        const p1 = logistic(z);
        expect(relErr(out.probabilities[2 * i + 1] as number, p1)).toBeLessThan(1e-5);
        expect(relErr(out.probabilities[2 * i] as number, 1 - p1)).toBeLessThan(1e-5);
        expect(out.label[i]).toBe(p1 >= 0.5 ? 1n : 0n);
      }
    });
  });

  it("gives label 1 at exactly P = 0.5 and handles an empty batch", async () => {
    const bytes = exportLogisticRegression({ weights: Float64Array.from([1]), bias: 0 });
    const out = await runModel(bytes, Float32Array.from([0, -1e-3, 1e-3]), 1);
    expect(Array.from(out.probabilities.subarray(0, 2))).toEqual([0.5, 0.5]);
    expect(out.probabilities[3] as number).toBeLessThan(0.5);
    expect(out.probabilities[5] as number).toBeGreaterThan(0.5);
    expect(Array.from(out.label)).toEqual([1n, 0n, 1n]);
    const empty = await runModel(bytes, new Float32Array(0), 1);
    expect(empty.labelDims).toEqual([0]);
    expect(empty.probDims).toEqual([0, 2]);
  });

  it("records feature names in the model metadata", () => {
    const names = ["mean radius", "größe"];
    const bytes = exportLogisticRegression({
      weights: Float64Array.from([1, 2]),
      bias: 0,
      featureNames: names,
    });
    expect(Buffer.from(bytes).includes(Buffer.from(JSON.stringify(names), "utf8"))).toBe(true);
    expect(Buffer.from(bytes).includes(Buffer.from("feature_names", "utf8"))).toBe(true);
  });

  it("rejects inconsistent inputs", () => {
    const w = Float64Array.from([1, 2]);
    const exporting = (o: Parameters<typeof exportLogisticRegression>[0]) => () => exportLogisticRegression(o);
    expect(exporting({ weights: new Float64Array(0), bias: 0 })).toThrow(/no weights/);
    expect(exporting({ weights: Float64Array.from([NaN]), bias: 0 })).toThrow(/weights\[0\]/);
    expect(exporting({ weights: w, bias: Infinity })).toThrow(/bias/);
    expect(exporting({ weights: w, bias: 0, featureNames: ["a"] })).toThrow(/1 feature names for 2 weights/);
    expect(exporting({ weights: w, bias: 0, featureNames: ["a", "a"] })).toThrow(/unique/);
    expect(() =>
      exportLogisticRegression({
        weights: w,
        bias: 0,
        standardizer: { mean: Float64Array.from([0]), std: Float64Array.from([1, 1]) },
      }),
    ).toThrow(/1 means and 2 standard deviations/);
    expect(() =>
      exportLogisticRegression({
        weights: w,
        bias: 0,
        standardizer: { mean: Float64Array.from([0, 0]), std: Float64Array.from([1, -1]) },
      }),
    ).toThrow(/std\[1\] is negative/);
  });
});
