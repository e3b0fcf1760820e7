/**
 * The drift tests a column can be checked with, by Evidently's names, each with its default
 * threshold and its drift rule, and Evidently's default choice of test per column.
 *
 * p-value tests flag drift when p < threshold (KS and Cramér–von Mises: p ≤ threshold);
 * distance tests when distance ≥ threshold (energy distance: > threshold). Differences from
 * Evidently: `mannw` is two-sided (Evidently's is one-sided "less"); `welch_t` is Welch's
 * unequal-variance t-test (Evidently's `t_test` assumes equal variances); `tvd` reports the
 * total variation distance itself (Evidently's TVD reports a 1000-permutation p-value).
 */
import { andersonKSampleSorted } from "../stats/anderson.js";
import { chiSquare, twoProportionZTest } from "../stats/categorical.js";
import { cramerVonMises2SampleSorted } from "../stats/cramer-von-mises.js";
import { fillZeroShares, hellinger, jensenShannon, klDivergence, psi, sharesOf, totalVariation } from "../stats/divergence.js";
import { compareEcdf, type EcdfComparison } from "../stats/ecdf.js";
import { ksFromComparison } from "../stats/ks.js";
import { mannWhitneyUSorted } from "../stats/mann-whitney.js";
import { welchTTestSamples } from "../stats/t-test.js";
import { energyFromComparison, normWasserstein } from "../stats/wasserstein.js";
import { binnedPair, categoryPair, type BinnedPair, type BinningScheme } from "./binned.js";
import type { ColumnKind, PreparedColumn, PreparedNumeric } from "./dataset.js";

export const STAT_TEST_NAMES = [
  "ks",
  "wasserstein",
  "psi",
  "kl_div",
  "jensenshannon",
  "hellinger",
  "tvd",
  "chisquare",
  "z",
  "anderson",
  "cramer_von_mises",
  "mannw",
  "welch_t",
  "ed",
] as const;

export type StatTestName = (typeof STAT_TEST_NAMES)[number];

/** What a test produced on one column pair. */
export interface TestOutcome {
  readonly test: StatTestName;
  /** The test statistic, when the score is a p-value. */
  readonly statistic?: number;
  readonly pvalue?: number;
  readonly distance?: number;
  /** The number compared with the threshold: the p-value or the distance. */
  readonly score: number;
  readonly threshold: number;
  readonly drifted: boolean;
  /** How the p-value was obtained when the test has several methods (e.g. KS exact/asymp). */
  readonly method?: string;
  /** True when computed from a sketched reference profile rather than the exact values. */
  readonly approximate: boolean;
}

/** Shared per column pair, so several tests reuse one ECDF merge and one binning. */
export class PairContext {
  private ecdf?: EcdfComparison;
  private binnedCounts?: BinnedPair;
  private categoryCounts?: BinnedPair;

  constructor(
    readonly reference: PreparedColumn,
    readonly current: PreparedColumn,
    readonly binning: BinningScheme,
    readonly nBins: number | undefined,
  ) {}

  numeric(): [PreparedNumeric, PreparedNumeric] {
    if (this.reference.kind !== "numerical" || this.current.kind !== "numerical") throw new RangeError("numerical test on a categorical column");
    return [this.reference, this.current];
  }

  ecdfComparison(): EcdfComparison {
    if (this.ecdf === undefined) {
      const [r, c] = this.numeric();
      this.ecdf = compareEcdf(r.sample, c.sample);
    }
    return this.ecdf;
  }

  /** Counts for the binned measures (bins, or per value / category). */
  bins(): BinnedPair {
    this.binnedCounts ??= binnedPair(this.reference, this.current, this.binning, this.nBins);
    return this.binnedCounts;
  }

  /** Counts per distinct value or category, for chi-square and the z-test. */
  categories(): BinnedPair {
    this.categoryCounts ??= categoryPair(this.reference, this.current);
    return this.categoryCounts;
  }

  /** False when either side is a sketch. */
  exact(): boolean {
    const sketched = (c: PreparedColumn) => c.kind === "numerical" && !c.exact;
    return !sketched(this.reference) && !sketched(this.current);
  }
}

interface Score {
  statistic?: number;
  pvalue?: number;
  distance?: number;
  method?: string;
  approximate?: boolean;
}

interface StatTestSpec {
  readonly displayName: string;
  readonly kinds: readonly ColumnKind[];
  readonly score: "pvalue" | "distance";
  readonly defaultThreshold: number;
  /** p ≤ t instead of p < t; d > t instead of d ≥ t. */
  readonly inclusive?: boolean;
  run(ctx: PairContext): Score;
}

function shares(b: BinnedPair, fill: boolean): [Float64Array, Float64Array] {
  const p = sharesOf(b.reference, b.referenceTotal);
  const q = sharesOf(b.current, b.currentTotal);
  return fill ? [fillZeroShares(p), fillZeroShares(q)] : [p, q];
}

const BOTH: readonly ColumnKind[] = ["numerical", "categorical"];
const NUMERICAL: readonly ColumnKind[] = ["numerical"];

export const STAT_TESTS: Record<StatTestName, StatTestSpec> = {
  ks: {
    displayName: "K-S p_value",
    kinds: NUMERICAL,
    score: "pvalue",
    defaultThreshold: 0.05,
    inclusive: true,
    run(ctx) {
      const [r, c] = ctx.numeric();
      const res = ksFromComparison(r.sample.n, c.sample.n, ctx.ecdfComparison());
      return { statistic: res.statistic, pvalue: res.pvalue, method: res.method };
    },
  },
  wasserstein: {
    displayName: "Wasserstein distance (normed)",
    kinds: NUMERICAL,
    score: "distance",
    defaultThreshold: 0.1,
    run(ctx) {
      const [r] = ctx.numeric();
      return { distance: normWasserstein(ctx.ecdfComparison().l1, r.std) };
    },
  },
  ed: {
    displayName: "Energy distance",
    kinds: NUMERICAL,
    score: "distance",
    defaultThreshold: 0.1,
    inclusive: true,
    run: (ctx) => ({ distance: energyFromComparison(ctx.ecdfComparison()) }),
  },
  psi: {
    displayName: "PSI",
    kinds: BOTH,
    score: "distance",
    defaultThreshold: 0.1,
    run(ctx) {
      const b = ctx.bins();
      const [p, q] = shares(b, true);
      return { distance: psi(p, q), approximate: b.approximate };
    },
  },
  kl_div: {
    displayName: "Kullback-Leibler divergence",
    kinds: BOTH,
    score: "distance",
    defaultThreshold: 0.1,
    run(ctx) {
      const b = ctx.bins();
      const [p, q] = shares(b, true);
      return { distance: klDivergence(p, q), approximate: b.approximate };
    },
  },
  jensenshannon: {
    displayName: "Jensen-Shannon distance",
    kinds: BOTH,
    score: "distance",
    defaultThreshold: 0.1,
    run(ctx) {
      const b = ctx.bins();
      const [p, q] = shares(b, false);
      return { distance: jensenShannon(p, q), approximate: b.approximate };
    },
  },
  hellinger: {
    displayName: "Hellinger distance",
    kinds: BOTH,
    score: "distance",
    defaultThreshold: 0.1,
    run(ctx) {
      const b = ctx.bins();
      const [p, q] = shares(b, false);
      return { distance: hellinger(p, q), approximate: b.approximate };
    },
  },
  tvd: {
    displayName: "Total variation distance",
    kinds: BOTH,
    score: "distance",
    defaultThreshold: 0.1,
    run(ctx) {
      const b = ctx.bins();
      return { distance: totalVariation(b.reference, b.current), approximate: b.approximate };
    },
  },
  chisquare: {
    displayName: "chi-square p_value",
    kinds: BOTH,
    score: "pvalue",
    defaultThreshold: 0.05,
    run(ctx) {
      const b = ctx.categories();
      const k = b.currentTotal / b.referenceTotal;
      const expected = b.reference.map((v) => v * k);
      const res = chiSquare(b.current, expected);
      return { statistic: res.statistic, pvalue: res.pvalue, approximate: b.approximate };
    },
  },
  z: {
    displayName: "Z-test p_value",
    kinds: BOTH,
    score: "pvalue",
    defaultThreshold: 0.05,
    run(ctx) {
      const b = ctx.categories();
      const nonZero = (a: Float64Array) => a.reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
      const refOnly = nonZero(b.reference) === 1;
      const curOnly = nonZero(b.current) === 1;
      if (refOnly && curOnly && b.reference.findIndex((v) => v > 0) === b.current.findIndex((v) => v > 0)) {
        return { statistic: 0, pvalue: 1, approximate: b.approximate };
      }
      // Evidently encodes the first key (in sorted order) as 0 and every other value as 1.
      const x1 = b.referenceTotal - (b.reference[0] as number);
      const x2 = b.currentTotal - (b.current[0] as number);
      const res = twoProportionZTest(x1, b.referenceTotal, x2, b.currentTotal);
      return { statistic: res.statistic, pvalue: res.pvalue, approximate: b.approximate };
    },
  },
  anderson: {
    displayName: "Anderson-Darling p_value",
    kinds: NUMERICAL,
    score: "pvalue",
    defaultThreshold: 0.1,
    run(ctx) {
      const [r, c] = ctx.numeric();
      const res = andersonKSampleSorted([r.sample, c.sample]);
      return { statistic: res.statistic, pvalue: res.pvalue };
    },
  },
  cramer_von_mises: {
    displayName: "Cramer-von Mises p_value",
    kinds: NUMERICAL,
    score: "pvalue",
    defaultThreshold: 0.1,
    inclusive: true,
    run(ctx) {
      const [r, c] = ctx.numeric();
      const res = cramerVonMises2SampleSorted(r.sample, c.sample);
      return { statistic: res.statistic, pvalue: res.pvalue, method: res.method };
    },
  },
  mannw: {
    displayName: "Mann-Whitney U p_value",
    kinds: NUMERICAL,
    score: "pvalue",
    defaultThreshold: 0.05,
    run(ctx) {
      const [r, c] = ctx.numeric();
      const res = mannWhitneyUSorted(r.sample, c.sample);
      return { statistic: res.statistic, pvalue: res.pvalue, method: res.method };
    },
  },
  welch_t: {
    displayName: "Welch t-test p_value",
    kinds: NUMERICAL,
    score: "pvalue",
    defaultThreshold: 0.05,
    run(ctx) {
      const [r, c] = ctx.numeric();
      const res = welchTTestSamples(r.sample, c.sample);
      return { statistic: res.statistic, pvalue: res.pvalue };
    },
  },
};

/** Whether `test` can run on a column of `kind`. */
export function testApplies(test: StatTestName, kind: ColumnKind): boolean {
  return STAT_TESTS[test].kinds.includes(kind);
}

/** Runs one test on a column pair and applies its drift rule. */
export function runTest(test: StatTestName, ctx: PairContext, threshold?: number): TestOutcome {
  const spec = STAT_TESTS[test];
  const t = threshold ?? spec.defaultThreshold;
  const s = spec.run(ctx);
  const score = (spec.score === "pvalue" ? s.pvalue : s.distance) as number;
  let drifted: boolean;
  if (Number.isNaN(score)) drifted = false;
  else if (spec.score === "pvalue") drifted = spec.inclusive === true ? score <= t : score < t;
  else drifted = spec.inclusive === true ? score > t : score >= t;
  // Binned tests know whether their counts were exact; the others depend on the samples.
  const approximate = s.approximate ?? !ctx.exact();
  return {
    test,
    ...(s.statistic !== undefined ? { statistic: s.statistic } : {}),
    ...(s.pvalue !== undefined ? { pvalue: s.pvalue } : {}),
    ...(s.distance !== undefined ? { distance: s.distance } : {}),
    score,
    threshold: t,
    drifted,
    ...(s.method !== undefined ? { method: s.method } : {}),
    approximate,
  };
}

/** Distinct values of both columns together, counted exactly up to `cap` (larger counts answer cap + 1). */
export function unionDistinct(ref: PreparedColumn, cur: PreparedColumn, cap: number): number {
  if (ref.kind === "categorical" && cur.kind === "categorical") {
    const keys = new Set(ref.counts.keys());
    for (const k of cur.counts.keys()) keys.add(k);
    return Math.min(keys.size, cap + 1);
  }
  if (ref.kind === "numerical" && cur.kind === "numerical") {
    if (ref.distinct > cap || cur.distinct > cap) return cap + 1;
    const keys = new Set<number>(ref.sample.values);
    for (const v of cur.sample.values) keys.add(v);
    return Math.min(keys.size, cap + 1);
  }
  throw new RangeError("unionDistinct: the columns are of different kinds");
}

/**
 * Evidently's default test: with at most 1000 reference values, KS for a numerical column with
 * more than 5 distinct values (pooled), else chi-square (more than 2 values) or the z-test;
 * above 1000, normed Wasserstein for such a numerical column, else Jensen–Shannon.
 */
export function defaultTest(ref: PreparedColumn, cur: PreparedColumn, referenceCount: number): StatTestName {
  const nValues = unionDistinct(ref, cur, 5);
  const few = ref.kind === "categorical" || nValues <= 5;
  if (referenceCount <= 1000) {
    if (!few) return "ks";
    return nValues > 2 ? "chisquare" : "z";
  }
  return few ? "jensenshannon" : "wasserstein";
}
