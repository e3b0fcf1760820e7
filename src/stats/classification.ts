/**
 * Binary classification metrics over numeric arrays (typed arrays or plain arrays).
 *
 * Labels are 0 (negative) and 1 (positive); any other label value is rejected. The
 * definitions follow scikit-learn's defaults: precision/recall/F1 are those of the positive
 * class and are 0 when their denominator is 0 (`zero_division` 0), ROC AUC equals
 * `roc_auc_score` including tied scores, and log loss clips probabilities to [eps, 1 − eps].
 */

/** Any indexable sequence of numbers: `Float64Array`, `Uint8Array`, `number[]`, … */
export type NumericArray = ArrayLike<number>;

/** Counts of a binary confusion matrix; scikit-learn's matrix is [[tn, fp], [fn, tp]]. */
export interface ConfusionMatrix {
  readonly tn: number;
  readonly fp: number;
  readonly fn: number;
  readonly tp: number;
}

function checkPair(fn: string, a: NumericArray, b: NumericArray, bName: string): void {
  if (a.length !== b.length) {
    throw new RangeError(`${fn}: yTrue has ${a.length} values but ${bName} has ${b.length}`);
  }
  if (a.length === 0) throw new RangeError(`${fn}: no samples`);
}

function label(fn: string, what: string, y: NumericArray, i: number): 0 | 1 {
  const v = y[i];
  if (v === 0 || v === 1) return v;
  throw new RangeError(`${fn}: ${what}[${i}] is ${String(v)}; binary labels must be 0 or 1`);
}

/** The binary confusion matrix of labels `yTrue` against predicted labels `yPred`. */
export function confusionMatrix(yTrue: NumericArray, yPred: NumericArray): ConfusionMatrix {
  checkPair("confusionMatrix", yTrue, yPred, "yPred");
  let tn = 0;
  let fp = 0;
  let fn = 0;
  let tp = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = label("confusionMatrix", "yTrue", yTrue, i);
    const p = label("confusionMatrix", "yPred", yPred, i);
    if (t === 1) {
      if (p === 1) tp++;
      else fn++;
    } else if (p === 1) fp++;
    else tn++;
  }
  return { tn, fp, fn, tp };
}

/** Fraction of predictions equal to the true label. */
export function accuracy(yTrue: NumericArray, yPred: NumericArray): number {
  const { tn, fp, fn, tp } = confusionMatrix(yTrue, yPred);
  return (tp + tn) / (tn + fp + fn + tp);
}

/** tp / (tp + fp) for the positive class 1; 0 when nothing is predicted positive. */
export function precision(yTrue: NumericArray, yPred: NumericArray): number {
  return precisionOf(confusionMatrix(yTrue, yPred));
}

/** tp / (tp + fn) for the positive class 1; 0 when there are no positive samples. */
export function recall(yTrue: NumericArray, yPred: NumericArray): number {
  return recallOf(confusionMatrix(yTrue, yPred));
}

/** Harmonic mean of precision and recall, 2tp / (2tp + fp + fn); 0 when that is 0/0. */
export function f1Score(yTrue: NumericArray, yPred: NumericArray): number {
  return f1Of(confusionMatrix(yTrue, yPred));
}

function precisionOf(m: ConfusionMatrix): number {
  const d = m.tp + m.fp;
  return d === 0 ? 0 : m.tp / d;
}

function recallOf(m: ConfusionMatrix): number {
  const d = m.tp + m.fn;
  return d === 0 ? 0 : m.tp / d;
}

function f1Of(m: ConfusionMatrix): number {
  const d = 2 * m.tp + m.fp + m.fn;
  return d === 0 ? 0 : (2 * m.tp) / d;
}

/**
 * Area under the ROC curve of scores `yScore` (higher means more likely positive) for labels
 * `yTrue`, computed from ranks (Mann–Whitney U): tied scores share their average rank, which
 * gives exactly the trapezoidal area scikit-learn's `roc_auc_score` reports. Throws when
 * `yTrue` contains only one class, where the AUC is undefined.
 */
export function rocAuc(yTrue: NumericArray, yScore: NumericArray): number {
  checkPair("rocAuc", yTrue, yScore, "yScore");
  const n = yTrue.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) {
    nPos += label("rocAuc", "yTrue", yTrue, i);
    if (Number.isNaN(yScore[i])) throw new RangeError(`rocAuc: yScore[${i}] is NaN`);
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) {
    throw new RangeError(
      "rocAuc: only one class is present in yTrue; ROC AUC is undefined",
    );
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => {
    const sa = yScore[a] as number;
    const sb = yScore[b] as number;
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  });

  // Sum of (1-based, tie-averaged) ranks of the positive samples.
  let positiveRankSum = 0;
  let start = 0;
  while (start < n) {
    const s = yScore[order[start] as number] as number;
    let end = start + 1;
    while (end < n && yScore[order[end] as number] === s) end++;
    let positivesInGroup = 0;
    for (let k = start; k < end; k++) positivesInGroup += yTrue[order[k] as number] as number;
    const averageRank = (start + 1 + end) / 2;
    positiveRankSum += positivesInGroup * averageRank;
    start = end;
  }
  const u = positiveRankSum - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}

/** Default clipping for {@link logLoss}, as in scikit-learn before 1.5 (`eps=1e-15`). */
export const LOG_LOSS_EPS = 1e-15;

/**
 * Mean binary cross-entropy of labels `yTrue` given predicted probabilities of class 1
 * `yProba`, each probability clipped to [eps, 1 − eps] first (natural logarithm).
 */
export function logLoss(yTrue: NumericArray, yProba: NumericArray, eps = LOG_LOSS_EPS): number {
  checkPair("logLoss", yTrue, yProba, "yProba");
  if (!(eps >= 0 && eps < 0.5)) {
    throw new RangeError(`logLoss: eps must be in [0, 0.5), got ${eps}`);
  }
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = label("logLoss", "yTrue", yTrue, i);
    const raw = yProba[i] as number;
    if (!(raw >= 0 && raw <= 1)) {
      throw new RangeError(`logLoss: yProba[${i}] is ${raw}; probabilities must be in [0, 1]`);
    }
    const p = Math.min(Math.max(raw, eps), 1 - eps);
    sum -= t === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / yTrue.length;
}

/** Turn probabilities (or scores) into 0/1 labels: 1 where the value is ≥ `threshold`. */
export function thresholdLabels(yProba: NumericArray, threshold = 0.5): Float64Array {
  const out = new Float64Array(yProba.length);
  for (let i = 0; i < yProba.length; i++) out[i] = (yProba[i] as number) >= threshold ? 1 : 0;
  return out;
}

/** All binary metrics for predicted probabilities, labels taken at `threshold`. */
export interface BinaryClassificationReport {
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly rocAuc: number;
  readonly logLoss: number;
  readonly confusion: ConfusionMatrix;
}

/**
 * Every metric of this module for labels `yTrue` and probabilities of class 1 `yProba`.
 * Predicted labels are `yProba >= threshold`. Throws if `yTrue` has a single class (ROC AUC).
 */
export function binaryClassificationReport(
  yTrue: NumericArray,
  yProba: NumericArray,
  threshold = 0.5,
): BinaryClassificationReport {
  const confusion = confusionMatrix(yTrue, thresholdLabels(yProba, threshold));
  const { tn, fp, fn, tp } = confusion;
  return {
    accuracy: (tp + tn) / (tn + fp + fn + tp),
    precision: precisionOf(confusion),
    recall: recallOf(confusion),
    f1: f1Of(confusion),
    rocAuc: rocAuc(yTrue, yProba),
    logLoss: logLoss(yTrue, yProba),
    confusion,
  };
}
