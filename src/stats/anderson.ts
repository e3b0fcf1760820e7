/**
 * k-sample Anderson–Darling test as scipy.stats.anderson_ksamp (Scholz & Stephens, 1987):
 * the normalised statistic of the chosen variant ("midrank", SciPy's default, for continuous and
 * discrete data; "right"; "continuous") and the p-value interpolated from the published
 * critical values by a quadratic least-squares fit of log(significance) on the critical values,
 * floored at 0.001 and capped at 0.25 like SciPy's.
 */
import { toSample, type SortedSample } from "./sample.js";

export type AndersonVariant = "midrank" | "right" | "continuous";

export interface AndersonResult {
  readonly statistic: number;
  readonly pvalue: number;
  /** Critical values for significance 25%, 10%, 5%, 2.5%, 1%, 0.5%, 0.1%. */
  readonly criticalValues: number[];
  /** "floored"/"capped" when the p-value hit the end of the table. */
  readonly pvalueBound: "floored" | "capped" | undefined;
}

const SIG = [0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001];
const B0 = [0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085];
const B1 = [-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615];
const B2 = [-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154];

/** k-sample Anderson–Darling test of sorted samples (at least two, none empty). */
export function andersonKSampleSorted(samples: SortedSample[], variant: AndersonVariant = "midrank"): AndersonResult {
  const k = samples.length;
  if (k < 2) throw new RangeError("andersonKSample needs at least two samples");
  if (samples.some((s) => s.n === 0)) throw new RangeError("andersonKSample encountered a sample without finite observations");
  const pooled = poolDistinct(samples);
  if (pooled.values.length < 2) throw new RangeError("andersonKSample needs more than one distinct observation");
  const n = samples.map((s) => s.n);
  const N = n.reduce((a, b) => a + b, 0);
  let A2kN: number;
  switch (variant) {
    case "midrank":
      A2kN = midrank(samples, pooled, n, N);
      break;
    case "right":
      A2kN = right(samples, pooled, n, N);
      break;
    case "continuous":
      A2kN = continuous(samples, pooled, n, N);
      break;
  }
  let H = 0;
  for (const ni of n) H += 1 / ni;
  // hs_cs = cumsum(1/(N−1), 1/(N−2), …, 1/2); h = hs_cs[-1] + 1; g = Σ hs_cs[i] / (i + 2).
  let cum = 0;
  let g = 0;
  for (let i = 0, j = N - 1; j > 1; i++, j--) {
    cum += 1 / j;
    g += cum / (i + 2);
  }
  const h = cum + 1;
  const a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * H;
  const b = (2 * g - 4) * k * k + 8 * h * k + (2 * g - 14 * h - 4) * H - 8 * h + 4 * g - 6;
  const c = (6 * h + 2 * g - 2) * k * k + (4 * h - 4 * g + 6) * k + (2 * h - 6) * H + 4 * h;
  const d = (2 * h + 6) * k * k - 4 * h * k;
  const sigmasq = (a * N ** 3 + b * N ** 2 + c * N + d) / ((N - 1) * (N - 2) * (N - 3));
  const m = k - 1;
  const A2 = (A2kN - m) / Math.sqrt(sigmasq);
  const critical = B0.map((b0, i) => b0 + (B1[i] as number) / Math.sqrt(m) + (B2[i] as number) / m);
  const cmin = Math.min(...critical);
  const cmax = Math.max(...critical);
  let p: number;
  let bound: "floored" | "capped" | undefined;
  if (A2 < cmin) {
    p = Math.max(...SIG);
    bound = "capped";
  } else if (A2 > cmax) {
    p = Math.min(...SIG);
    bound = "floored";
  } else {
    const coef = polyfit2(
      critical,
      SIG.map((s) => Math.log(s)),
    );
    p = Math.exp((coef[0] * A2 + coef[1]) * A2 + coef[2]);
  }
  return { statistic: A2, pvalue: p, criticalValues: critical, pvalueBound: bound };
}

/** k-sample Anderson–Darling test; NaN and ±Infinity are dropped from each sample first. */
export function andersonKSample(samples: ArrayLike<number>[], variant: AndersonVariant = "midrank"): AndersonResult {
  return andersonKSampleSorted(
    samples.map((s) => toSample(s)),
    variant,
  );
}

interface Pooled {
  /** Distinct pooled values, ascending. */
  values: Float64Array;
  /** Pooled observations equal to each. */
  counts: Float64Array;
  /** counts[i][j]: observations of sample i equal to values[j]. */
  perSample: Float64Array[];
}

function poolDistinct(samples: SortedSample[]): Pooled {
  const all = new Set<number>();
  for (const s of samples) for (const v of s.values) all.add(v);
  const values = Float64Array.from(all).sort();
  const index = new Map<number, number>();
  values.forEach((v, i) => index.set(v, i));
  const counts = new Float64Array(values.length);
  const perSample = samples.map((s) => {
    const c = new Float64Array(values.length);
    for (let i = 0; i < s.values.length; i++) {
      const j = index.get(s.values[i] as number) as number;
      const w = s.counts === undefined ? 1 : (s.counts[i] as number);
      c[j] = (c[j] as number) + w;
      counts[j] = (counts[j] as number) + w;
    }
    return c;
  });
  return { values, counts, perSample };
}

/** A2akN, equation 7 of Scholz & Stephens (mid-rank EDF). */
function midrank(samples: SortedSample[], p: Pooled, n: number[], N: number): number {
  const L = p.values.length;
  const allDistinct = N === L;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const f = p.perSample[i] as Float64Array;
    const ni = n[i] as number;
    let inner = 0;
    let below = 0; // pooled observations < z*_j
    let mij = 0; // sample observations <= z*_j
    for (let j = 0; j < L; j++) {
      const lj = allDistinct ? 1 : (p.counts[j] as number);
      const fij = f[j] as number;
      mij += fij;
      const Bj = below + lj / 2;
      const Mij = mij - fij / 2;
      const diff = N * Mij - Bj * ni;
      inner += ((lj / N) * diff * diff) / (Bj * (N - Bj) - (N * lj) / 4);
      below += p.counts[j] as number;
    }
    total += inner / ni;
  }
  return (total * (N - 1)) / N;
}

/** A2kN, equation 6 of Scholz & Stephens (right-continuous EDF). */
function right(samples: SortedSample[], p: Pooled, n: number[], N: number): number {
  const L = p.values.length;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const f = p.perSample[i] as Float64Array;
    const ni = n[i] as number;
    let inner = 0;
    let Bj = 0;
    let Mij = 0;
    for (let j = 0; j < L - 1; j++) {
      const lj = p.counts[j] as number;
      Bj += lj;
      Mij += f[j] as number;
      const diff = N * Mij - Bj * ni;
      inner += ((lj / N) * diff * diff) / (Bj * (N - Bj));
    }
    total += inner / ni;
  }
  return total;
}

/** A2kN, equation 3 of Scholz & Stephens (continuous data, no ties). */
function continuous(samples: SortedSample[], p: Pooled, n: number[], N: number): number {
  const L = p.values.length;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const f = p.perSample[i] as Float64Array;
    const ni = n[i] as number;
    let inner = 0;
    let pos = 0; // 1-based index j of Z[j−1] in the pooled sorted sample
    let Mij = 0;
    for (let v = 0; v < L; v++) {
      Mij += f[v] as number;
      const lv = p.counts[v] as number;
      for (let r = 0; r < lv; r++) {
        pos++;
        if (pos > N - 1) break;
        const diff = N * Mij - pos * ni;
        inner += (diff * diff) / (pos * (N - pos));
      }
    }
    total += inner / ni;
  }
  return total / N;
}

/** Least-squares quadratic through (x, y) (numpy.polyfit(x, y, 2)); coefficients highest first. */
function polyfit2(x: number[], y: number[]): [number, number, number] {
  // Columns x², x, 1 scaled to unit norm as NumPy does, solved by Householder QR.
  const rows = x.length;
  const cols = 3;
  const A: number[][] = x.map((xi) => [xi * xi, xi, 1]);
  const scale = [0, 1, 2].map((c) => Math.sqrt(A.reduce((s, r) => s + (r[c] as number) ** 2, 0)));
  for (const r of A) for (let c = 0; c < cols; c++) r[c] = (r[c] as number) / (scale[c] as number);
  const b = y.slice();
  for (let c = 0; c < cols; c++) {
    let norm = 0;
    for (let r = c; r < rows; r++) norm += (A[r]![c] as number) ** 2;
    norm = Math.sqrt(norm);
    const alpha = (A[c]![c] as number) > 0 ? -norm : norm;
    const v = new Array<number>(rows).fill(0);
    for (let r = c; r < rows; r++) v[r] = A[r]![c] as number;
    v[c] = (v[c] as number) - alpha;
    let vnorm2 = 0;
    for (let r = c; r < rows; r++) vnorm2 += (v[r] as number) ** 2;
    if (vnorm2 === 0) continue;
    for (let cc = c; cc < cols; cc++) {
      let dot = 0;
      for (let r = c; r < rows; r++) dot += (v[r] as number) * (A[r]![cc] as number);
      const f = (2 * dot) / vnorm2;
      for (let r = c; r < rows; r++) A[r]![cc] = (A[r]![cc] as number) - f * (v[r] as number);
    }
    let dot = 0;
    for (let r = c; r < rows; r++) dot += (v[r] as number) * (b[r] as number);
    const f = (2 * dot) / vnorm2;
    for (let r = c; r < rows; r++) b[r] = (b[r] as number) - f * (v[r] as number);
  }
  const coef = [0, 0, 0];
  for (let c = cols - 1; c >= 0; c--) {
    let s = b[c] as number;
    for (let cc = c + 1; cc < cols; cc++) s -= (A[c]![cc] as number) * (coef[cc] as number);
    coef[c] = s / (A[c]![c] as number);
  }
  return [(coef[0] as number) / (scale[0] as number), (coef[1] as number) / (scale[1] as number), (coef[2] as number) / (scale[2] as number)];
}
