/**
 * Isotonic (non-decreasing) regression as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`
 * fits and predicts it, the calibrator NannyML's CBPE uses: observations with the same x are
 * merged into their weighted mean, the pool-adjacent-violators algorithm fits a non-decreasing
 * step sequence to the means (weighted by how many observations each stands for), and a score is
 * mapped by linear interpolation between the fitted points, clipped to the fitted x range.
 */

export interface IsotonicFit {
  /** Distinct x values, ascending. */
  readonly x: Float64Array;
  /** The fitted (non-decreasing) value at each x. */
  readonly y: Float64Array;
}

/** Pool adjacent violators: the non-decreasing sequence closest to `y` in weighted least squares. */
export function pava(y: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const n = y.length;
  const value = new Float64Array(n);
  const weight = new Float64Array(n);
  const size = new Int32Array(n);
  let blocks = 0;
  for (let i = 0; i < n; i++) {
    value[blocks] = y[i] as number;
    weight[blocks] = w[i] as number;
    size[blocks] = 1;
    blocks++;
    while (blocks > 1 && (value[blocks - 2] as number) > (value[blocks - 1] as number)) {
      const a = blocks - 2;
      const b = blocks - 1;
      const wt = (weight[a] as number) + (weight[b] as number);
      value[a] = ((value[a] as number) * (weight[a] as number) + (value[b] as number) * (weight[b] as number)) / wt;
      weight[a] = wt;
      size[a] = (size[a] as number) + (size[b] as number);
      blocks--;
    }
  }
  const out = new Float64Array(n);
  let k = 0;
  for (let b = 0; b < blocks; b++) for (let j = 0; j < (size[b] as number); j++) out[k++] = value[b] as number;
  return out;
}

/** Fits y ≈ f(x) with f non-decreasing. Pairs with a non-finite x or y are ignored. */
export function fitIsotonic(x: ArrayLike<number>, y: ArrayLike<number>): IsotonicFit {
  if (x.length !== y.length) throw new RangeError(`fitIsotonic: ${x.length} x values but ${y.length} y values`);
  const keep = new Uint32Array(x.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && Number.isFinite(y[i])) keep[n++] = i;
  const xs = new Float64Array(n);
  for (let k = 0; k < n; k++) xs[k] = x[keep[k] as number] as number;
  const order = argsort(xs);
  const sx = new Float64Array(n);
  const sy = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const j = order[k] as number;
    sx[k] = xs[j] as number;
    sy[k] = y[keep[j] as number] as number;
  }
  return fitIsotonicSorted(sx, sy);
}

/**
 * Indices that sort finite `values` ascending, ties in index order. The values are sorted as a
 * typed array (no comparator), then each index is placed at its value's first position plus the
 * ties already placed: several times faster than sorting indices with a comparator.
 */
export function argsort(values: Float64Array): Uint32Array {
  const n = values.length;
  const sorted = values.slice().sort();
  const placed = new Uint32Array(n);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as number) < v) lo = mid + 1;
      else hi = mid;
    }
    order[lo + (placed[lo] as number)] = i;
    placed[lo] = (placed[lo] as number) + 1;
  }
  return order;
}

/** Fits pairs already in ascending order of x (all finite). */
export function fitIsotonicSorted(x: ArrayLike<number>, y: ArrayLike<number>): IsotonicFit {
  const n = x.length;
  if (n === 0) throw new RangeError("fitIsotonic: no finite (x, y) pairs");
  const ux = new Float64Array(n);
  const uy = new Float64Array(n);
  const uw = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    if (m > 0 && ux[m - 1] === xi) {
      uy[m - 1] = (uy[m - 1] as number) + (y[i] as number);
      uw[m - 1] = (uw[m - 1] as number) + 1;
    } else {
      ux[m] = xi;
      uy[m] = y[i] as number;
      uw[m] = 1;
      m++;
    }
  }
  for (let j = 0; j < m; j++) uy[j] = (uy[j] as number) / (uw[j] as number);
  return { x: ux.slice(0, m), y: pava(uy.subarray(0, m), uw.subarray(0, m)) };
}

/** The fitted function at `t`: linear between fitted points, clipped to the fitted range (NaN stays NaN). */
export function predictIsotonic(fit: IsotonicFit, t: number): number {
  const { x, y } = fit;
  const n = x.length;
  if (Number.isNaN(t)) return Number.NaN;
  if (t <= (x[0] as number)) return y[0] as number;
  if (t >= (x[n - 1] as number)) return y[n - 1] as number;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if ((x[mid] as number) <= t) lo = mid;
    else hi = mid;
  }
  const x0 = x[lo] as number;
  const x1 = x[hi] as number;
  const y0 = y[lo] as number;
  const y1 = y[hi] as number;
  return y0 + ((t - x0) * (y1 - y0)) / (x1 - x0);
}

/** Applies the fit to every score. */
export function calibrateAll(fit: IsotonicFit, scores: ArrayLike<number>): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = predictIsotonic(fit, scores[i] as number);
  return out;
}
