/**
 * Mid-ranks of two pooled sorted samples, walked tie group by tie group without building the
 * pooled array: what the Mann–Whitney U and two-sample Cramér–von Mises statistics need.
 */
import type { SortedSample } from "./sample.js";

/** One group of equal pooled values: how many come from each sample and their mid-rank. */
export interface TieGroup {
  readonly value: number;
  readonly countA: number;
  readonly countB: number;
  /** Observations before the group in the pooled order. */
  readonly before: number;
  /** The average of the 1-based ranks the group occupies: before + (countA + countB + 1) / 2. */
  readonly midrank: number;
}

/** Calls `visit` for each tie group of the pooled samples, in ascending order of value. */
export function forEachTieGroup(a: SortedSample, b: SortedSample, visit: (g: TieGroup) => void): void {
  const av = a.values;
  const bv = b.values;
  const ac = a.counts;
  const bc = b.counts;
  let i = 0;
  let j = 0;
  let before = 0;
  while (i < av.length || j < bv.length) {
    const va = i < av.length ? (av[i] as number) : Number.POSITIVE_INFINITY;
    const vb = j < bv.length ? (bv[j] as number) : Number.POSITIVE_INFINITY;
    const v = va < vb ? va : vb;
    let ca = 0;
    let cb = 0;
    while (i < av.length && av[i] === v) {
      ca += ac === undefined ? 1 : (ac[i] as number);
      i++;
    }
    while (j < bv.length && bv[j] === v) {
      cb += bc === undefined ? 1 : (bc[j] as number);
      j++;
    }
    visit({ value: v, countA: ca, countB: cb, before, midrank: before + (ca + cb + 1) / 2 });
    before += ca + cb;
  }
}
