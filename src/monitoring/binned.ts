/**
 * Turns a reference/current column pair into the counts the binned and categorical tests need.
 *
 * Binned measures (PSI, KL, Jensen–Shannon, Hellinger, total variation) on a numerical column
 * with more than 20 distinct reference values use bins (Evidently's rule); otherwise, and for
 * categorical columns, each distinct value is its own bin. The bins are either
 *
 * - `sturges` (default, Evidently): equal-width bins over the pooled range, Sturges' count for
 *   the pooled size, or exactly `nBins` bins when given; or
 * - `quantile` (NannyML-style): bins at the reference's quantiles i/nBins (10 by default), fitted
 *   on the reference alone, with open outer bins so current values beyond the reference range
 *   are counted in the end bins.
 *
 * Chi-square and the z-test always compare per distinct value.
 */
import { binCounts, equalWidthEdges, quantileEdges, sturgesEdges } from "../stats/binning.js";
import type { PreparedColumn, PreparedNumeric } from "./dataset.js";
import { valueCounts } from "./dataset.js";

export type BinningScheme = "sturges" | "quantile";

/** Default number of reference-quantile bins. */
export const DEFAULT_QUANTILE_BINS = 10;

/** Evidently bins a numerical column only above this many distinct reference values. */
export const PER_VALUE_MAX_DISTINCT = 20;

/** Two columns as counts over the same bins or categories. */
export interface BinnedPair {
  /** One label per bin: a category, a value, or an interval. */
  readonly labels: string[];
  /** Bin edges when the bins are intervals. */
  readonly edges?: Float64Array;
  readonly reference: Float64Array;
  readonly current: Float64Array;
  /** Observations the shares divide by (finite or non-missing values). */
  readonly referenceTotal: number;
  readonly currentTotal: number;
  /** True when the reference counts come from a quantile sketch rather than the data. */
  readonly approximate: boolean;
}

/** Formats a number compactly for a bin or category label. */
export function formatValue(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return String(Number(v.toPrecision(6)));
}

function intervalLabels(edges: Float64Array): string[] {
  const labels: string[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const close = i + 2 === edges.length ? "]" : ")";
    labels.push(`[${formatValue(edges[i] as number)}, ${formatValue(edges[i + 1] as number)}${close}`);
  }
  return labels;
}

/** Counts per distinct value or category over the union of both columns, keys sorted. */
export function categoryPair(ref: PreparedColumn, cur: PreparedColumn): BinnedPair {
  if (ref.kind === "numerical" && cur.kind === "numerical") {
    const r = valueCounts(ref);
    const c = valueCounts(cur);
    const keys = [...new Set([...r.keys(), ...c.keys()])].sort((a, b) => a - b);
    return {
      labels: keys.map(formatValue),
      reference: Float64Array.from(keys, (k) => r.get(k) ?? 0),
      current: Float64Array.from(keys, (k) => c.get(k) ?? 0),
      referenceTotal: ref.sample.n,
      currentTotal: cur.sample.n,
      approximate: !ref.exact || !cur.exact,
    };
  }
  if (ref.kind === "categorical" && cur.kind === "categorical") {
    const keys = [...new Set([...ref.counts.keys(), ...cur.counts.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const total = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    return {
      labels: keys,
      reference: Float64Array.from(keys, (k) => ref.counts.get(k) ?? 0),
      current: Float64Array.from(keys, (k) => cur.counts.get(k) ?? 0),
      referenceTotal: total(ref.counts),
      currentTotal: total(cur.counts),
      approximate: false,
    };
  }
  throw new RangeError("categoryPair: the columns are of different kinds");
}

/** Bin edges for a numerical pair under a scheme. */
export function numericEdges(ref: PreparedNumeric, cur: PreparedNumeric, scheme: BinningScheme, nBins?: number): Float64Array {
  if (scheme === "quantile") {
    const k = nBins ?? DEFAULT_QUANTILE_BINS;
    return ref.quantileBins?.nBins === k ? ref.quantileBins.edges : quantileEdges(ref.sample, k);
  }
  const min = Math.min(ref.sample.values[0] as number, cur.sample.values[0] as number);
  const max = Math.max(ref.sample.values[ref.sample.values.length - 1] as number, cur.sample.values[cur.sample.values.length - 1] as number);
  return nBins === undefined ? sturgesEdges(min, max, ref.sample.n + cur.sample.n) : equalWidthEdges(min, max, nBins);
}

/** The counts a binned measure compares, under the chosen scheme. Both columns must be non-empty. */
export function binnedPair(ref: PreparedColumn, cur: PreparedColumn, scheme: BinningScheme, nBins?: number): BinnedPair {
  if (ref.kind === "numerical" && cur.kind === "numerical" && ref.distinct > PER_VALUE_MAX_DISTINCT) {
    const edges = numericEdges(ref, cur, scheme, nBins);
    const stored = scheme === "quantile" && ref.quantileBins !== undefined && ref.quantileBins.edges === edges;
    return {
      labels: intervalLabels(edges),
      edges,
      reference: stored ? ref.quantileBins!.counts : binCounts(ref.sample, edges),
      current: binCounts(cur.sample, edges),
      referenceTotal: ref.sample.n,
      currentTotal: cur.sample.n,
      approximate: (!ref.exact && !stored) || !cur.exact,
    };
  }
  return categoryPair(ref, cur);
}
