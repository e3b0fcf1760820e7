/**
 * CBPE and its isotonic calibrator: checked against values derived independently — SciPy's PAVA
 * and NumPy restatements of NannyML's formulas (scripts/golden/cbpe.py), and analytic
 * expectations on synthetic data whose true performance is known in closed form.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { accuracy } from "../stats/classification.js";
import { aurocSamplingComponents, estimateCbpe, estimateRocAuc, expectedCalibrationError, fitCbpe, labelsAt, needsCalibration } from "./cbpe.js";
import { fitIsotonic, predictIsotonic } from "./isotonic.js";

interface Golden {
  isotonic: { x: number[]; y: number[]; query: number[]; fit_x: number[]; fit_y: number[]; predict: number[] }[];
  nannyml_auroc_case: { y_true: number[]; chunk_size: number; sampling_error_4dp: number };
  cases: {
    y_true: number[];
    proba: number[];
    calibrated: number[];
    auroc_std: number;
    auroc_fraction: number;
    accuracy_std: number;
    ece: number;
    estimate_roc_auc: number;
  }[];
}

const golden = JSON.parse(readFileSync(new URL("./__golden__/cbpe.json", import.meta.url), "utf8")) as Golden;

function close(actual: number, expected: number, rel = 1e-9): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected)));
}

/** Seeded uniform numbers (mulberry32). */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n rows with true probability p = lo + (hi − lo)·U, label ~ Bernoulli(p), and the model's score f(p). */
function synthetic(n: number, seed: number, score: (p: number) => number = (p) => p, lo = 0, hi = 1) {
  const next = uniform(seed);
  const y = new Float64Array(n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = lo + (hi - lo) * next();
    y[i] = next() < p ? 1 : 0;
    s[i] = score(p);
  }
  return { y, s };
}

describe("isotonic regression", () => {
  test("matches SciPy's PAVA on merged ties and numpy.interp predictions", () => {
    for (const c of golden.isotonic) {
      const fit = fitIsotonic(c.x, c.y);
      expect(Array.from(fit.x)).toEqual(c.fit_x);
      fit.y.forEach((v, i) => close(v, c.fit_y[i] as number, 1e-12));
      c.query.forEach((q, i) => close(predictIsotonic(fit, q), c.predict[i] as number, 1e-12));
      for (let i = 1; i < fit.y.length; i++) expect(fit.y[i]).toBeGreaterThanOrEqual(fit.y[i - 1] as number);
    }
  });

  test("ignores non-finite pairs and refuses empty input", () => {
    const fit = fitIsotonic([1, Number.NaN, 2, 3], [0, 1, 1, Number.POSITIVE_INFINITY]);
    expect(Array.from(fit.x)).toEqual([1, 2]);
    expect(Number.isNaN(predictIsotonic(fit, Number.NaN))).toBe(true);
    expect(() => fitIsotonic([Number.NaN], [1])).toThrow(/no finite/);
  });
});

describe("NannyML's components", () => {
  test("ECE, sampling-error components and the ROC AUC estimate agree with the NumPy restatement", () => {
    for (const c of golden.cases) {
      close(expectedCalibrationError(c.y_true, c.proba), c.ece);
      const a = aurocSamplingComponents(c.y_true, c.proba);
      close(a.std, c.auroc_std);
      close(a.fraction, c.auroc_fraction);
      close(estimateRocAuc(c.calibrated, c.proba), c.estimate_roc_auc, 1e-9);
      const model = fitCbpe(c.y_true, c.proba, undefined, { calibration: "never" });
      close(model.accuracyStd, c.accuracy_std);
    }
  });

  test("NannyML's own AUROC sampling-error case gives its 0.0575", () => {
    const c = golden.nannyml_auroc_case;
    const scores = Array.from({ length: c.y_true.length }, (_, i) => i / (c.y_true.length - 1));
    const a = aurocSamplingComponents(c.y_true, scores);
    expect(Math.round((a.std / Math.sqrt(c.chunk_size * a.fraction)) * 1e4) / 1e4).toBe(c.sampling_error_4dp);
  });
});

describe("CBPE on synthetic data with known performance", () => {
  // p ~ U(0, 1), y ~ Bernoulli(p), predicted 1 when p ≥ 0.5:
  // accuracy = E[max(p, 1 − p)] = 3/4; ROC AUC = P(p₊ > p₋) with densities 2p and 2(1 − p) = 5/6.
  const ref = synthetic(200_000, 1);
  const calibratedModel = fitCbpe(ref.y, ref.s);

  test("a calibrated model's accuracy and ROC AUC are estimated without labels", () => {
    const cur = synthetic(50_000, 2);
    const est = estimateCbpe(calibratedModel, cur.s);
    expect(est).toBeDefined();
    expect(Math.abs(est!.accuracy.value - 0.75)).toBeLessThan(0.004);
    expect(Math.abs(est!.roc_auc!.value - 5 / 6)).toBeLessThan(0.005);
    const realized = accuracy(cur.y, labelsAt(cur.s, 0.5));
    expect(realized).toBeGreaterThanOrEqual(est!.accuracy.lower);
    expect(realized).toBeLessThanOrEqual(est!.accuracy.upper);
    expect(est!.accuracy.alert).toBe(false);
    const { tp, fp, fn, tn } = est!.confusion;
    close(tp + fp + fn + tn, 50_000, 1e-12);
    expect(calibratedModel.reference.rows).toBe(200_000);
    expect(Math.abs(calibratedModel.reference.accuracy - 0.75)).toBeLessThan(0.005);
  });

  test("the realized accuracy falls inside the ±3σ band in nearly every window", () => {
    let outside = 0;
    for (let w = 0; w < 200; w++) {
      const cur = synthetic(500, 100 + w);
      const est = estimateCbpe(calibratedModel, cur.s)!;
      const realized = accuracy(cur.y, labelsAt(cur.s, 0.5));
      if (realized < est.accuracy.lower || realized > est.accuracy.upper) outside++;
      close(est.accuracy.samplingError, calibratedModel.accuracyStd / Math.sqrt(500), 1e-12);
    }
    expect(outside).toBeLessThanOrEqual(3);
  });

  test("covariate shift towards uncertain rows lowers the estimate and raises an alert", () => {
    // p ~ U(0.3, 0.7): accuracy = E[max(p, 1 − p)] = 0.6; ROC AUC = 0.63333… (densities ∝ p and ∝ 1 − p on [0.3, 0.7]).
    const cur = synthetic(50_000, 3, (p) => p, 0.3, 0.7);
    const est = estimateCbpe(calibratedModel, cur.s)!;
    expect(Math.abs(est.accuracy.value - 0.6)).toBeLessThan(0.005);
    expect(Math.abs(est.roc_auc!.value - 0.6333333)).toBeLessThan(0.006);
    expect(est.accuracy.alert).toBe(true);
    expect(est.roc_auc!.alert).toBe(true);
    expect(est.accuracy.value).toBeLessThan(calibratedModel.thresholds.accuracy.lower!);
  });

  test("a miscalibrated model is calibrated with isotonic regression first", () => {
    // The model reports s = p²: thresholding s at 0.5 predicts 1 when p ≥ 1/√2, so accuracy is
    // ∫₀^{1/√2} (1 − p) dp + ∫_{1/√2}^1 p dp = 1/√2. Uncalibrated, CBPE would believe ≈ 0.805.
    const square = (p: number) => p * p;
    const r = synthetic(100_000, 4, square);
    const model = fitCbpe(r.y, r.s);
    expect(model.calibrated).toBe(true);
    const cur = synthetic(50_000, 5, square);
    const est = estimateCbpe(model, cur.s)!;
    expect(Math.abs(est.accuracy.value - Math.SQRT1_2)).toBeLessThan(0.006);
    const naive = estimateCbpe(fitCbpe(r.y, r.s, undefined, { calibration: "never" }), cur.s)!;
    expect(needsCalibration(r.y.subarray(0, 20_000), r.s.subarray(0, 20_000))).toBe(true);
    expect(naive.accuracy.value).toBeGreaterThan(0.79);
    // Ranking is unchanged by a monotone transform: ROC AUC stays 5/6.
    expect(Math.abs(est.roc_auc!.value - 5 / 6)).toBeLessThan(0.006);
  });

  test("rows without a probability are skipped; a window with none has no estimate", () => {
    expect(estimateCbpe(calibratedModel, [Number.NaN, -1])).toBeUndefined();
    expect(estimateCbpe(calibratedModel, [0.9, Number.NaN, 0.2])?.rows).toBe(2);
    expect(() => fitCbpe([0, 2], [0.1, 0.2])).toThrow(/expected 0 or 1/);
    expect(() => fitCbpe([0, 1], [0.1, 1.2])).toThrow(/\[0, 1\]/);
  });
});
