/**
 * Two-sample Kolmogorov–Smirnov test, two-sided, with SciPy's `ks_2samp(method="auto")`
 * p-value: exact (lattice-path counting) when both samples have at most 10,000 values,
 * otherwise the distribution of the one-sample statistic at n = round(n1·n2/(n1+n2)).
 */
import { compareEcdf, type EcdfComparison } from "./ecdf.js";
import { kolmogorovSf } from "./kolmogorov.js";
import { ks2SampleExactSf, roundHalfEven } from "./ks-two-sample.js";
import { toSample, type SortedSample } from "./sample.js";

/** Largest sample size for which `method: "auto"` computes the exact p-value (SciPy's MAX_AUTO_N). */
export const KS_MAX_AUTO_N = 10_000;

export type KsMethod = "auto" | "exact" | "asymp";

export interface KsResult {
  /** sup |F₁ − F₂|; with the exact method, snapped to the lattice h / lcm(n1, n2) as SciPy does. */
  readonly statistic: number;
  readonly pvalue: number;
  /** The method that produced the p-value. */
  readonly method: "exact" | "asymp";
}

/** KS test from an ECDF comparison of samples of sizes n1 and n2 (both > 0). */
export function ksFromComparison(n1: number, n2: number, cmp: EcdfComparison, method: KsMethod = "auto"): KsResult {
  let d = cmp.minDiff > cmp.maxDiff ? Math.min(1, cmp.minDiff) : cmp.maxDiff;
  let mode: "exact" | "asymp";
  if (method === "auto") mode = Math.max(n1, n2) <= KS_MAX_AUTO_N ? "exact" : "asymp";
  else mode = method;
  if (mode === "exact") {
    const g = gcd(n1, n2);
    if (n1 / g >= 2147483647 / (n2 / g)) mode = "asymp";
  }
  if (mode === "exact") {
    const exact = ks2SampleExactSf(n1, n2, d);
    d = exact.d;
    if (exact.ok) return { statistic: d, pvalue: clip01(exact.p), method: "exact" };
    // Otherwise SciPy falls back to the asymptotic distribution, as below.
  }
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const en = (m * n) / (m + n);
  return { statistic: d, pvalue: clip01(kolmogorovSf(roundHalfEven(en), d)), method: "asymp" };
}

/** Two-sided two-sample KS test on sorted samples. */
export function ks2sampSorted(a: SortedSample, b: SortedSample, method: KsMethod = "auto"): KsResult {
  if (a.n === 0 || b.n === 0) throw new RangeError("ks2samp: both samples must contain at least one finite value");
  return ksFromComparison(a.n, b.n, compareEcdf(a, b), method);
}

/** Two-sided two-sample KS test; NaN and ±Infinity are dropped first. */
export function ks2samp(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = "auto"): KsResult {
  return ks2sampSorted(toSample(a), toSample(b), method);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function clip01(p: number): number {
  return Math.min(1, Math.max(0, p));
}
