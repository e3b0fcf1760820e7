/**
 * One merge over two sorted samples that yields everything the ECDF-based statistics need: the
 * largest positive and negative gap between the two empirical CDFs (Kolmogorov–Smirnov) and the
 * integrals of |F₁ − F₂| and (F₁ − F₂)² (Wasserstein-1 and energy distance), the CDFs evaluated
 * at every distinct pooled value. The extreme gaps are reported as `i / n1 − j / n2`, the
 * expression SciPy evaluates with `searchsorted(..., side="right") / n`.
 */
import type { SortedSample } from "./sample.js";

export interface EcdfComparison {
  /** max over pooled values of F₁ − F₂ (≥ 0). */
  readonly maxDiff: number;
  /** −min over pooled values of F₁ − F₂ (≥ 0). */
  readonly minDiff: number;
  /** ∫ |F₁ − F₂| dx. */
  readonly l1: number;
  /** ∫ (F₁ − F₂)² dx. */
  readonly l2: number;
}

/** Compares the ECDFs of two non-empty sorted samples in one pass. */
export function compareEcdf(a: SortedSample, b: SortedSample): EcdfComparison {
  if (a.n === 0 || b.n === 0) throw new RangeError("compareEcdf: both samples must be non-empty");
  if (a.counts === undefined && b.counts === undefined) return comparePlain(a.values, b.values);
  return compareWeighted(a, b);
}

/**
 * The merge on plain samples. The gap n1·n2·(F₁ − F₂) = i·n2 − j·n1 is tracked exactly in
 * integers (no division per step); the extreme gaps are turned into `i/n1 − j/n2` at the end, as
 * SciPy evaluates them, and the integrals are divided by n1·n2 once.
 */
function comparePlain(a: Float64Array, b: Float64Array): EcdfComparison {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let va = a[0] as number;
  let vb = b[0] as number;
  let maxK = 0;
  let maxI = 0;
  let maxJ = 0;
  let minK = 0;
  let minI = 0;
  let minJ = 0;
  let s1 = 0;
  let s2 = 0;
  let prevK = 0;
  let prev = va < vb ? va : vb;
  while (i < n1 || j < n2) {
    const v = va < vb ? va : vb;
    const dx = v - prev;
    s1 += (prevK < 0 ? -prevK : prevK) * dx;
    s2 += prevK * prevK * dx;
    while (va === v) va = ++i < n1 ? (a[i] as number) : Number.POSITIVE_INFINITY;
    while (vb === v) vb = ++j < n2 ? (b[j] as number) : Number.POSITIVE_INFINITY;
    const k = i * n2 - j * n1;
    if (k > maxK) {
      maxK = k;
      maxI = i;
      maxJ = j;
    } else if (k < minK) {
      minK = k;
      minI = i;
      minJ = j;
    }
    prevK = k;
    prev = v;
  }
  const scale = n1 * n2;
  return {
    maxDiff: maxK > 0 ? maxI / n1 - maxJ / n2 : 0,
    minDiff: minK < 0 ? -(minI / n1 - minJ / n2) : 0,
    l1: s1 / scale,
    l2: s2 / scale / scale,
  };
}

/** The same merge with counts per value (a run-length encoded or sketched sample). */
function compareWeighted(a: SortedSample, b: SortedSample): EcdfComparison {
  const av = a.values;
  const bv = b.values;
  const ac = a.counts;
  const bc = b.counts;
  const n1 = a.n;
  const n2 = b.n;
  let i = 0;
  let j = 0;
  let ci = 0;
  let cj = 0;
  let maxK = 0;
  let maxI = 0;
  let maxJ = 0;
  let minK = 0;
  let minI = 0;
  let minJ = 0;
  let s1 = 0;
  let s2 = 0;
  let prevK = 0;
  let prev = Math.min(av[0] as number, bv[0] as number);
  while (i < av.length || j < bv.length) {
    const va = i < av.length ? (av[i] as number) : Number.POSITIVE_INFINITY;
    const vb = j < bv.length ? (bv[j] as number) : Number.POSITIVE_INFINITY;
    const v = va < vb ? va : vb;
    const dx = v - prev;
    s1 += Math.abs(prevK) * dx;
    s2 += prevK * prevK * dx;
    while (i < av.length && av[i] === v) {
      ci += ac === undefined ? 1 : (ac[i] as number);
      i++;
    }
    while (j < bv.length && bv[j] === v) {
      cj += bc === undefined ? 1 : (bc[j] as number);
      j++;
    }
    const k = ci * n2 - cj * n1;
    if (k > maxK) {
      maxK = k;
      maxI = ci;
      maxJ = cj;
    } else if (k < minK) {
      minK = k;
      minI = ci;
      minJ = cj;
    }
    prevK = k;
    prev = v;
  }
  const scale = n1 * n2;
  return {
    maxDiff: maxK > 0 ? maxI / n1 - maxJ / n2 : 0,
    minDiff: minK < 0 ? -(minI / n1 - minJ / n2) : 0,
    l1: s1 / scale,
    l2: s2 / scale / scale,
  };
}
