/**
 * Distances between two discrete distributions given as bin (or category) shares, reference
 * first: PSI, Kullback–Leibler divergence, Jensen–Shannon distance, Hellinger distance and total
 * variation distance, with the formulas Evidently applies to binned data (SciPy's `entropy` and
 * `jensenshannon` where Evidently calls them).
 *
 * PSI and KL divide by bin shares, so Evidently replaces empty bins first (`fillZeroShares`):
 * a zero share becomes 0.0001, or the smallest non-zero share ÷ 10⁶ when that is at most 0.0001.
 * Jensen–Shannon, Hellinger and total variation use the shares as they are.
 */

/** SciPy's rel_entr(x, y): x·ln(x/y), 0 when x = 0 and y ≥ 0, +∞ otherwise. */
function relEntr(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Number.POSITIVE_INFINITY;
}

function checkPair(fn: string, p: ArrayLike<number>, q: ArrayLike<number>): void {
  if (p.length !== q.length) throw new RangeError(`${fn}: the distributions have ${p.length} and ${q.length} bins`);
  if (p.length === 0) throw new RangeError(`${fn}: no bins`);
}

/** Evidently's replacement of empty shares (its `feel_zeroes`), returning a new array. */
export function fillZeroShares(shares: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(shares);
  let minNonZero = Number.POSITIVE_INFINITY;
  for (const v of out) if (v !== 0 && v < minNonZero) minNonZero = v;
  if (minNonZero === Number.POSITIVE_INFINITY) return out;
  const fill = minNonZero <= 0.0001 ? minNonZero / 10 ** 6 : 0.0001;
  for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = fill;
  return out;
}

/** Shares from counts: counts[i] / total. */
export function sharesOf(counts: ArrayLike<number>, total: number): Float64Array {
  const out = new Float64Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = (counts[i] as number) / total;
  return out;
}

/** Population stability index Σ (p − q) ln(p / q) of shares with no zeros (fill them first). */
export function psi(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  checkPair("psi", reference, current);
  let s = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = reference[i] as number;
    const q = current[i] as number;
    s += (p - q) * Math.log(p / q);
  }
  return s;
}

/** Kullback–Leibler divergence D(p ‖ q), natural log, after normalising both (scipy.stats.entropy). */
export function klDivergence(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  checkPair("klDivergence", reference, current);
  const sp = sum(reference);
  const sq = sum(current);
  let s = 0;
  for (let i = 0; i < reference.length; i++) s += relEntr((reference[i] as number) / sp, (current[i] as number) / sq);
  return s;
}

/** Jensen–Shannon distance (scipy.spatial.distance.jensenshannon), natural log unless `base` is given. */
export function jensenShannon(reference: ArrayLike<number>, current: ArrayLike<number>, base?: number): number {
  checkPair("jensenShannon", reference, current);
  const sp = sum(reference);
  const sq = sum(current);
  let left = 0;
  let right = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = (reference[i] as number) / sp;
    const q = (current[i] as number) / sq;
    const m = (p + q) / 2;
    left += relEntr(p, m);
    right += relEntr(q, m);
  }
  let js = left + right;
  if (base !== undefined) js /= Math.log(base);
  return Math.sqrt(js / 2);
}

/** Hellinger distance √(1 − Σ √(p q)) with the affinity clipped to [0, 1] (Evidently's formula). */
export function hellinger(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  checkPair("hellinger", reference, current);
  let bc = 0;
  for (let i = 0; i < reference.length; i++) bc += Math.sqrt((reference[i] as number) * (current[i] as number));
  return Math.sqrt(1 - Math.min(1, Math.max(0, bc)));
}

/** Total variation distance ½ Σ |p − q| after normalising both. */
export function totalVariation(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  checkPair("totalVariation", reference, current);
  const sp = sum(reference);
  const sq = sum(current);
  let s = 0;
  for (let i = 0; i < reference.length; i++) s += Math.abs((reference[i] as number) / sp - (current[i] as number) / sq);
  return 0.5 * s;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  return s;
}
