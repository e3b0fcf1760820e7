import { describe, expect, it } from "vitest";
import {
  readNumericCsv,
  splitFeaturesTarget,
  standardize,
  take,
  takeRows,
  trainTestSplit,
  mulberry32,
} from "../data/csv.js";
import { accuracy, rocAuc, thresholdLabels } from "../stats/classification.js";
import {
  decisionFunction,
  predict,
  predictProba,
  trainLogisticRegression,
} from "./logistic-regression.js";
import type { LogisticRegressionModel } from "./logistic-regression.js";

const BREAST_CANCER = new URL("../../examples/data/breast_cancer.csv", import.meta.url);

/** Gradient of the documented objective, computed independently from predictProba. */
function objectiveGradient(
  model: LogisticRegressionModel,
  X: Float64Array[],
  y: Float64Array,
  l2: number,
): { weights: number[]; bias: number } {
  const p = predictProba(model, X);
  const n = y.length;
  const weights = X.map((col, j) => {
    let g = 0;
    for (let i = 0; i < n; i++) g += ((p[i] as number) - (y[i] as number)) * (col[i] as number);
    return g / n + l2 * (model.weights[j] as number);
  });
  let bias = 0;
  for (let i = 0; i < n; i++) bias += (p[i] as number) - (y[i] as number);
  return { weights, bias: bias / n };
}

/** A small synthetic, not linearly separable problem: two noisy features and a useless one. */
function synthetic(n: number, seed: number): { X: Float64Array[]; y: Float64Array } {
  const r = mulberry32(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const X = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = gauss();
    const b = gauss();
    (X[0] as Float64Array)[i] = a;
    (X[1] as Float64Array)[i] = b;
    (X[2] as Float64Array)[i] = gauss();
    const pTrue = 1 / (1 + Math.exp(-(1.5 * a - 2 * b + 0.3)));
    y[i] = r() < pTrue ? 1 : 0;
  }
  return { X, y };
}

describe("trainLogisticRegression on breast_cancer.csv", () => {
  it("reaches test accuracy > 0.93 and ROC AUC > 0.97 (standardised, 80/20, seed 42)", async () => {
    const table = await readNumericCsv(BREAST_CANCER);
    const { X, y } = splitFeaturesTarget(table, "target");
    const split = trainTestSplit(y.length, 0.2, 42);
    const { train, test } = standardize(takeRows(X, split.train), takeRows(X, split.test));
    const yTrain = take(y, split.train);
    const yTest = take(y, split.test);

    const losses: number[] = [];
    const epochs: number[] = [];
    const started = performance.now();
    const model = trainLogisticRegression({
      X: train,
      y: yTrain,
      learningRate: 0.5,
      epochs: 500,
      l2: 1e-3,
      onEpoch: (epoch, { loss }) => {
        epochs.push(epoch);
        losses.push(loss);
      },
    });
    const trainMs = performance.now() - started;

    const proba = predictProba(model, test);
    const testAccuracy = accuracy(yTest, thresholdLabels(proba));
    const testAuc = rocAuc(yTest, proba);
    console.log(
      `breast_cancer: train ${trainMs.toFixed(1)} ms, test accuracy ${testAccuracy.toFixed(4)}, ` +
        `ROC AUC ${testAuc.toFixed(4)}, final loss ${losses.at(-1)?.toFixed(5)}`,
    );
    expect(testAccuracy).toBeGreaterThan(0.93);
    expect(testAuc).toBeGreaterThan(0.97);

    expect(model.weights).toHaveLength(30);
    expect(epochs).toEqual(Array.from({ length: 500 }, (_, i) => i));
    // Gradient descent below the step-size limit never increases a smooth convex objective.
    for (let i = 1; i < losses.length; i++) {
      expect(losses[i] as number).toBeLessThanOrEqual((losses[i - 1] as number) + 1e-12);
    }
    expect(losses[0] as number).toBeLessThan(Math.LN2);
    expect(losses.at(-1) as number).toBeLessThan(0.1);
  });
});

describe("trainLogisticRegression optimisation", () => {
  it("converges to a stationary point of the regularised objective", () => {
    const { X, y } = synthetic(400, 3);
    const l2 = 0.05;
    const model = trainLogisticRegression({ X, y, learningRate: 1, epochs: 3000, l2 });
    const g = objectiveGradient(model, X, y, l2);
    for (const gj of g.weights) expect(Math.abs(gj)).toBeLessThan(1e-9);
    expect(Math.abs(g.bias)).toBeLessThan(1e-9);
    // The informative features get the signs of the generating model; the noise one shrinks.
    expect(model.weights[0]).toBeGreaterThan(0.5);
    expect(model.weights[1]).toBeLessThan(-0.5);
    expect(Math.abs(model.weights[2] as number)).toBeLessThan(0.3);
  });

  it("shrinks weights as l2 grows and leaves the bias unpenalised", () => {
    const { X, y } = synthetic(300, 11);
    const norm = (m: LogisticRegressionModel): number => Math.hypot(...m.weights);
    const weak = trainLogisticRegression({ X, y, learningRate: 0.5, epochs: 2000, l2: 0.001 });
    // The penalty adds l2 to the curvature, so the step must stay below 2 / (l2 + …).
    const strong = trainLogisticRegression({ X, y, learningRate: 0.05, epochs: 2000, l2: 10 });
    expect(norm(strong)).toBeLessThan(norm(weak) / 10);
    // With weights pinned near 0, the bias tends to the log-odds of the base rate.
    const rate = y.reduce((a, b) => a + b, 0) / y.length;
    expect(strong.bias).toBeCloseTo(Math.log(rate / (1 - rate)), 1);
  });

  it("returns the zero model for 0 epochs (every probability 0.5)", () => {
    const { X, y } = synthetic(10, 1);
    const model = trainLogisticRegression({ X, y, learningRate: 0.1, epochs: 0, l2: 0 });
    expect(Array.from(model.weights)).toEqual([0, 0, 0]);
    expect(model.bias).toBe(0);
    expect(Array.from(predictProba(model, X))).toEqual(new Array(10).fill(0.5));
  });

  it("is deterministic", () => {
    const { X, y } = synthetic(100, 5);
    const a = trainLogisticRegression({ X, y, learningRate: 0.3, epochs: 50, l2: 0.01 });
    const b = trainLogisticRegression({ X, y, learningRate: 0.3, epochs: 50, l2: 0.01 });
    expect(a.weights).toEqual(b.weights);
    expect(a.bias).toBe(b.bias);
  });
});

describe("prediction", () => {
  const model: LogisticRegressionModel = { weights: Float64Array.from([2, -1]), bias: 0.5 };
  const X = [Float64Array.from([0, 1, -3, 400]), Float64Array.from([0, 0.5, 0, 0])];

  it("computes σ(w·x + b) stably, even for huge scores", () => {
    expect(Array.from(decisionFunction(model, X))).toEqual([0.5, 2, -5.5, 800.5]);
    const p = predictProba(model, X);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(-0.5)), 15);
    expect(p[2]).toBeCloseTo(1 / (1 + Math.exp(5.5)), 15);
    expect(p[3]).toBe(1);
    const tiny = predictProba(model, [Float64Array.from([-350]), Float64Array.from([0])]);
    expect(tiny[0]).toBeGreaterThan(0);
    expect(tiny[0]).toBeLessThan(1e-300);
    expect(Array.from(predict(model, X))).toEqual([1, 1, 0, 1]);
    expect(Array.from(predict(model, X, 0.7))).toEqual([0, 1, 0, 1]);
  });

  it("rejects a feature count different from the model's", () => {
    expect(() => predictProba(model, [Float64Array.from([1])])).toThrow(/2 weights but X has 1/);
  });
});

describe("input validation", () => {
  const X = [Float64Array.from([0, 1, 2])];
  const y = Float64Array.from([0, 1, 1]);
  const base = { X, y, learningRate: 0.1, epochs: 1, l2: 0 };

  it("rejects bad labels, ragged features and non-finite values", () => {
    expect(() => trainLogisticRegression({ ...base, y: [0, 2, 1] })).toThrow(/y\[1\] is 2/);
    expect(() => trainLogisticRegression({ ...base, X: [Float64Array.from([0, 1])] })).toThrow(
      /column 0 has 2 rows, expected 3/,
    );
    expect(() =>
      trainLogisticRegression({ ...base, X: [Float64Array.from([0, Number.NaN, 1])] }),
    ).toThrow(/X\[0\]\[1\] is NaN/);
    expect(() => trainLogisticRegression({ ...base, X: [], y: [] })).toThrow(/no training rows/);
  });

  it("stops with an explanation when the learning rate makes the loss blow up", () => {
    const data = synthetic(50, 2);
    expect(() =>
      trainLogisticRegression({ ...data, learningRate: 0.5, epochs: 2000, l2: 10 }),
    ).toThrow(/loss became (Infinity|NaN) at epoch \d+; lower the learning rate \(0\.5\)/);
  });

  it("rejects bad hyperparameters", () => {
    expect(() => trainLogisticRegression({ ...base, learningRate: 0 })).toThrow(/learningRate/);
    expect(() => trainLogisticRegression({ ...base, learningRate: Infinity })).toThrow(
      /learningRate/,
    );
    expect(() => trainLogisticRegression({ ...base, epochs: 1.5 })).toThrow(/epochs/);
    expect(() => trainLogisticRegression({ ...base, epochs: -1 })).toThrow(/epochs/);
    expect(() => trainLogisticRegression({ ...base, l2: -1 })).toThrow(/l2/);
  });
});
