/**
 * One merge over two sorted samples that yields everything the ECDF-based statistics need: the
 * largest positive and negative gap between the two empirical CDFs (Kolmogorov–Smirnov) and the
 * integrals of |F₁ − F₂| and (F₁ − F₂)² (Wasserstein-1 and energy distance). The CDFs are
 * evaluated as `i / n1 − j / n2` at every distinct pooled value, the same expression SciPy
 * evaluates with `searchsorted(..., side="right") / n`, so the statistics agree bit for bit
 * up to the order of summation.
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

function comparePlain(a: Float64Array, b: Float64Array): EcdfComparison {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let maxD = 0;
  let minD = 0;
  let l1 = 0;
  let l2 = 0;
  let prev = 0;
  let prevDiff = 0;
  let first = true;
  while (i < n1 || j < n2) {
    const va = i < n1 ? (a[i] as number) : Number.POSITIVE_INFINITY;
    const vb = j < n2 ? (b[j] as number) : Number.POSITIVE_INFINITY;
    const v = va < vb ? va : vb;
    if (!first) {
      const dx = v - prev;
      l1 += Math.abs(prevDiff) * dx;
      l2 += prevDiff * prevDiff * dx;
    }
    first = false;
    while (i < n1 && a[i] === v) i++;
    while (j < n2 && b[j] === v) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxD) maxD = diff;
    if (diff < minD) minD = diff;
    prev = v;
    prevDiff = diff;
  }
  return { maxDiff: maxD, minDiff: -minD, l1, l2 };
}

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
  let maxD = 0;
  let minD = 0;
  let l1 = 0;
  let l2 = 0;
  let prev = 0;
  let prevDiff = 0;
  let first = true;
  while (i < av.length || j < bv.length) {
    const va = i < av.length ? (av[i] as number) : Number.POSITIVE_INFINITY;
    const vb = j < bv.length ? (bv[j] as number) : Number.POSITIVE_INFINITY;
    const v = va < vb ? va : vb;
    if (!first) {
      const dx = v - prev;
      l1 += Math.abs(prevDiff) * dx;
      l2 += prevDiff * prevDiff * dx;
    }
    first = false;
    while (i < av.length && av[i] === v) {
      ci += ac === undefined ? 1 : (ac[i] as number);
      i++;
    }
    while (j < bv.length && bv[j] === v) {
      cj += bc === undefined ? 1 : (bc[j] as number);
      j++;
    }
    const diff = ci / n1 - cj / n2;
    if (diff > maxD) maxD = diff;
    if (diff < minD) minD = diff;
    prev = v;
    prevDiff = diff;
  }
  return { maxDiff: maxD, minDiff: -minD, l1, l2 };
}
