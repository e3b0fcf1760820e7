/** Realized performance from labelled rows, checked on small cases worked out by hand. */
import { describe, expect, test } from "vitest";
import { classificationMetrics, judgeMetrics, positiveClassOf, regressionMetrics } from "./performance.js";

describe("classification", () => {
  test("binary: accuracy, the positive class's precision/recall/F1, ROC AUC and log loss", () => {
    const r = classificationMetrics({
      labels: ["1", "0", "1", "1", "0"],
      predictions: ["1", "0", "0", "1", "1"],
      probabilities: { classes: ["0", "1"], values: [Float64Array.of(0.1, 0.8, 0.6, 0.2, 0.4), Float64Array.of(0.9, 0.2, 0.4, 0.8, 0.6)] },
    });
    expect(r.positiveClass).toBe("1");
    expect(r.labelled).toBe(5);
    expect(r.metrics.accuracy).toBeCloseTo(0.6, 12);
    expect(r.metrics.precision).toBeCloseTo(2 / 3, 12);
    expect(r.metrics.recall).toBeCloseTo(2 / 3, 12);
    expect(r.metrics.f1).toBeCloseTo(2 / 3, 12);
    // Positive scores {0.9, 0.4, 0.8} beat negative scores {0.2, 0.6} in 5 of 6 pairs.
    expect(r.metrics.roc_auc).toBeCloseTo(5 / 6, 12);
    expect(r.metrics.log_loss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(0.8) + Math.log(0.4)) / 5, 12);
  });

  test("the positive class: given, else the second probability class, else the larger label", () => {
    expect(positiveClassOf(["no", "yes"], ["yes", "no"], undefined)).toBe("no");
    expect(positiveClassOf(["no", "yes"], undefined, undefined)).toBe("yes");
    expect(positiveClassOf(["2", "10"], undefined, undefined)).toBe("10");
    expect(positiveClassOf(["a", "b"], undefined, "a")).toBe("a");
    expect(positiveClassOf(["a", "b", "c"], undefined, undefined)).toBeUndefined();
    const r = classificationMetrics({ labels: ["a", "b"], predictions: ["a", "a"] }, "a");
    expect(r.metrics.precision).toBeCloseTo(0.5, 12);
    expect(r.metrics.recall).toBe(1);
    expect(r.metrics.roc_auc).toBeUndefined();
  });

  test("multiclass: macro averages over the classes seen; one-vs-rest AUC and renormalised log loss", () => {
    const r = classificationMetrics({
      labels: ["a", "b", "c", "a"],
      predictions: ["a", "c", "c", "b"],
      probabilities: {
        classes: ["a", "b", "c"],
        values: [Float64Array.of(0.6, 0.1, 0.2, 0.3), Float64Array.of(0.2, 0.3, 0.1, 0.4), Float64Array.of(0.2, 0.6, 0.7, 0.3)],
      },
    });
    expect(r.positiveClass).toBeUndefined();
    expect(r.metrics.accuracy).toBe(0.5);
    expect(r.metrics.precision).toBeCloseTo(0.5, 12);
    expect(r.metrics.recall).toBeCloseTo(0.5, 12);
    expect(r.metrics.f1).toBeCloseTo(4 / 9, 12);
    // a: positives {0.6, 0.3} vs {0.1, 0.2} → 1; b: {0.3} vs {0.2, 0.1, 0.4} → 2/3; c: {0.7} vs {0.2, 0.6, 0.3} → 1.
    expect(r.metrics.roc_auc).toBeCloseTo((1 + 2 / 3 + 1) / 3, 12);
    expect(r.metrics.log_loss).toBeCloseTo(-(Math.log(0.6) + Math.log(0.3) + Math.log(0.7) + Math.log(0.3)) / 4, 12);
  });

  test("no labelled rows: no metrics, never zeros", () => {
    expect(classificationMetrics({ labels: [], predictions: [] }).metrics).toEqual({});
    expect(() => classificationMetrics({ labels: ["a"], predictions: [] })).toThrow(/predictions/);
  });
});

describe("regression", () => {
  test("MAE, RMSE, MAPE and R² over the finite pairs", () => {
    const { metrics, labelled } = regressionMetrics([1, 2, 3, Number.NaN], [2, 2, 5, 1]);
    expect(labelled).toBe(3);
    expect(metrics.mae).toBeCloseTo(1, 12);
    expect(metrics.rmse).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(metrics.mape).toBeCloseTo((1 + 0 + 2 / 3) / 3, 12);
    expect(metrics.r2).toBeCloseTo(1 - 5 / 2, 12);
    expect(regressionMetrics([], []).labelled).toBe(0);
  });
});

describe("concept drift", () => {
  test("a metric worse than its baseline by more than the margin, in the metric's own direction", () => {
    const v = judgeMetrics({ accuracy: 0.8, f1: 0.86, log_loss: 0.5, mae: 1.01 }, { accuracy: 0.9, f1: 0.9, log_loss: 0.3, mae: 1, rmse: 2 }, { margin: 0.05, margins: { mae: 0 } });
    const byMetric = Object.fromEntries(v.map((x) => [x.metric, x.drifted]));
    expect(byMetric).toEqual({ accuracy: true, f1: false, log_loss: true, mae: true });
    expect(v.find((x) => x.metric === "accuracy")?.change).toBeCloseTo(-0.1, 12);
    expect(judgeMetrics({ accuracy: 0.1 }, { accuracy: 0.9 }, { metrics: ["f1"] })).toEqual([]);
  });
});
