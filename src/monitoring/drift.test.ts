import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FlywheelError } from "../core/errors.js";
import { ks2samp } from "../stats/ks.js";
import { normedWassersteinDistance } from "../stats/wasserstein.js";
import { parseColumnMapping, planColumns } from "./column-mapping.js";
import { compareDatasets, compareWithProfile } from "./compare.js";
import { categoricalColumn, dataset, numericColumn, type Dataset, type RawColumn } from "./dataset.js";
import type { ColumnDrift, DriftReport } from "./drift.js";
import { buildProfile, parseProfile } from "./profile.js";

/** A seeded uniform generator (mulberry32) and normals by Box–Muller, so the tests are repeatable. */
function rng(seed: number): { uniform(): number; normal(mean?: number, sd?: number): number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: (mean = 0, sd = 1) => mean + sd * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
  };
}

function normals(r: ReturnType<typeof rng>, n: number, mean = 0, sd = 1): Float64Array {
  return Float64Array.from({ length: n }, () => r.normal(mean, sd));
}

function col(report: DriftReport, name: string): ColumnDrift {
  const c = report.columns.find((x) => x.column === name);
  expect(c, name).toBeDefined();
  return c!;
}

type Num = number | string;
const num = (v: Num | null): number =>
  v === null || v === "NaN" ? Number.NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : (v as number);

interface GoldenColumn {
  name: string;
  kind: "numerical" | "categorical";
  reference: (Num | null)[];
  current: (Num | null)[];
  expected: { status: string; test?: string; score?: Num; drifted?: boolean };
}

describe("drift engine against Evidently's default drift table (scripts/golden/drift.py)", () => {
  const doc = JSON.parse(readFileSync(new URL("./__golden__/drift.json", import.meta.url), "utf8")) as {
    scenarios: { name: string; columns: GoldenColumn[]; dataset: { tested: number; drifted: number; drift: boolean } }[];
  };
  for (const s of doc.scenarios) {
    it(s.name, () => {
      const build = (side: "reference" | "current"): Dataset => {
        const cols: Record<string, RawColumn> = {};
        for (const c of s.columns) {
          cols[c.name] =
            c.kind === "numerical" ? numericColumn(c[side].map(num)) : categoricalColumn(c[side] as (string | null)[]);
        }
        return dataset(cols);
      };
      const report = compareDatasets(build("reference"), build("current"));
      for (const c of s.columns) {
        const got = col(report, c.name);
        expect(got.status, c.name).toBe(c.expected.status);
        if (c.expected.status !== "ok") continue;
        expect(got.result?.test, c.name).toBe(c.expected.test);
        const want = num(c.expected.score!);
        const err = Math.abs(got.result!.score - want) / Math.abs(want);
        expect(err, `${c.name}: ${got.result!.score} vs ${want}`).toBeLessThanOrEqual(1e-6);
        expect(got.drifted, c.name).toBe(c.expected.drifted);
      }
      expect(report.dataset.tested).toBe(s.dataset.tested);
      expect(report.dataset.drifted).toBe(s.dataset.drifted);
      expect(report.dataset.drift).toBe(s.dataset.drift);
    });
  }
});

describe("drift engine", () => {
  it("flags the shifted columns only, and dataset drift once half the columns drift", () => {
    const r = rng(1);
    const ref = dataset({
      a: numericColumn(normals(r, 5000)),
      b: numericColumn(normals(r, 5000, 3, 2)),
      c: numericColumn(normals(r, 5000)),
      d: numericColumn(normals(r, 5000, -1, 0.5)),
    });
    const cur = dataset({
      a: numericColumn(normals(r, 4000, 0.5)),
      b: numericColumn(normals(r, 4000, 3, 2)),
      c: numericColumn(normals(r, 4000, 0, 1.6)),
      d: numericColumn(normals(r, 4000, -1, 0.5)),
    });
    const report = compareDatasets(ref, cur);
    expect(report.columns.map((c) => [c.column, c.result?.test, c.drifted])).toEqual([
      ["a", "wasserstein", true],
      ["b", "wasserstein", false],
      ["c", "wasserstein", true],
      ["d", "wasserstein", false],
    ]);
    expect(report.dataset).toMatchObject({ tested: 4, drifted: 2, share: 0.5, drift: true });
    const onlyA = compareDatasets(ref, dataset({ ...Object.fromEntries(cur.columns), c: numericColumn(normals(r, 4000)) }));
    expect(onlyA.dataset).toMatchObject({ drifted: 1, drift: false });
  });

  it("drops NaN and infinities before the test and reports the missing-rate change beside it", () => {
    const r = rng(2);
    const refVals = normals(r, 600);
    const curVals = normals(r, 500, 0.05);
    for (let i = 0; i < 500; i += 10) curVals[i] = Number.NaN;
    curVals[3] = Infinity;
    refVals[7] = -Infinity;
    const report = compareDatasets(dataset({ x: numericColumn(refVals) }), dataset({ x: numericColumn(curVals) }));
    const x = col(report, "x");
    expect(x.result?.test).toBe("ks");
    const finite = (a: Float64Array) => a.filter((v) => Number.isFinite(v));
    expect(x.result?.pvalue).toBe(ks2samp(finite(refVals), finite(curVals)).pvalue);
    expect(x.reference).toMatchObject({ rows: 600, missing: 0, infinite: 1, used: 599 });
    expect(x.current).toMatchObject({ rows: 500, missing: 50, infinite: 1, used: 449, missingShare: 0.1 });
    expect(x.missingShareChange).toBeCloseTo(0.1, 15);
  });

  it("reports an empty column as not enough data, and a column missing from the current data", () => {
    const ref = dataset({ x: numericColumn([1, 2, 3, 4, 5, 6, 7]), y: numericColumn([1, 2, 3, 4, 5, 6, 7]), z: categoricalColumn(["a", "b", "a", "a", "b", "a", "b"]) });
    const cur = dataset({ x: numericColumn([NaN, NaN, Infinity]), z: categoricalColumn([null, null, null]) });
    const report = compareDatasets(ref, cur);
    expect(col(report, "x")).toMatchObject({ status: "not_enough_data", drifted: false });
    expect(col(report, "x").reason).toMatch(/current column has no finite/);
    expect(col(report, "y")).toMatchObject({ status: "missing_in_current", drifted: false });
    expect(col(report, "z")).toMatchObject({ status: "not_enough_data", drifted: false });
    expect(report.dataset).toMatchObject({ tested: 0, drifted: 0, share: 0, drift: false });
  });

  it("reports a type change instead of testing", () => {
    const ref = dataset({ x: numericColumn([1, 2, 3]) });
    const cur = dataset({ x: categoricalColumn(["1", "2", "x"]) });
    expect(col(compareDatasets(ref, cur), "x")).toMatchObject({ status: "type_mismatch", drifted: false });
  });

  it("chooses tests and thresholds globally, per type and per column, the most specific winning", () => {
    const r = rng(3);
    const ref = dataset({
      n1: numericColumn(normals(r, 300)),
      n2: numericColumn(normals(r, 300)),
      c1: categoricalColumn(Array.from({ length: 300 }, (_, i) => "abc"[i % 3])),
    });
    const cur = dataset({
      n1: numericColumn(normals(r, 300, 0.3)),
      n2: numericColumn(normals(r, 300, 0.3)),
      c1: categoricalColumn(Array.from({ length: 300 }, (_, i) => "abcc"[i % 4])),
    });
    const report = compareDatasets(ref, cur, {
      drift: {
        test: "psi",
        threshold: 0.2,
        perType: { numerical: { test: "wasserstein" } },
        perColumn: { n2: { test: "anderson", threshold: 0.01 } },
        extraTests: ["ks", "jensenshannon"],
      },
    });
    expect(col(report, "n1").result).toMatchObject({ test: "wasserstein", threshold: 0.2 });
    const values = (d: Dataset, name: string) => (d.columns.get(name) as { values: Float64Array }).values;
    expect(col(report, "n1").result!.score).toBe(normedWassersteinDistance(values(ref, "n1"), values(cur, "n1")));
    expect(col(report, "n2").result).toMatchObject({ test: "anderson", threshold: 0.01 });
    expect(col(report, "c1").result).toMatchObject({ test: "psi", threshold: 0.2 });
    expect(col(report, "n1").extra.map((t) => t.test)).toEqual(["ks", "jensenshannon"]);
    expect(col(report, "c1").extra.map((t) => t.test)).toEqual(["jensenshannon"]);
    expect(() => compareDatasets(ref, cur, { drift: { perColumn: { c1: { test: "ks" } } } })).toThrow(/'ks' does not apply to categorical column 'c1'/);
    expect(() => compareDatasets(ref, cur, { drift: { perColumn: { nope: { test: "ks" } } } })).toThrow(FlywheelError);
  });

  it("honours nBins and the quantile binning for PSI", () => {
    const r = rng(4);
    const ref = dataset({ x: numericColumn(normals(r, 3000)) });
    const cur = dataset({ x: numericColumn(normals(r, 3000, 0.2)) });
    const sturges = col(compareDatasets(ref, cur, { drift: { test: "psi" } }), "x").result!;
    const seven = col(compareDatasets(ref, cur, { drift: { test: "psi", nBins: 7 } }), "x").result!;
    const quant = col(compareDatasets(ref, cur, { drift: { test: "psi", binning: "quantile", nBins: 5 } }), "x").result!;
    expect(new Set([sturges.distance, seven.distance, quant.distance]).size).toBe(3);
    for (const t of [sturges, seven, quant]) expect(t.distance).toBeGreaterThan(0.01);
  });

  it("treats target and prediction columns as columns, with roles, and classification targets as categorical", () => {
    const r = rng(5);
    const mk = (shift: number) =>
      dataset({
        f: numericColumn(normals(r, 400)),
        y: numericColumn(Array.from({ length: 400 }, () => (r.uniform() < 0.3 + shift ? 1 : 0))),
        score: numericColumn(Array.from({ length: 400 }, () => r.uniform() + shift)),
        id: numericColumn(Array.from({ length: 400 }, (_, i) => i)),
      });
    const report = compareDatasets(mk(0), mk(0.3), { target: "y", prediction: "score", id: "id", task: "classification" });
    expect(report.columns.map((c) => [c.column, c.role, c.kind])).toEqual([
      ["f", "feature", "numerical"],
      ["y", "target", "categorical"],
      ["score", "prediction", "numerical"],
    ]);
    expect(col(report, "y").result?.test).toBe("z");
    expect(col(report, "score").drifted).toBe(true);
  });
});

describe("column mapping", () => {
  it("accepts Evidently's snake_case names", () => {
    const m = parseColumnMapping({ numerical_features: ["a"], drift: { drift_share: 0.3, per_column: { a: { stattest: "ks", stattest_threshold: 0.01 } } } });
    expect(m).toEqual({ numericalFeatures: ["a"], drift: { driftShare: 0.3, perColumn: { a: { test: "ks", threshold: 0.01 } } } });
  });

  it("names the field and the rule when a value is bad", () => {
    expect(() => parseColumnMapping({ drift: { nBins: 2.5 } })).toThrow(/drift\.nBins/);
    expect(() => parseColumnMapping({ drift: { test: "nope" } })).toThrow(/drift\.test/);
    expect(() => parseColumnMapping({ colour: "red" })).toThrow(FlywheelError);
  });

  it("restricts features to the explicit lists and rejects unknown columns", () => {
    const available = new Map([
      ["a", "numerical"],
      ["b", "numerical"],
      ["c", "categorical"],
    ] as const);
    expect(planColumns(available, { numericalFeatures: ["a"] }).map((c) => c.name)).toEqual(["a", "c"]);
    expect(planColumns(available, { categoricalFeatures: ["b"] }).map((c) => [c.name, c.kind])).toEqual([
      ["a", "numerical"],
      ["b", "categorical"],
    ]);
    expect(() => planColumns(available, { target: "zz" })).toThrow(/target names column 'zz'/);
  });
});

describe("reference profiles", () => {
  const r = rng(6);
  const ref = dataset({
    x: numericColumn(normals(r, 2500)),
    k: numericColumn(Array.from({ length: 2500 }, () => Math.floor(r.uniform() * 4))),
    c: categoricalColumn(Array.from({ length: 2500 }, () => (r.uniform() < 0.6 ? "u" : r.uniform() < 0.5 ? "v" : null))),
  });
  const cur = dataset({
    x: numericColumn(normals(r, 2000, 0.15)),
    k: numericColumn(Array.from({ length: 2000 }, () => Math.floor(r.uniform() * 5))),
    c: categoricalColumn(Array.from({ length: 2000 }, () => (r.uniform() < 0.5 ? "u" : "w"))),
  });
  const options = { test: "ks" as const, extraTests: ["wasserstein", "psi", "jensenshannon", "cramer_von_mises"] as const };

  it("gives the same report as the raw reference when the values fit the exact limit, after a JSON round trip", () => {
    const profile = parseProfile(JSON.parse(JSON.stringify(buildProfile(ref))));
    const drift = { ...options, extraTests: [...options.extraTests], perColumn: { c: { test: "chisquare" as const } } };
    const direct = compareDatasets(ref, cur, { drift });
    const viaProfile = compareWithProfile(profile, cur, drift);
    expect(viaProfile.columns.map((c) => [c.result, c.extra, c.reference])).toEqual(direct.columns.map((c) => [c.result, c.extra, c.reference]));
    expect(viaProfile.columns.every((c) => c.result?.approximate === false)).toBe(true);
  });

  it("falls back to a sketch above the exact limit: marked approximate, KS within 1/sketchSize, quantile bins exact", () => {
    const profile = buildProfile(ref, {}, { exactLimit: 100, sketchSize: 500, quantileBins: 10 });
    expect(profile.data.x).toMatchObject({ exact: false });
    expect(profile.data.k).toMatchObject({ exact: true });
    const direct = compareDatasets(ref, cur, { drift: { test: "ks" } });
    const sketched = compareWithProfile(profile, cur, { test: "ks" });
    const x = col(sketched, "x").result!;
    expect(x.approximate).toBe(true);
    expect(Math.abs(x.statistic! - col(direct, "x").result!.statistic!)).toBeLessThanOrEqual(1 / 500);
    expect(col(sketched, "k").result).toEqual(col(direct, "k").result);
    const q = { test: "psi" as const, binning: "quantile" as const, nBins: 10 };
    const qDirect = col(compareDatasets(ref, cur, { drift: q }), "x").result!;
    const qProfile = col(compareWithProfile(profile, cur, q), "x").result!;
    expect(qProfile).toEqual({ ...qDirect, approximate: false });
  });

  it("rejects a malformed profile naming the field", () => {
    const p = JSON.parse(JSON.stringify(buildProfile(ref))) as { data: { x: { n: unknown } } };
    p.data.x.n = "many";
    expect(() => parseProfile(p)).toThrow(/data\.x\.n/);
  });
});
