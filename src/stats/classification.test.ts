import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  accuracy,
  binaryClassificationReport,
  confusionMatrix,
  f1Score,
  logLoss,
  precision,
  recall,
  rocAuc,
  thresholdLabels,
} from "./classification.js";

interface GoldenCase {
  name: string;
  y_true: number[];
  y_score: number[];
  y_pred: number[];
  expected: {
    accuracy: number;
    precision: number;
    recall: number;
    f1: number;
    roc_auc: number;
    log_loss: number;
    confusion: { tn: number; fp: number; fn: number; tp: number };
  };
}

const golden = JSON.parse(
  readFileSync(new URL("./__golden__/classification.json", import.meta.url), "utf8"),
) as { cases: GoldenCase[] };

/** Relative error below 1e-9 (an expected 0 must come out as 0 up to 1e-300). */
function expectClose(actual: number, expected: number, what: string): void {
  const err = expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
  const limit = expected === 0 ? 1e-300 : 1e-9;
  expect(err, `${what}: got ${actual}, expected ${expected}`).toBeLessThan(limit);
}

describe("classification metrics against golden values (scripts/golden/classification.py)", () => {
  it("has the cases the generator writes", () => {
    expect(golden.cases.length).toBeGreaterThanOrEqual(8);
    const names = golden.cases.map((c) => c.name);
    expect(names).toContain("ties_rounded_scores");
    expect(names).toContain("constant_score_all_positive_prediction");
  });

  for (const c of golden.cases) {
    it(c.name, () => {
      const yTrue = Float64Array.from(c.y_true);
      const yScore = Float64Array.from(c.y_score);
      const yPred = Float64Array.from(c.y_pred);
      const e = c.expected;
      expectClose(accuracy(yTrue, yPred), e.accuracy, "accuracy");
      expectClose(precision(yTrue, yPred), e.precision, "precision");
      expectClose(recall(yTrue, yPred), e.recall, "recall");
      expectClose(f1Score(yTrue, yPred), e.f1, "f1");
      expectClose(rocAuc(yTrue, yScore), e.roc_auc, "rocAuc");
      expectClose(logLoss(yTrue, yScore), e.log_loss, "logLoss");
      expect(confusionMatrix(yTrue, yPred)).toEqual(e.confusion);
    });
  }

  it("the golden data really contains tied scores and a constant score", () => {
    const ties = golden.cases.find((c) => c.name === "ties_rounded_scores");
    expect(ties).toBeDefined();
    expect(new Set(ties?.y_score).size).toBeLessThan((ties?.y_score.length ?? 0) / 2);
    const constant = golden.cases.find((c) => c.name === "constant_score_all_positive_prediction");
    expect(new Set(constant?.y_score).size).toBe(1);
    expect(constant?.expected.roc_auc).toBe(0.5);
  });
});

describe("rocAuc", () => {
  it("counts a tied positive/negative pair as half", () => {
    // pairs (pos, neg): (0.8,0.2)=1 (0.8,0.5)=1 (0.5,0.2)=1 (0.5,0.5)=0.5 → 3.5/4
    expect(rocAuc([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2])).toBe(0.875);
  });

  it("is invariant under strictly increasing transforms and handles infinities", () => {
    const y = [0, 1, 0, 1, 1, 0, 0, 1];
    const s = [-3, 2, 0.5, 0.5, 7, -1, 2, 1];
    const base = rocAuc(y, s);
    expect(rocAuc(y, s.map((v) => 10 * v + 3))).toBe(base);
    expect(rocAuc(y, s.map((v) => Math.exp(v)))).toBe(base);
    expect(rocAuc([0, 0, 1, 1], [-Infinity, -Infinity, Infinity, Infinity])).toBe(1);
    expect(rocAuc([0, 1, 0, 1], [Infinity, Infinity, Infinity, Infinity])).toBe(0.5);
  });

  it("accepts plain arrays and different typed arrays", () => {
    const y = Uint8Array.from([0, 1, 1, 0]);
    const s = Float32Array.from([0.1, 0.9, 0.4, 0.3]);
    expect(rocAuc(y, s)).toBe(1);
  });

  it("throws when only one class is present", () => {
    expect(() => rocAuc([1, 1, 1], [0.2, 0.4, 0.9])).toThrow(/only one class/);
    expect(() => rocAuc([0, 0], [0.2, 0.4])).toThrow(/only one class/);
  });

  it("rejects NaN scores", () => {
    expect(() => rocAuc([0, 1], [0.1, Number.NaN])).toThrow(/NaN/);
  });
});

describe("logLoss", () => {
  it("clips certain-but-wrong predictions at eps = 1e-15", () => {
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(1e-15), 12);
    // As in NumPy/scikit-learn, 1 is clipped to 1 − 1e-15 and 1 − (1 − 1e-15) ≠ 1e-15 exactly.
    expect(logLoss([0], [1])).toBe(-Math.log(1 - (1 - 1e-15)));
    expect(logLoss([1], [0], 1e-7)).toBeCloseTo(-Math.log(1e-7), 12);
  });

  it("is ln 2 for a constant 0.5 prediction", () => {
    expect(logLoss([0, 1, 1, 0, 1], new Float64Array(5).fill(0.5))).toBeCloseTo(Math.LN2, 15);
  });

  it("rejects probabilities outside [0, 1]", () => {
    expect(() => logLoss([0, 1], [0.2, 1.2])).toThrow(/yProba\[1\]/);
    expect(() => logLoss([0, 1], [0.2, Number.NaN])).toThrow(/yProba\[1\]/);
  });
});

describe("label and length checks", () => {
  it("rejects labels other than 0 and 1", () => {
    expect(() => accuracy([0, 2], [0, 1])).toThrow(/yTrue\[1\] is 2/);
    expect(() => precision([0, 1], [0, -1])).toThrow(/yPred\[1\] is -1/);
    expect(() => logLoss([0.5], [0.5])).toThrow(/0 or 1/);
  });

  it("rejects mismatched lengths and empty input", () => {
    expect(() => recall([0, 1, 1], [0, 1])).toThrow(/3 values but yPred has 2/);
    expect(() => f1Score([], [])).toThrow(/no samples/);
    expect(() => rocAuc([0, 1], [0.5])).toThrow(/yScore has 1/);
  });
});

describe("thresholdLabels and binaryClassificationReport", () => {
  it("labels values at or above the threshold as 1", () => {
    expect(Array.from(thresholdLabels([0.2, 0.5, 0.7, 0.49]))).toEqual([0, 1, 1, 0]);
    expect(Array.from(thresholdLabels([0.2, 0.5, 0.7], 0.6))).toEqual([0, 0, 1]);
  });

  it("agrees with the individual metric functions", () => {
    const yTrue = Float64Array.from([0, 1, 1, 0, 1, 0, 1, 1, 0, 0]);
    const yProba = Float64Array.from([0.1, 0.8, 0.45, 0.3, 0.9, 0.6, 0.7, 0.55, 0.2, 0.5]);
    const yPred = thresholdLabels(yProba);
    const r = binaryClassificationReport(yTrue, yProba);
    expect(r.accuracy).toBe(accuracy(yTrue, yPred));
    expect(r.precision).toBe(precision(yTrue, yPred));
    expect(r.recall).toBe(recall(yTrue, yPred));
    expect(r.f1).toBe(f1Score(yTrue, yPred));
    expect(r.rocAuc).toBe(rocAuc(yTrue, yProba));
    expect(r.logLoss).toBe(logLoss(yTrue, yProba));
    expect(r.confusion).toEqual({ tn: 3, fp: 2, fn: 1, tp: 4 });
  });
});
