/**
 * Confidence-based performance estimation (NannyML's CBPE) for binary classifiers: performance
 * estimated from the model's probabilities alone, for windows whose labels have not arrived.
 *
 * Fitting on reference data (labels, probabilities of the positive class, predicted labels):
 * - calibration: scores are calibrated with isotonic regression when that lowers the expected
 *   calibration error (NannyML's `needs_calibration`: 10 stratified 90/10 splits, isotonic fitted
 *   on each 90%, the 10% test parts pooled, ECE over 10 equal-count bins before and after). The
 *   splits come from a seeded generator of our own, not scikit-learn's random stream, so a
 *   borderline decision can differ from NannyML's. Scores with ROC AUC above 0.999, or one class
 *   only, are not calibrated (as in NannyML);
 * - sampling-error components (NannyML's `sampling_error.binary_classification`): for accuracy
 *   the standard deviation of the per-row correctness; for ROC AUC the standard deviation of the
 *   Mann–Whitney terms of the positives (classes flipped when positives are the majority) and the
 *   positive fraction;
 * - alert thresholds: the realized metric on `chunks` (10) consecutive reference chunks, mean ± 3
 *   standard deviations (ddof 0), clipped to [0, 1] — NannyML's default StandardDeviationThreshold.
 *
 * Estimating a window with calibrated probabilities p and predicted labels ŷ:
 * - the confusion matrix: TP = Σ_{ŷ=1} p, FP = Σ_{ŷ=1} (1 − p), FN = Σ_{ŷ=0} p, TN = Σ_{ŷ=0} (1 − p);
 * - accuracy = (TP + TN) / n;
 * - ROC AUC: rows in descending order of the uncalibrated score, expected true and false positives
 *   accumulated (rounded to 5 decimals as NannyML does), the trapezoidal area under the curve;
 * - the band: estimate ± 3 × sampling error, clipped to [0, 1]; sampling error = σ / √n for
 *   accuracy and σ / √(n · positive fraction) for ROC AUC;
 * - an alert when the estimate falls outside the alert thresholds.
 */
import { z } from "zod";
import { rocAuc } from "../stats/classification.js";
import { argsort, calibrateAll, fitIsotonic, fitIsotonicSorted, predictIsotonic, type IsotonicFit } from "./isotonic.js";

/** NannyML's SAMPLING_ERROR_RANGE: the band is this many sampling errors wide on each side. */
export const SAMPLING_ERROR_RANGE = 3;
export const DEFAULT_CHUNKS = 10;
export const THRESHOLD_STD_MULTIPLIER = 3;

export const cbpeOptionsSchema = z.strictObject({
  /** Probability at or above which the model predicts the positive class, when no predicted label is logged (default 0.5). */
  threshold: z.number().gt(0).lt(1).optional(),
  /** Reference chunks for the alert thresholds (default 10). */
  chunks: z.number().int().min(2).max(1000).optional(),
  /** Calibrate always, never, or when it helps (default "auto"). */
  calibration: z.enum(["auto", "always", "never"]).optional(),
});

export type CbpeOptions = z.infer<typeof cbpeOptionsSchema>;

export interface Bounds {
  readonly lower: number | null;
  readonly upper: number | null;
}

/** A fitted estimator: what a reference profile stores for CBPE. */
export interface CbpeModel {
  readonly threshold: number;
  readonly calibrated: boolean;
  readonly calibrator: { readonly x: number[]; readonly y: number[] } | null;
  readonly accuracyStd: number;
  readonly aurocStd: number;
  readonly aurocFraction: number;
  readonly thresholds: { readonly accuracy: Bounds; readonly roc_auc: Bounds };
  readonly reference: { readonly rows: number; readonly accuracy: number; readonly roc_auc: number | null };
}

export interface Estimate {
  readonly value: number;
  readonly samplingError: number;
  readonly lower: number;
  readonly upper: number;
  readonly alert: boolean;
  readonly thresholds: Bounds;
}

export interface CbpeEstimate {
  readonly rows: number;
  readonly accuracy: Estimate;
  /** Undefined when the expected positives or negatives are zero. */
  readonly roc_auc?: Estimate;
  readonly confusion: { readonly tp: number; readonly fp: number; readonly fn: number; readonly tn: number };
}

/** A small seeded generator (mulberry32), so splits are the same on every fit. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(items: number[], next: () => number): number[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j] as number, a[i] as number];
  }
  return a;
}

function std(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i] as number;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += ((values[i] as number) - mean) ** 2;
  return Math.sqrt(ss / n);
}

/** Expected calibration error over `bins` equal-count bins of the rows sorted by probability. */
export function expectedCalibrationError(yTrue: ArrayLike<number>, proba: ArrayLike<number>, bins = 10): number {
  const n = proba.length;
  let count = bins;
  if (n <= 2 * count) count = Math.floor(n / 2);
  if (count < 2) throw new RangeError(`expectedCalibrationError: ${n} rows cannot be split into 2 bins`);
  const order = argsort(Float64Array.from({ length: n }, (_, i) => proba[i] as number));
  // NannyML's edges: 0, w, 2w, … up to n, the last one moved to n (so a remainder joins the last bin).
  const width = Math.floor(n / count);
  const edges: number[] = [];
  for (let e = 0; e <= n; e += width) edges.push(e);
  edges[edges.length - 1] = n;
  let ece = 0;
  for (let b = 0; b + 1 < edges.length; b++) {
    const from = edges[b] as number;
    const to = edges[b + 1] as number;
    let p = 0;
    let t = 0;
    for (let k = from; k < to; k++) {
      p += proba[order[k] as number] as number;
      t += yTrue[order[k] as number] as number;
    }
    const m = to - from;
    ece += (m / n) * Math.abs(p / m - t / m);
  }
  return ece;
}

/** NannyML's test: does isotonic calibration lower the expected calibration error on held-out splits? */
export function needsCalibration(yTrue: ArrayLike<number>, proba: ArrayLike<number>, splits = 10, testShare = 0.1, seed = 42): boolean {
  const n = yTrue.length;
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < n; i++) ((yTrue[i] as number) === 1 ? pos : neg).push(i);
  if (pos.length === 0 || neg.length === 0) return false;
  if (rocAuc(yTrue, proba) > 0.999) return false;
  const next = rng(seed);
  const testPos = Math.max(1, Math.round(pos.length * testShare));
  const testNeg = Math.max(1, Math.round(neg.length * testShare));
  if (testPos >= pos.length || testNeg >= neg.length) return false;
  // Sorted once: each split's training rows, taken in this order, are already sorted.
  const order = argsort(Float64Array.from({ length: n }, (_, i) => proba[i] as number));
  const inTest = new Uint8Array(n);
  const yt: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let s = 0; s < splits; s++) {
    const test = [...shuffled(pos, next).slice(0, testPos), ...shuffled(neg, next).slice(0, testNeg)];
    inTest.fill(0);
    for (const i of test) inTest[i] = 1;
    const trainX = new Float64Array(n - test.length);
    const trainY = new Float64Array(n - test.length);
    let k = 0;
    for (const i of order) {
      if (inTest[i] === 1) continue;
      trainX[k] = proba[i] as number;
      trainY[k] = yTrue[i] as number;
      k++;
    }
    const fit = fitIsotonicSorted(trainX, trainY);
    for (const i of test) {
      yt.push(yTrue[i] as number);
      before.push(proba[i] as number);
      after.push(predictIsotonic(fit, proba[i] as number));
    }
  }
  if (yt.length < 4) return false;
  return expectedCalibrationError(yt, before) > expectedCalibrationError(yt, after);
}

/** NannyML's AUROC sampling-error components: the spread of the positives' Mann–Whitney terms and the positive share. */
export function aurocSamplingComponents(yTrue: ArrayLike<number>, proba: ArrayLike<number>): { std: number; fraction: number } {
  const n = yTrue.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i] as number;
  mean /= n;
  const flip = mean > 0.5;
  const y = Array.from({ length: n }, (_, i) => (flip ? 1 - (yTrue[i] as number) : (yTrue[i] as number)));
  const p = Array.from({ length: n }, (_, i) => (flip ? 1 - (proba[i] as number) : (proba[i] as number)));
  const order = argsort(Float64Array.from(p));
  // For the k-th positive (by score) at rank r > 0: r − k, the negatives ranked below it, as a
  // share of all negatives. Like NannyML, a positive at rank 0 is left out and not counted in k.
  const nPos = y.reduce((a, b) => a + b, 0);
  const nNeg = n - nPos;
  const terms: number[] = [];
  let k = 0;
  order.forEach((i, rank) => {
    if (y[i] === 1 && rank > 0) {
      terms.push((rank - k) / nNeg);
      k++;
    }
  });
  return { std: std(terms), fraction: nPos / n };
}

/** NannyML's estimate of ROC AUC from calibrated probabilities, ranked by the uncalibrated scores. */
export function estimateRocAuc(calibrated: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = calibrated.length;
  // Descending score order; rows with equal scores have equal calibrated values, so their order does not matter.
  const ascending = argsort(Float64Array.from({ length: n }, (_, i) => scores[i] as number));
  const round5 = (v: number) => Math.round(v * 1e5) / 1e5;
  const tps = new Float64Array(n + 1);
  const fps = new Float64Array(n + 1);
  let tp = 0;
  for (let k = 0; k < n; k++) {
    tp += calibrated[ascending[n - 1 - k] as number] as number;
    tps[k + 1] = round5(tp);
    fps[k + 1] = round5(k + 1 - tp);
  }
  const tMax = tps[n] as number;
  const fMax = fps[n] as number;
  if (!(tMax > 0) || !(fMax > 0)) return Number.NaN;
  let area = 0;
  for (let k = 1; k <= n; k++) {
    const dx = ((fps[k] as number) - (fps[k - 1] as number)) / fMax;
    area += (dx * ((tps[k] as number) + (tps[k - 1] as number))) / tMax / 2;
  }
  return area;
}

function boundsOf(values: number[]): Bounds {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { lower: null, upper: null };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const s = std(v);
  return { lower: Math.max(0, mean - THRESHOLD_STD_MULTIPLIER * s), upper: Math.min(1, mean + THRESHOLD_STD_MULTIPLIER * s) };
}

function accuracyOf(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, from = 0, to = yTrue.length): number {
  let c = 0;
  for (let i = from; i < to; i++) if (yTrue[i] === yPred[i]) c++;
  return to > from ? c / (to - from) : Number.NaN;
}

function aucOrNaN(yTrue: ArrayLike<number>, proba: ArrayLike<number>): number {
  try {
    return rocAuc(yTrue, proba);
  } catch {
    return Number.NaN;
  }
}

/** Predicted labels from probabilities at `threshold`. */
export function labelsAt(proba: ArrayLike<number>, threshold: number): Uint8Array {
  const out = new Uint8Array(proba.length);
  for (let i = 0; i < proba.length; i++) out[i] = (proba[i] as number) >= threshold ? 1 : 0;
  return out;
}

/**
 * Fits CBPE on reference rows: labels (0/1), positive-class probabilities and, when the model
 * logs them, its predicted labels (else `proba ≥ threshold`).
 */
export function fitCbpe(yTrue: ArrayLike<number>, proba: ArrayLike<number>, yPred?: ArrayLike<number>, options: CbpeOptions = {}): CbpeModel {
  const n = yTrue.length;
  if (n === 0 || proba.length !== n) throw new RangeError(`fitCbpe: ${n} labels and ${proba.length} probabilities; both must be the same, non-zero length`);
  for (let i = 0; i < n; i++) {
    if (yTrue[i] !== 0 && yTrue[i] !== 1) throw new RangeError(`fitCbpe: label ${i} is ${String(yTrue[i])}; expected 0 or 1`);
    if (!((proba[i] as number) >= 0 && (proba[i] as number) <= 1)) throw new RangeError(`fitCbpe: probability ${i} is ${String(proba[i])}; expected a number in [0, 1]`);
  }
  const threshold = options.threshold ?? 0.5;
  const pred = yPred ?? labelsAt(proba, threshold);
  const mode = options.calibration ?? "auto";
  const calibrate = mode === "always" || (mode === "auto" && needsCalibration(yTrue, proba));
  let calibrator: IsotonicFit | undefined;
  if (calibrate) calibrator = fitIsotonic(proba, yTrue);
  const correct = Array.from({ length: n }, (_, i) => (yTrue[i] === pred[i] ? 1 : 0));
  const auroc = aurocSamplingComponents(yTrue, proba);
  const chunks = Math.min(options.chunks ?? DEFAULT_CHUNKS, n);
  const accs: number[] = [];
  const aucs: number[] = [];
  for (let c = 0; c < chunks; c++) {
    const from = Math.floor((c * n) / chunks);
    const to = Math.floor(((c + 1) * n) / chunks);
    accs.push(accuracyOf(yTrue, pred, from, to));
    aucs.push(aucOrNaN(Array.prototype.slice.call(yTrue, from, to) as number[], Array.prototype.slice.call(proba, from, to) as number[]));
  }
  const refAuc = aucOrNaN(yTrue, proba);
  return {
    threshold,
    calibrated: calibrate,
    calibrator: calibrator === undefined ? null : { x: Array.from(calibrator.x), y: Array.from(calibrator.y) },
    accuracyStd: std(correct),
    aurocStd: auroc.std,
    aurocFraction: auroc.fraction,
    thresholds: { accuracy: boundsOf(accs), roc_auc: boundsOf(aucs) },
    reference: { rows: n, accuracy: accuracyOf(yTrue, pred), roc_auc: Number.isFinite(refAuc) ? refAuc : null },
  };
}

function estimate(value: number, se: number, thresholds: Bounds): Estimate {
  const band = SAMPLING_ERROR_RANGE * se;
  const alert = (thresholds.lower !== null && value < thresholds.lower) || (thresholds.upper !== null && value > thresholds.upper);
  return {
    value,
    samplingError: se,
    lower: Math.max(0, value - band),
    upper: Math.min(1, value + band),
    alert,
    thresholds,
  };
}

/** Estimates a window's performance from its positive-class probabilities (and predicted labels, when logged). */
export function estimateCbpe(model: CbpeModel, proba: ArrayLike<number>, yPred?: ArrayLike<number>): CbpeEstimate | undefined {
  const idx: number[] = [];
  for (let i = 0; i < proba.length; i++) if ((proba[i] as number) >= 0 && (proba[i] as number) <= 1) idx.push(i);
  const n = idx.length;
  if (n === 0) return undefined;
  const scores = Float64Array.from(idx, (i) => proba[i] as number);
  const pred = Uint8Array.from(idx, (i) => (yPred === undefined ? ((proba[i] as number) >= model.threshold ? 1 : 0) : (yPred[i] as number)));
  const p = model.calibrator === null ? scores : calibrateAll({ x: Float64Array.from(model.calibrator.x), y: Float64Array.from(model.calibrator.y) }, scores);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let k = 0; k < n; k++) {
    const pk = p[k] as number;
    if (pred[k] === 1) {
      tp += pk;
      fp += 1 - pk;
    } else {
      fn += pk;
      tn += 1 - pk;
    }
  }
  const accuracy = estimate((tp + tn) / n, model.accuracyStd / Math.sqrt(n), model.thresholds.accuracy);
  const auc = estimateRocAuc(p, scores);
  const aucSe = model.aurocStd / Math.sqrt(n * model.aurocFraction);
  return {
    rows: n,
    accuracy,
    ...(Number.isFinite(auc) ? { roc_auc: estimate(auc, aucSe, model.thresholds.roc_auc) } : {}),
    confusion: { tp, fp, fn, tn },
  };
}
