/**
 * Sorted samples: the one representation the two-sample tests share. A sample is sorted once
 * (radix sort on the float64 bits, `sort.ts`) and then reused by KS, Wasserstein, energy
 * distance, rank tests and binning.
 *
 * Non-finite values are dropped before a test: NaN (missing) and ±Infinity are removed and
 * counted, as Evidently does before its tests; SciPy would propagate NaN instead.
 *
 * A sample may be run-length encoded (`counts[i]` copies of `values[i]`), which is how a stored
 * reference profile keeps a large reference exact and compact; counts may also be fractional,
 * for an equal-mass quantile sketch that stands in for a reference too large to keep.
 */

import { sortFloat64 } from "./sort.js";

/** Values in ascending order, optionally with a count per value; `n` is the total count. */
export interface SortedSample {
  readonly values: Float64Array;
  /** Copies of each value; absent means one each. */
  readonly counts?: Float64Array | undefined;
  /** Total number of observations (the sum of counts). */
  readonly n: number;
}

/** What was dropped from a raw column before sorting it. */
export interface DroppedCounts {
  /** NaN values (missing). */
  readonly nan: number;
  /** +Infinity and −Infinity. */
  readonly infinite: number;
}

/** The finite values of `values`, sorted ascending, and how many NaN/infinite values were dropped. */
export function finiteSorted(values: ArrayLike<number>): { sorted: Float64Array; dropped: DroppedCounts } {
  const out = new Float64Array(values.length);
  let k = 0;
  let nan = 0;
  let infinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v - v === 0) out[k++] = v;
    else if (Number.isNaN(v)) nan++;
    else infinite++;
  }
  const sorted = k === out.length ? out : out.slice(0, k);
  sortFloat64(sorted);
  return { sorted, dropped: { nan, infinite } };
}

/** A SortedSample over already-sorted finite values (not copied, not checked). */
export function sampleOfSorted(sorted: Float64Array): SortedSample {
  return { values: sorted, n: sorted.length };
}

/** Sorts the finite values of `values` into a SortedSample. */
export function toSample(values: ArrayLike<number>): SortedSample {
  return sampleOfSorted(finiteSorted(values).sorted);
}

/** Run-length encodes a sorted array: distinct values and how often each occurs. */
export function runLengths(sorted: Float64Array): { values: Float64Array; counts: Float64Array } {
  let distinct = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct++;
  const values = new Float64Array(distinct);
  const counts = new Float64Array(distinct);
  let k = -1;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i] as number;
    if (k < 0 || v !== values[k]) values[++k] = v;
    counts[k] = (counts[k] as number) + 1;
  }
  return { values, counts };
}

/** Number of distinct values in a sample. */
export function distinctCount(s: SortedSample): number {
  if (s.counts !== undefined) return s.values.length;
  let d = 0;
  const v = s.values;
  for (let i = 0; i < v.length; i++) if (i === 0 || v[i] !== v[i - 1]) d++;
  return d;
}

/** Mean and population variance (ddof 0) of a sample; two passes. */
export function meanVar(s: SortedSample): { mean: number; variance: number } {
  const { values, counts, n } = s;
  if (n === 0) return { mean: Number.NaN, variance: Number.NaN };
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] as number) * (counts === undefined ? 1 : (counts[i] as number));
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    const d = (values[i] as number) - mean;
    ss += d * d * (counts === undefined ? 1 : (counts[i] as number));
  }
  return { mean, variance: ss / n };
}

/** Mean and population standard deviation (ddof 0, as numpy.std) of a sample. */
export function meanStd(s: SortedSample): { mean: number; std: number } {
  const { mean, variance } = meanVar(s);
  return { mean, std: Math.sqrt(variance) };
}

/** Smallest and largest value (NaN for an empty sample). */
export function sampleRange(s: SortedSample): { min: number; max: number } {
  if (s.values.length === 0) return { min: Number.NaN, max: Number.NaN };
  return { min: s.values[0] as number, max: s.values[s.values.length - 1] as number };
}

/**
 * Number of observations strictly below `x` (`side` "left") or at most `x` ("right"): NumPy's
 * `searchsorted` on the expanded sample.
 */
export function rankOf(s: SortedSample, x: number, side: "left" | "right", cumulative?: Float64Array): number {
  const v = s.values;
  let lo = 0;
  let hi = v.length;
  if (side === "left") {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((v[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
  } else {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((v[mid] as number) <= x) lo = mid + 1;
      else hi = mid;
    }
  }
  if (s.counts === undefined) return lo;
  const cum = cumulative ?? cumulativeCounts(s);
  return cum[lo] as number;
}

/** cum[i] = observations among the first i distinct values; length values.length + 1. */
export function cumulativeCounts(s: SortedSample): Float64Array {
  const cum = new Float64Array(s.values.length + 1);
  const c = s.counts;
  for (let i = 0; i < s.values.length; i++) cum[i + 1] = (cum[i] as number) + (c === undefined ? 1 : (c[i] as number));
  return cum;
}
