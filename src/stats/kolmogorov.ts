/**
 * Distributions of Kolmogorov–Smirnov statistics, following the algorithms SciPy uses so the
 * p-values agree with it:
 *
 * - `smirnovSf(n, d)`: one-sided one-sample D⁺ₙ (scipy.special.smirnov), by the Birnbaum–Tingey
 *   sum, evaluated in logarithms (SciPy uses double-double arithmetic; both are accurate far
 *   below 1e-10 relative).
 * - `kolmogorovSf(n, d)`: two-sided one-sample Dₙ (scipy.stats.kstwo.sf), choosing between the
 *   Ruben–Gambino closed forms, 2·smirnov, the Durbin matrix (Marsaglia–Tsang–Wang), Pomeranz's
 *   recursion and the Pelz–Good expansion exactly where Simard & L'Ecuyer (2011) and SciPy do.
 *
 * The three ways of computing P(Dₙ ≤ x) that `kolmogn` chooses between are in kolmogorov-methods.ts;
 * the exact two-sample distribution is in ks-two-sample.ts.
 */

const EPS = 2.220446049250313e-16;
/** log(2^-1075): below this exp() is 0. */
const MINLOG = -745.1332191019412;

import { kolmogDurbin, kolmogPelzGood, kolmogPomeranz, logFactorialOverPower } from "./kolmogorov-methods.js";

/** Survival and distribution function at one point. */
export interface TailPair {
  sf: number;
  cdf: number;
}

/** Dekker's exact product: n·x = hi + lo. */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const split = 134217729; // 2^27 + 1
  const ca = split * a;
  const ahi = ca - (ca - a);
  const alo = a - ahi;
  const cb = split * b;
  const bhi = cb - (cb - b);
  const blo = b - bhi;
  const err = alo * blo - (((p - ahi * bhi) - alo * bhi) - ahi * blo);
  return [p, err];
}

/** floor(n·x) and the fractional part, computed exactly (SciPy's `modNX`). */
function floorNX(n: number, x: number): { nxFloor: number; alpha: number } {
  const [hi, lo] = twoProduct(n, x);
  let f = Math.floor(hi);
  let alpha = hi - f + lo;
  if (alpha < 0) {
    f -= 1;
    alpha += 1;
  }
  if (alpha >= 1) {
    f += 1;
    alpha -= 1;
  }
  return { nxFloor: f, alpha };
}

/**
 * One-sided one-sample Kolmogorov–Smirnov distribution: P(D⁺ₙ ≥ x) as `sf` and its complement.
 * Same branches as SciPy's `_smirnov`.
 */
export function smirnov(n: number, x: number): TailPair {
  if (!(n > 0 && x >= 0 && x <= 1)) return { sf: Number.NaN, cdf: Number.NaN };
  if (n === 1) return { sf: 1 - x, cdf: x };
  if (x === 0) return { sf: 1, cdf: 0 };
  if (x === 1) return { sf: 0, cdf: 1 };
  const { nxFloor: nxfl, alpha } = floorNX(n, x);
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  let n1mxceil = n - nxfl;
  if (alpha === 0) {
    n1mxfl -= 1;
    n1mxceil += 1;
  }
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) {
    const cdf = x * Math.pow(1 + x, n - 1);
    return { sf: 1 - cdf, cdf };
  }
  if (-2 * n * x * x < MINLOG) return { sf: 0, cdf: 1 };
  if (nxfl >= n - 1) {
    const sf = Math.pow(1 - x, n);
    return { sf, cdf: 1 - sf };
  }
  if (n > 1_000_000) {
    const logp = -Math.pow(6 * n * x + 1, 2) / 18 / n;
    if (logp < -Math.LN2) {
      const sf = Math.exp(logp);
      return { sf, cdf: 1 - sf };
    }
    const cdf = -Math.expm1(logp);
    return { sf: 1 - cdf, cdf };
  }
  const nUpperTerms = n - n1mxceil + 1;
  const upper = (nUpperTerms <= 1 && x < 0.5) || (n >= 10 && nUpperTerms <= 3 && x <= 0.5 / Math.sqrt(n));
  const start = upper ? n : 0;
  const step = upper ? -1 : 1;
  const nTerms = upper ? n - n1mxceil + 1 : n1mxfl + 1;
  const vmid = Math.floor(n / 2);
  // A_v = C(n, v) (x + v/n)^(v−1) (1 − x − v/n)^(n−v); the binomial index runs with j.
  // ln C(n, j) accumulated with Neumaier compensation: over ~10^5 steps a plain sum drifts ~1e-9.
  let logC = 0;
  let logCComp = 0;
  let sum = 0;
  for (let j = 0; j < nTerms; j++) {
    const v = start + j * step;
    const t1x = v / n + x;
    const t2x = (n - v) / n - x;
    let logA = logC + logCComp + (v - 1) * Math.log(t1x);
    // Above n(1 − x) the base 1 − x − v/n is negative: the upper sum alternates in sign.
    let sign = 1;
    if (n - v > 0) {
      // log1p keeps the n-fold power accurate when x + v/n is small.
      logA += (n - v) * (t1x < 0.5 ? Math.log1p(-t1x) : Math.log(Math.abs(t2x)));
      if (t2x < 0 && (n - v) % 2 === 1) sign = -1;
    }
    const a = sign * Math.exp(logA);
    if (Number.isFinite(a) && a !== 0) sum += a;
    if (j > 0) {
      if (a !== 0) {
        if (4 * (nTerms - j) * Math.abs(a) < EPS * sum && j !== nTerms - 1) break;
      } else if (j > vmid) break;
    }
    const inc = Math.log((n - j) / (j + 1));
    const t = logC + inc;
    logCComp += Math.abs(logC) >= Math.abs(inc) ? logC - t + inc : inc - t + logC;
    logC = t;
  }
  const prob = x * sum;
  const p = Math.min(1, Math.max(0, prob));
  return upper ? { sf: Math.min(1, Math.max(0, 1 - prob)), cdf: p } : { sf: p, cdf: Math.min(1, Math.max(0, 1 - prob)) };
}

/** scipy.special.smirnov(n, d): P(D⁺ₙ ≥ d). */
export function smirnovSf(n: number, d: number): number {
  return smirnov(n, d).sf;
}

function clip01(p: number): number {
  return Math.min(1, Math.max(0, p));
}

function pick(cdfProb: number, sfProb: number, cdf: boolean): number {
  return clip01(cdf ? cdfProb : sfProb);
}

/** Two-sided one-sample KS distribution at (n, x): P(Dₙ ≤ x) when `cdf`, else P(Dₙ > x). */
export function kolmogn(n: number, x: number, cdf: boolean): number {
  if (Number.isNaN(n) || Number.isNaN(x)) return Number.NaN;
  if (!Number.isInteger(n) || n <= 0) return Number.NaN;
  if (x >= 1) return pick(1, 0, cdf);
  if (x <= 0) return pick(0, 1, cdf);
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return pick(0, 1, cdf);
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return pick(prob, 1 - prob, cdf);
  }
  if (t >= n - 1) {
    const prob = 2 * Math.pow(1 - x, n);
    return pick(1 - prob, prob, cdf);
  }
  if (x >= 0.5) {
    const prob = 2 * smirnovSf(n, x);
    return pick(1 - prob, prob, cdf);
  }
  const nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) {
      const prob = kolmogDurbin(n, x);
      return pick(prob, 1 - prob, cdf);
    }
    if (nxsquared <= 4) {
      const prob = kolmogPomeranz(n, x);
      return pick(prob, 1 - prob, cdf);
    }
    const prob = 2 * smirnovSf(n, x);
    return pick(1 - prob, prob, cdf);
  }
  if (!cdf) {
    if (nxsquared >= 370) return 0;
    if (nxsquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  }
  let cdfProb: number;
  if (nxsquared >= 18) cdfProb = 1;
  else if (n <= 100_000 && n * Math.pow(x, 1.5) <= 1.4) cdfProb = kolmogDurbin(n, x);
  else cdfProb = kolmogPelzGood(n, x);
  return pick(cdfProb, 1 - cdfProb, cdf);
}

/** scipy.stats.kstwo.sf(d, n): P(Dₙ ≥ d) for the two-sided one-sample statistic. */
export function kolmogorovSf(n: number, d: number): number {
  if (!Number.isInteger(n) || n < 1 || Number.isNaN(d)) return Number.NaN;
  if (d <= 0.5 / n) return 1;
  if (d >= 1) return 0;
  return kolmogn(n, d, false);
}
