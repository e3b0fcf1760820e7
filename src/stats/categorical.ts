/**
 * Tests on category counts: Pearson's chi-square goodness of fit (scipy.stats.chisquare), the
 * chi-square test of independence on a contingency table (scipy.stats.chi2_contingency, with
 * Yates' correction when there is one degree of freedom), and the two-proportion z-test Evidently
 * uses for binary columns.
 */
import { chi2Sf, normalSf } from "./special.js";

export interface ChiSquareResult {
  readonly statistic: number;
  readonly pvalue: number;
  readonly dof: number;
}

/**
 * Pearson's chi-square test of observed counts against expected counts (uniform when omitted),
 * with k − 1 − ddof degrees of freedom. Like SciPy, the two totals must agree to a relative
 * √ε (about 1.5e-8).
 */
export function chiSquare(observed: ArrayLike<number>, expected?: ArrayLike<number>, ddof = 0): ChiSquareResult {
  const k = observed.length;
  let exp: ArrayLike<number>;
  if (expected === undefined) {
    let s = 0;
    for (let i = 0; i < k; i++) s += observed[i] as number;
    exp = new Float64Array(k).fill(s / k);
  } else {
    if (expected.length !== k) throw new RangeError(`chiSquare: ${k} observed but ${expected.length} expected counts`);
    let so = 0;
    let se = 0;
    for (let i = 0; i < k; i++) {
      so += observed[i] as number;
      se += expected[i] as number;
    }
    const rel = Math.abs(so - se) / Math.min(so, se);
    if (rel > Math.sqrt(2.220446049250313e-16)) {
      throw new RangeError(`chiSquare: observed total ${so} and expected total ${se} differ by a relative ${rel}`);
    }
    exp = expected;
  }
  let stat = 0;
  for (let i = 0; i < k; i++) {
    const o = observed[i] as number;
    const e = exp[i] as number;
    stat += ((o - e) * (o - e)) / e;
  }
  const dof = k - 1 - ddof;
  return { statistic: stat, pvalue: chi2Sf(stat, dof), dof };
}

/**
 * Chi-square test of independence of the rows and columns of a contingency table
 * (scipy.stats.chi2_contingency). Yates' continuity correction applies when `correction` is
 * true and the table has one degree of freedom. A zero expected frequency is an error, as in SciPy.
 */
export function chi2Contingency(table: ArrayLike<number>[], correction = true): ChiSquareResult & { expected: number[][] } {
  const r = table.length;
  const c = r === 0 ? 0 : (table[0] as ArrayLike<number>).length;
  if (r === 0 || c === 0) throw new RangeError("chi2Contingency: no data; the table is empty");
  const rowSums = new Array<number>(r).fill(0);
  const colSums = new Array<number>(c).fill(0);
  let total = 0;
  for (let i = 0; i < r; i++) {
    const row = table[i] as ArrayLike<number>;
    if (row.length !== c) throw new RangeError("chi2Contingency: rows have different lengths");
    for (let j = 0; j < c; j++) {
      const v = row[j] as number;
      if (v < 0) throw new RangeError("chi2Contingency: all values in the table must be nonnegative");
      rowSums[i] = (rowSums[i] as number) + v;
      colSums[j] = (colSums[j] as number) + v;
      total += v;
    }
  }
  const expected = rowSums.map((rs) => colSums.map((cs) => (rs * cs) / total));
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      if (expected[i]![j] === 0) {
        throw new RangeError(`chi2Contingency: the table of expected frequencies has a zero element at (${i}, ${j})`);
      }
    }
  }
  const dof = r * c - (r + c) + 2 - 1;
  if (dof === 0) return { statistic: 0, pvalue: 1, dof, expected };
  let stat = 0;
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      const e = expected[i]![j] as number;
      let o = (table[i] as ArrayLike<number>)[j] as number;
      if (dof === 1 && correction) {
        const diff = e - o;
        o += Math.sign(diff) * Math.min(0.5, Math.abs(diff));
      }
      stat += ((o - e) * (o - e)) / e;
    }
  }
  return { statistic: stat, pvalue: chi2Sf(stat, dof), dof, expected };
}

export interface ZTestResult {
  readonly statistic: number;
  readonly pvalue: number;
}

/**
 * Two-proportion z-test (pooled variance), two-sided: x1 of n1 against x2 of n2, as Evidently's
 * `z` test computes it. When both samples hold one and the same value (pooled share 0 or 1) the
 * difference is 0 and the p-value 1, Evidently's rule for two identical constant columns.
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): ZTestResult {
  if (!(n1 > 0 && n2 > 0)) throw new RangeError("twoProportionZTest: both samples must be non-empty");
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const P = (p1 * n1 + p2 * n2) / (n1 + n2);
  if (x1 + x2 === 0 || x1 + x2 === n1 + n2) return { statistic: 0, pvalue: 1 };
  const z = (p1 - p2) / Math.sqrt(P * (1 - P) * (1 / n1 + 1 / n2));
  return { statistic: z, pvalue: Math.min(1, 2 * normalSf(Math.abs(z))) };
}
