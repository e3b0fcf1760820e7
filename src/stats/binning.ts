/**
 * Bin edges and bin counts for the binned drift measures (PSI, KL, Jensen–Shannon, Hellinger,
 * total variation), reproducing NumPy exactly so binned values match Evidently's:
 *
 * - `sturgesEdges`: numpy.histogram_bin_edges(pooled, bins="sturges") — equal-width bins over
 *   the pooled (reference + current) range, ceil(ptp / (ptp / (log2 n + 1))) of them; a constant
 *   sample gets one bin [v − 0.5, v + 0.5]. This is Evidently's default binning.
 * - `equalWidthEdges`: numpy.histogram_bin_edges(pooled, bins=nBins), for an explicit `nBins`
 *   (Evidently ignores its own n_bins, issue #1400; here it is honoured).
 * - `quantileEdges`: bins fitted on the reference alone (the NannyML way): the reference's
 *   quantiles at i/nBins (NumPy's default "linear" quantile), duplicates merged, with open outer
 *   bins (−∞, q₁) and [q_{k−1}, +∞) so current values outside the reference range still count.
 *
 * `binCounts` follows numpy.histogram for explicit edges: bin i holds edges[i] ≤ x < edges[i+1],
 * the last bin also holds x = edges[last]; values outside the edges are not counted.
 */
import { cumulativeCounts, rankOf, type SortedSample } from "./sample.js";

/** numpy.linspace(start, stop, num) (endpoint included). */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  const delta = stop - start;
  if (div > 0) {
    const step = delta / div;
    if (step === 0) for (let i = 0; i < num; i++) out[i] = (i / div) * delta + start;
    else for (let i = 0; i < num; i++) out[i] = i * step + start;
  } else if (num === 1) out[0] = start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

function outerEdges(min: number, max: number): [number, number] {
  return min === max ? [min - 0.5, max + 0.5] : [min, max];
}

/** numpy.histogram_bin_edges(x, bins="sturges") for data of size n spanning [min, max]. */
export function sturgesEdges(min: number, max: number, n: number): Float64Array {
  const [first, last] = outerEdges(min, max);
  const width = (max - min) / (Math.log2(n) + 1);
  const bins = width !== 0 ? Math.ceil((last - first) / width) : 1;
  return linspace(first, last, bins + 1);
}

/** numpy.histogram_bin_edges(x, bins=nBins) for data spanning [min, max]. */
export function equalWidthEdges(min: number, max: number, nBins: number): Float64Array {
  if (!Number.isInteger(nBins) || nBins < 1) throw new RangeError(`nBins must be a positive integer, got ${nBins}`);
  const [first, last] = outerEdges(min, max);
  return linspace(first, last, nBins + 1);
}

/** The observation at 0-based rank k of a (possibly run-length encoded) sorted sample. */
export function orderStatistic(s: SortedSample, k: number, cumulative?: Float64Array): number {
  if (s.counts === undefined) return s.values[k] as number;
  const cum = cumulative ?? cumulativeCounts(s);
  // First distinct value whose cumulative count exceeds k.
  let lo = 0;
  let hi = s.values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cum[mid + 1] as number) > k) hi = mid;
    else lo = mid + 1;
  }
  return s.values[lo] as number;
}

/** numpy.quantile(x, q) with the default "linear" method, on a sorted sample. */
export function quantile(s: SortedSample, q: number, cumulative?: Float64Array): number {
  const n = s.n;
  if (n === 0) return Number.NaN;
  const cum = s.counts === undefined ? undefined : (cumulative ?? cumulativeCounts(s));
  const vi = (n - 1) * q;
  if (vi >= n - 1) return orderStatistic(s, n - 1, cum);
  const prev = Math.floor(vi);
  const a = orderStatistic(s, prev, cum);
  const b = orderStatistic(s, prev + 1, cum);
  const t = vi - prev;
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * Reference-quantile edges for `nBins` bins: [−∞, q(1/k), …, q((k−1)/k), +∞] with repeated
 * quantiles merged (ties in the reference can leave fewer bins than asked for).
 */
export function quantileEdges(reference: SortedSample, nBins: number): Float64Array {
  if (!Number.isInteger(nBins) || nBins < 1) throw new RangeError(`nBins must be a positive integer, got ${nBins}`);
  const cum = reference.counts === undefined ? undefined : cumulativeCounts(reference);
  const step = 1 / nBins; // numpy.linspace(0, 1, k + 1) = i · (1/k)
  const inner: number[] = [];
  for (let i = 1; i < nBins; i++) {
    const e = quantile(reference, i * step, cum);
    if (inner.length === 0 || e > (inner[inner.length - 1] as number)) inner.push(e);
  }
  return Float64Array.from([Number.NEGATIVE_INFINITY, ...inner, Number.POSITIVE_INFINITY]);
}

/** numpy.histogram(x, bins=edges)[0] for a sorted sample. */
export function binCounts(s: SortedSample, edges: Float64Array): Float64Array {
  const cum = s.counts === undefined ? undefined : cumulativeCounts(s);
  const k = edges.length - 1;
  const counts = new Float64Array(Math.max(k, 0));
  let prev = rankOf(s, edges[0] as number, "left", cum);
  for (let i = 1; i <= k; i++) {
    const r = rankOf(s, edges[i] as number, i === k ? "right" : "left", cum);
    counts[i - 1] = r - prev;
    prev = r;
  }
  return counts;
}
