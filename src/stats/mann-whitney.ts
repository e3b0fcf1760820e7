/**
 * Mann–Whitney U test, two-sided by default, as scipy.stats.mannwhitneyu(method="auto",
 * use_continuity=True): the exact null distribution (Löffler's recursion) when either sample
 * has at most 8 values and there are no ties, otherwise the normal approximation with the tie
 * correction and the continuity correction.
 *
 * Deviation: SciPy's exact recursion costs O(U²); when min(n1,n2)·max(n1,n2)/2 exceeds 50,000
 * (a tiny sample against a huge one) this implementation uses the normal approximation instead
 * of running for minutes, and reports `method: "asymptotic"`.
 */
import { forEachTieGroup } from "./ranks.js";
import { toSample, type SortedSample } from "./sample.js";
import { normalSf } from "./special.js";

export type Alternative = "two-sided" | "less" | "greater";

export interface MannWhitneyResult {
  /** U statistic of the first sample. */
  readonly statistic: number;
  readonly pvalue: number;
  readonly method: "exact" | "asymptotic";
}

const EXACT_MAX_U = 50_000;

/** Mann–Whitney U test of sorted samples x and y. */
export function mannWhitneyUSorted(
  x: SortedSample,
  y: SortedSample,
  alternative: Alternative = "two-sided",
  useContinuity = true,
): MannWhitneyResult {
  const n1 = x.n;
  const n2 = y.n;
  if (n1 === 0 || n2 === 0) throw new RangeError("mannWhitneyU: both samples must contain at least one finite value");
  let r1 = 0;
  let tieTerm = 0;
  let ties = false;
  forEachTieGroup(x, y, (g) => {
    r1 += g.countA * g.midrank;
    const t = g.countA + g.countB;
    if (t > 1) ties = true;
    tieTerm += t * t * t - t;
  });
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  let u: number;
  let f: number;
  if (alternative === "greater") [u, f] = [u1, 1];
  else if (alternative === "less") [u, f] = [u2, 1];
  else [u, f] = [Math.max(u1, u2), 2];
  const exact = !(n1 > 8 && n2 > 8) && !ties && n1 * n2 - u <= EXACT_MAX_U;
  let p: number;
  if (exact) p = exactSf(Math.min(n1, n2), Math.max(n1, n2), u);
  else {
    const mu = (n1 * n2) / 2;
    const n = n1 + n2;
    const s = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
    let num = u - mu;
    if (useContinuity) num -= 0.5;
    p = normalSf(num / s);
  }
  p *= f;
  return { statistic: u1, pvalue: Math.min(1, Math.max(0, p)), method: exact ? "exact" : "asymptotic" };
}

/** Mann–Whitney U test; NaN and ±Infinity are dropped first. */
export function mannWhitneyU(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  alternative: Alternative = "two-sided",
  useContinuity = true,
): MannWhitneyResult {
  return mannWhitneyUSorted(toSample(x), toSample(y), alternative, useContinuity);
}

/** P(U ≥ k) under the null for sizes n1 ≤ n2 (SciPy's `_MWU.sf`). */
function exactSf(n1: number, n2: number, k: number): number {
  let kc = n1 * n2 - k;
  const pmf = (maxu: number): Float64Array => uFrequencies(n1, n2, maxu);
  if (k < kc) {
    kc = k;
    const p = pmf(kc);
    let cdf = 0;
    for (let i = 0; i <= kc; i++) cdf += p[i] as number;
    return 1 - cdf + (p[kc] as number);
  }
  const p = pmf(kc);
  let cdf = 0;
  for (let i = 0; i <= kc; i++) cdf += p[i] as number;
  return cdf;
}

/** Probabilities of U = 0..maxu for sizes n1 ≤ n2 (Löffler's recursion, as SciPy). */
function uFrequencies(n1: number, n2: number, maxu: number): Float64Array {
  let total = 1;
  for (let i = 1; i <= n1; i++) total = (total * (n2 + i)) / i;
  const s = new Float64Array(maxu + 1);
  for (let d = 1; d <= n1; d++) for (let i = d; i <= maxu; i += d) s[i] = (s[i] as number) + d;
  for (let d = n2 + 1; d <= n2 + n1; d++) for (let i = d; i <= maxu; i += d) s[i] = (s[i] as number) - d;
  const conf = new Float64Array(maxu + 1);
  conf[0] = 1;
  // SciPy keeps the counts in uint64 (truncating each new value) until they outgrow it.
  let integral = true;
  for (let u = 1; u <= maxu; u++) {
    let dot = 0;
    for (let i = 0; i < u; i++) dot += (conf[i] as number) * (s[u - i] as number);
    let val = dot / u;
    if (integral && val > 2 ** 64) integral = false;
    if (integral) val = Math.trunc(val);
    conf[u] = val;
  }
  for (let u = 0; u <= maxu; u++) conf[u] = (conf[u] as number) / total;
  return conf;
}
