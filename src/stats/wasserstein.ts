/**
 * Distances between the empirical CDFs of two samples, as scipy.stats computes them:
 * Wasserstein-1 (`wasserstein_distance`, ∫|F₁ − F₂|), energy distance (`energy_distance`,
 * √2 · √∫(F₁ − F₂)²), and Evidently's normed Wasserstein: the distance divided by the
 * reference's population standard deviation, floored at 0.001.
 */
import { compareEcdf, type EcdfComparison } from "./ecdf.js";
import { meanStd, toSample, type SortedSample } from "./sample.js";

/** Evidently's floor on the reference standard deviation in the normed Wasserstein distance. */
export const WASSERSTEIN_NORM_FLOOR = 0.001;

/** Wasserstein-1 distance from an ECDF comparison. */
export function wassersteinFromComparison(cmp: EcdfComparison): number {
  return cmp.l1;
}

/** Energy distance from an ECDF comparison. */
export function energyFromComparison(cmp: EcdfComparison): number {
  return Math.SQRT2 * Math.sqrt(cmp.l2);
}

/** Divides a Wasserstein distance by max(referenceStd, 0.001). */
export function normWasserstein(distance: number, referenceStd: number): number {
  return distance / Math.max(referenceStd, WASSERSTEIN_NORM_FLOOR);
}

/** scipy.stats.wasserstein_distance of two sorted samples. */
export function wassersteinSorted(u: SortedSample, v: SortedSample): number {
  return compareEcdf(u, v).l1;
}

/** scipy.stats.energy_distance of two sorted samples. */
export function energySorted(u: SortedSample, v: SortedSample): number {
  return energyFromComparison(compareEcdf(u, v));
}

/** Wasserstein-1 distance; NaN and ±Infinity are dropped first. */
export function wassersteinDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  return wassersteinSorted(nonEmpty(u, "wassersteinDistance"), nonEmpty(v, "wassersteinDistance"));
}

/** Energy distance; NaN and ±Infinity are dropped first. */
export function energyDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  return energySorted(nonEmpty(u, "energyDistance"), nonEmpty(v, "energyDistance"));
}

/** Evidently's normed Wasserstein distance of current against reference (finite values only). */
export function normedWassersteinDistance(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  const r = nonEmpty(reference, "normedWassersteinDistance");
  const c = nonEmpty(current, "normedWassersteinDistance");
  return normWasserstein(wassersteinSorted(r, c), meanStd(r).std);
}

function nonEmpty(values: ArrayLike<number>, fn: string): SortedSample {
  const s = toSample(values);
  if (s.n === 0) throw new RangeError(`${fn}: a distribution has no finite values`);
  return s;
}
