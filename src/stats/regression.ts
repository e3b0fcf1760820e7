/**
 * Regression metrics over numeric arrays, defined as scikit-learn defines them (single
 * output, uniform sample weights).
 */
import type { NumericArray } from "./classification.js";

/** Float64 machine epsilon (2^-52), the floor scikit-learn puts under |yTrue| in MAPE. */
const FLOAT64_EPS = Number.EPSILON;

function check(fn: string, yTrue: NumericArray, yPred: NumericArray): number {
  if (yTrue.length !== yPred.length) {
    throw new RangeError(`${fn}: yTrue has ${yTrue.length} values but yPred has ${yPred.length}`);
  }
  if (yTrue.length === 0) throw new RangeError(`${fn}: no samples`);
  return yTrue.length;
}

/** Mean absolute error: mean |y − ŷ|. */
export function meanAbsoluteError(yTrue: NumericArray, yPred: NumericArray): number {
  const n = check("meanAbsoluteError", yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.abs((yTrue[i] as number) - (yPred[i] as number));
  return sum / n;
}

/** Mean squared error: mean (y − ŷ)². */
export function meanSquaredError(yTrue: NumericArray, yPred: NumericArray): number {
  const n = check("meanSquaredError", yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = (yTrue[i] as number) - (yPred[i] as number);
    sum += d * d;
  }
  return sum / n;
}

/** Root mean squared error: √MSE. */
export function rootMeanSquaredError(yTrue: NumericArray, yPred: NumericArray): number {
  return Math.sqrt(meanSquaredError(yTrue, yPred));
}

/**
 * Mean absolute percentage error as a fraction (0.1 means 10 %): mean |y − ŷ| / max(|y|, ε)
 * with ε the float64 machine epsilon, as scikit-learn computes it. A true value of 0 therefore
 * gives a very large (but finite) term rather than Infinity.
 */
export function meanAbsolutePercentageError(yTrue: NumericArray, yPred: NumericArray): number {
  const n = check("meanAbsolutePercentageError", yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t = yTrue[i] as number;
    sum += Math.abs(t - (yPred[i] as number)) / Math.max(Math.abs(t), FLOAT64_EPS);
  }
  return sum / n;
}

/**
 * Coefficient of determination R² = 1 − SS_res / SS_tot. When yTrue is constant (SS_tot = 0)
 * the result is 1 for a perfect prediction and 0 otherwise, as scikit-learn's `r2_score`
 * (`force_finite=True`) reports.
 */
export function r2Score(yTrue: NumericArray, yPred: NumericArray): number {
  const n = check("r2Score", yTrue, yPred);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i] as number;
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    const t = yTrue[i] as number;
    const r = t - (yPred[i] as number);
    const d = t - mean;
    ssRes += r * r;
    ssTot += d * d;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}
