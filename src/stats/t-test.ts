/**
 * Welch's two-sample t-test (unequal variances), two-sided, as
 * scipy.stats.ttest_ind(a, b, equal_var=False): t = (mean₁ − mean₂)/√(v₁/n₁ + v₂/n₂) with
 * sample variances (ddof 1), Welch–Satterthwaite degrees of freedom (1 when undefined, as SciPy
 * sets them), and p = 2·P(T_df > |t|). A sample of one value has an undefined variance: the
 * result is NaN, as in SciPy.
 */
import { meanVar, toSample, type SortedSample } from "./sample.js";
import { studentTSf } from "./special.js";

export interface WelchResult {
  readonly statistic: number;
  readonly pvalue: number;
  readonly df: number;
}

/** Welch's t-test of two samples (sorted or not does not matter; counts are honoured). */
export function welchTTestSamples(a: SortedSample, b: SortedSample): WelchResult {
  if (a.n === 0 || b.n === 0) return { statistic: Number.NaN, pvalue: Number.NaN, df: Number.NaN };
  const sa = meanVar(a);
  const sb = meanVar(b);
  const v1 = sa.variance * (a.n / (a.n - 1));
  const v2 = sb.variance * (b.n / (b.n - 1));
  const vn1 = v1 / a.n;
  const vn2 = v2 / b.n;
  let df = (vn1 + vn2) ** 2 / (vn1 ** 2 / (a.n - 1) + vn2 ** 2 / (b.n - 1));
  if (Number.isNaN(df)) df = 1;
  const denom = Math.sqrt(vn1 + vn2);
  const t = (sa.mean - sb.mean) / denom;
  const p = 2 * studentTSf(Math.abs(t), df);
  return { statistic: t, pvalue: p, df };
}

/** Welch's t-test; NaN and ±Infinity are dropped first. */
export function welchTTest(a: ArrayLike<number>, b: ArrayLike<number>): WelchResult {
  return welchTTestSamples(toSample(a), toSample(b));
}
