/**
 * Two-sample Cramér–von Mises test as scipy.stats.cramervonmises_2samp(method="auto"): the
 * statistic T of Anderson (1962) from mid-ranks; the exact p-value (Xiao, Gordon & Yakovlev's
 * enumeration) when both samples have at most 20 values, otherwise the limiting distribution
 * of the normalised statistic (Csörgő & Faraway's series with K_{1/4}).
 */
import { forEachTieGroup } from "./ranks.js";
import { toSample, type SortedSample } from "./sample.js";
import { besselKScaled, lgamma } from "./special.js";

export interface CramerVonMisesResult {
  readonly statistic: number;
  readonly pvalue: number;
  readonly method: "exact" | "asymptotic";
}

/** Two-sample Cramér–von Mises test of sorted samples; NaN when either has fewer than two values. */
export function cramerVonMises2SampleSorted(
  x: SortedSample,
  y: SortedSample,
  method: "auto" | "exact" | "asymptotic" = "auto",
): CramerVonMisesResult {
  const nx = x.n;
  const ny = y.n;
  const mode = method === "auto" ? (Math.max(nx, ny) > 20 ? "asymptotic" : "exact") : method;
  // SciPy answers NaN (with a warning) when a sample has fewer than two observations.
  if (nx <= 1 || ny <= 1) return { statistic: Number.NaN, pvalue: Number.NaN, method: mode };
  // U = nx Σ (r(x_i) − i)² + ny Σ (r(y_j) − j)², ranks pooled with mid-ranks for ties.
  let sx = 0;
  let sy = 0;
  let ix = 0;
  let iy = 0;
  forEachTieGroup(x, y, (g) => {
    for (let c = 0; c < g.countA; c++) {
      const d = g.midrank - ++ix;
      sx += d * d;
    }
    for (let c = 0; c < g.countB; c++) {
      const d = g.midrank - ++iy;
      sy += d * d;
    }
  });
  const u = nx * sx + ny * sy;
  const k = nx * ny;
  const N = nx + ny;
  const t = u / (k * N) - (4 * k - 1) / (6 * N);
  const pvalue = mode === "exact" ? exactPValue(u, nx, ny) : asymptoticPValue(t, N, nx, ny, k);
  return { statistic: t, pvalue, method: mode };
}

/** Two-sample Cramér–von Mises test; NaN and ±Infinity are dropped first. */
export function cramerVonMises2Sample(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  method: "auto" | "exact" | "asymptotic" = "auto",
): CramerVonMisesResult {
  return cramerVonMises2SampleSorted(toSample(x), toSample(y), method);
}

/** CDF of the limiting one-sample Cramér–von Mises distribution (SciPy's `_cdf_cvm_inf`). */
export function cvmLimitCdf(x: number): number {
  let tot = 0;
  for (let k = 0; ; k++) {
    const u = Math.exp(lgamma(k + 0.5) - lgamma(k + 1)) / (Math.PI ** 1.5 * Math.sqrt(x));
    const y = 4 * k + 1;
    const q = (y * y) / (16 * x);
    // e^(−q) K_{1/4}(q) = e^(−2q) · (e^q K_{1/4}(q)).
    const z = u * Math.sqrt(y) * Math.exp(-2 * q) * besselKScaled(0.25, q);
    tot += z;
    if (!(Math.abs(z) >= 1e-7)) break;
  }
  return tot;
}

function asymptoticPValue(t: number, N: number, nx: number, ny: number, k: number): number {
  const et = (1 + 1 / N) / 6;
  let vt = (N + 1) * (4 * k * N - 3 * (nx * nx + ny * ny) - 2 * k);
  vt = vt / (45 * N * N * 4 * k);
  const tn = 1 / 6 + (t - et) / Math.sqrt(45 * vt);
  if (!(tn >= 0.003)) return 1;
  return Math.max(0, 1 - cvmLimitCdf(tn));
}

/** Python's float floor division a // b. */
function floorDiv(a: number, b: number): number {
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) div -= 1;
  let floordiv: number;
  if (div !== 0) {
    floordiv = Math.floor(div);
    if (div - floordiv > 0.5) floordiv += 1;
  } else floordiv = 0 * (a / b);
  return floordiv;
}

function lcmOf(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

/** Exact p-value P(U ≥ s) by enumeration (SciPy's `_pval_cvm_2samp_exact`); m, n ≤ 20 or so. */
function exactPValue(s: number, m: number, n: number): number {
  const lcm = lcmOf(m, n);
  const a = lcm / m;
  const b = lcm / n;
  const mn = m * n;
  const zeta = floorDiv(lcm * lcm * (m + n) * (6 * s - mn * (4 * mn - 1)), 6 * mn * mn);
  let combinations = 1;
  for (let i = 1; i <= m; i++) combinations = (combinations * (n + i)) / i;
  combinations = Math.round(combinations);
  // gs[v]: frequency table (value → count) of g⁺_{u,v}.
  let gs: Map<number, number>[] = [new Map([[0, 1]])];
  for (let v = 1; v <= m; v++) gs.push(new Map());
  for (let u = 0; u <= n; u++) {
    const next: Map<number, number>[] = [];
    let tmp = new Map<number, number>();
    for (let v = 0; v <= m; v++) {
      const merged = new Map(tmp);
      for (const [val, freq] of gs[v] as Map<number, number>) merged.set(val, (merged.get(val) ?? 0) + freq);
      const res = (a * v - b * u) ** 2;
      tmp = new Map();
      for (const [val, freq] of merged) tmp.set(val + res, freq);
      next.push(tmp);
    }
    gs = next;
  }
  let count = 0;
  for (const [val, freq] of gs[m] as Map<number, number>) if (val >= zeta) count += freq;
  return count / combinations;
}
