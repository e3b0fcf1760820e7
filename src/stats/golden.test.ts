/**
 * The drift statistics against SciPy: every value in __golden__/{special,two-sample,categorical,
 * binned}.json was computed by scripts/golden/stats.py with NumPy and SciPy, and must be matched
 * to a relative 1e-6 (an expected 0 must come out as 0 within 1e-300; NaN as NaN).
 *
 * One exception: SciPy computes the asymptotic Cramér–von Mises p-value as 1 − CDF with the CDF
 * summed to ~1e-16, so a p-value near 1e-12 carries SciPy's own absolute rounding of ~1e-15 and
 * no implementation can reproduce its digits; that p-value is compared to an absolute 1e-14.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { andersonKSample, type AndersonVariant } from "./anderson.js";
import { binCounts, equalWidthEdges, quantileEdges, sturgesEdges } from "./binning.js";
import { chi2Contingency, chiSquare, twoProportionZTest } from "./categorical.js";
import { cramerVonMises2Sample } from "./cramer-von-mises.js";
import { fillZeroShares, hellinger, jensenShannon, klDivergence, psi, sharesOf, totalVariation } from "./divergence.js";
import { ks2samp } from "./ks.js";
import * as kolmogorov from "./kolmogorov.js";
import { ks2SampleExactSf } from "./ks-two-sample.js";
import { mannWhitneyU } from "./mann-whitney.js";
import { sampleRange, toSample } from "./sample.js";
import * as special from "./special.js";
import { welchTTest } from "./t-test.js";
import { energyDistance, normedWassersteinDistance, wassersteinDistance } from "./wasserstein.js";

type Num = number | string;

function load<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./__golden__/${name}`, import.meta.url), "utf8")) as T;
}

/** Golden numbers: non-finite values are stored as "NaN", "Infinity", "-Infinity". */
function n(v: Num | null | undefined): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  throw new Error(`not a golden number: ${String(v)}`);
}

function arr(a: Num[]): Float64Array {
  return Float64Array.from(a, n);
}

const REL = 1e-6;

function close(actual: number, expectedRaw: Num, what: string, absolute = 0): void {
  const expected = n(expectedRaw);
  if (Number.isNaN(expected)) {
    expect(actual, `${what}: expected NaN`).toBeNaN();
    return;
  }
  if (!Number.isFinite(expected)) {
    expect(actual, what).toBe(expected);
    return;
  }
  if (absolute > 0 && Math.abs(actual - expected) <= absolute) return;
  const err = expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
  expect(err, `${what}: got ${actual}, expected ${expected}`).toBeLessThanOrEqual(expected === 0 ? 1e-300 : REL);
}

describe("special functions (scipy.special)", () => {
  const { cases } = load<{ cases: { fn: string; args: Num[]; value: Num }[] }>("special.json");
  const fns: Record<string, (...a: number[]) => number> = {
    ...(special as unknown as Record<string, (...a: number[]) => number>),
    smirnovSf: kolmogorov.smirnovSf,
    kolmogorovSf: kolmogorov.kolmogorovSf,
    ks2SampleExactSf: (n1, n2, d) => ks2SampleExactSf(n1, n2, d).p,
  };
  const byFn = new Map<string, typeof cases>();
  for (const c of cases) byFn.set(c.fn, [...(byFn.get(c.fn) ?? []), c]);
  for (const [fn, list] of byFn) {
    it(`${fn} (${list.length} points)`, () => {
      const f = fns[fn];
      expect(f, fn).toBeTypeOf("function");
      for (const c of list) close(f!(...c.args.map(n)), c.value, `${fn}(${c.args.join(", ")})`);
    });
  }
});

interface TwoSampleCase {
  name: string;
  x: Num[];
  y: Num[];
  expected: Record<string, Record<string, Num> & { error?: string }>;
}

describe("two-sample tests (scipy.stats)", () => {
  const { cases } = load<{ cases: TwoSampleCase[] }>("two-sample.json");
  it("covers ties, tiny samples, constant columns, NaN and infinities, exact and asymptotic KS", () => {
    const names = cases.map((c) => c.name);
    for (const want of ["ties_rounded", "tiny_1_5", "constant_equal", "nan_and_infinities", "asymptotic_unequal", "equal_sizes_exact"]) {
      expect(names).toContain(want);
    }
  });

  /** Runs `fn`; when SciPy raised, `fn` must throw too. */
  function check(c: TwoSampleCase, key: string, fn: () => Record<string, number | string>): void {
    const e = c.expected[key];
    expect(e, `${c.name}: no expected ${key}`).toBeDefined();
    if (e!.error !== undefined) {
      expect(fn, `${c.name} ${key}: SciPy raised "${e!.error}"`).toThrow(RangeError);
      return;
    }
    const got = fn();
    for (const [field, value] of Object.entries(e!)) {
      if (field === "method") expect(got.method, `${c.name} ${key}.method`).toBe(value);
      else {
        const absolute = key === "cramer_von_mises" && field === "pvalue" && got.method === "asymptotic" ? 1e-14 : 0;
        close(got[field] as number, value, `${c.name} ${key}.${field}`, absolute);
      }
    }
  }

  for (const c of cases) {
    it(c.name, () => {
      const x = arr(c.x);
      const y = arr(c.y);
      check(c, "ks", () => ({ ...ks2samp(x, y) }));
      check(c, "wasserstein", () => ({ value: wassersteinDistance(x, y) }));
      check(c, "energy", () => ({ value: energyDistance(x, y) }));
      check(c, "normed_wasserstein", () => ({ value: normedWassersteinDistance(x, y) }));
      for (const variant of ["midrank", "right", "continuous"] as AndersonVariant[]) {
        check(c, `anderson_${variant}`, () => {
          const r = andersonKSample([x, y], variant);
          return { statistic: r.statistic, pvalue: r.pvalue };
        });
      }
      check(c, "cramer_von_mises", () => ({ ...cramerVonMises2Sample(x, y) }));
      check(c, "mann_whitney", () => ({ ...mannWhitneyU(x, y) }));
      check(c, "welch", () => ({ ...welchTTest(x, y) }));
    });
  }
});

describe("categorical tests", () => {
  const doc = load<{
    chisquare: { name: string; observed: number[]; expected_counts: number[] | null; expected: Record<string, Num> & { error?: string } }[];
    chi2_contingency: { name: string; table: number[][]; correction: boolean; expected: Record<string, Num> & { error?: string } }[];
    z_test: { name: string; x1: number; n1: number; x2: number; n2: number; expected: Record<string, Num> }[];
  }>("categorical.json");

  for (const c of doc.chisquare) {
    it(`chisquare: ${c.name}`, () => {
      const run = () => chiSquare(c.observed, c.expected_counts ?? undefined);
      if (c.expected.error !== undefined) return void expect(run).toThrow(RangeError);
      const r = run();
      close(r.statistic, c.expected.statistic as Num, "statistic");
      close(r.pvalue, c.expected.pvalue as Num, "pvalue");
    });
  }
  for (const c of doc.chi2_contingency) {
    it(`chi2_contingency: ${c.name}`, () => {
      const run = () => chi2Contingency(c.table, c.correction);
      if (c.expected.error !== undefined) return void expect(run).toThrow(RangeError);
      const r = run();
      close(r.statistic, c.expected.statistic as Num, "statistic");
      close(r.pvalue, c.expected.pvalue as Num, "pvalue");
      expect(r.dof).toBe(c.expected.dof);
    });
  }
  for (const c of doc.z_test) {
    it(`two-proportion z-test: ${c.name}`, () => {
      const r = twoProportionZTest(c.x1, c.n1, c.x2, c.n2);
      close(r.statistic, c.expected.statistic as Num, "statistic");
      close(r.pvalue, c.expected.pvalue as Num, "pvalue");
    });
  }
});

interface BinnedExpected {
  edges: Num[] | null;
  keys: Num[] | null;
  reference_counts: Num[];
  current_counts: Num[];
  psi: Num;
  kl: Num;
  jensenshannon: Num;
  jensenshannon_base2: Num;
  hellinger: Num;
  tvd: Num;
}

describe("binned measures (Evidently's binning and formulas, NumPy/SciPy values)", () => {
  const { cases } = load<{ cases: ({ name: string; reference: Num[]; current: Num[] } & Record<string, BinnedExpected>)[] }>(
    "binned.json",
  );
  const schemes: [string, "sturges" | "quantile", number | undefined][] = [
    ["sturges", "sturges", undefined],
    ["equal_width_7", "sturges", 7],
    ["quantile_10", "quantile", 10],
    ["quantile_4", "quantile", 4],
  ];
  for (const c of cases) {
    for (const [key, scheme, nBins] of schemes) {
      it(`${c.name}: ${key}`, () => {
        const e = c[key] as BinnedExpected;
        const ref = toSample(arr(c.reference));
        const cur = toSample(arr(c.current));
        let refCounts: Float64Array;
        let curCounts: Float64Array;
        if (e.edges !== null) {
          const pooledMin = Math.min(sampleRange(ref).min, sampleRange(cur).min);
          const pooledMax = Math.max(sampleRange(ref).max, sampleRange(cur).max);
          const edges =
            scheme === "quantile"
              ? quantileEdges(ref, nBins ?? 10)
              : nBins === undefined
                ? sturgesEdges(pooledMin, pooledMax, ref.n + cur.n)
                : equalWidthEdges(pooledMin, pooledMax, nBins);
          expect(Array.from(edges)).toEqual(e.edges.map(n));
          refCounts = binCounts(ref, edges);
          curCounts = binCounts(cur, edges);
        } else {
          const keys = e.keys!.map(n);
          refCounts = Float64Array.from(keys, (k) => ref.values.filter((v) => v === k).length);
          curCounts = Float64Array.from(keys, (k) => cur.values.filter((v) => v === k).length);
        }
        expect(Array.from(refCounts)).toEqual(e.reference_counts.map(n));
        expect(Array.from(curCounts)).toEqual(e.current_counts.map(n));
        const p = sharesOf(refCounts, ref.n);
        const q = sharesOf(curCounts, cur.n);
        close(psi(fillZeroShares(p), fillZeroShares(q)), e.psi, "psi");
        close(klDivergence(fillZeroShares(p), fillZeroShares(q)), e.kl, "kl");
        close(jensenShannon(p, q), e.jensenshannon, "jensenshannon");
        close(jensenShannon(p, q, 2), e.jensenshannon_base2, "jensenshannon base 2");
        close(hellinger(p, q), e.hellinger, "hellinger");
        close(totalVariation(refCounts, curCounts), e.tvd, "tvd");
      });
    }
  }
});
