/** Data quality of a window against a reference profile: each rule on a column built to break it. */
import { describe, expect, test } from "vitest";
import type { PlannedColumn } from "./column-mapping.js";
import { categoricalColumn, dataset, numericColumn } from "./dataset.js";
import { prepareDataset } from "./drift.js";
import { buildProfile, profileColumns } from "./profile.js";
import { qualityReport, type SourceKind } from "./quality.js";

const N = 1000;
const range = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

const reference = dataset({
  x: numericColumn(range(N, (i) => (i % 101) / 10)), // 0 … 10, no missing
  y: numericColumn(range(N, (i) => (i % 7 === 0 ? Number.NaN : i))), // 1/7 missing
  c: categoricalColumn(range(N, (i) => ["a", "b", "c"][i % 3] as string)),
  k: numericColumn(range(N, (i) => i % 5)),
  t: numericColumn(range(N, (i) => i)),
});
const { plan, columns: refColumns } = profileColumns(buildProfile(reference));
const refSources = new Map<string, SourceKind>(plan.map((p: PlannedColumn) => [p.name, p.kind]));

function run(current: ReturnType<typeof dataset>, sources: Record<string, SourceKind> = {}, options = {}) {
  const cur = prepareDataset(current);
  const curSources = new Map<string, SourceKind>([...current.columns].map(([n, c]) => [n, sources[n] ?? c.kind]));
  return qualityReport(plan, refColumns, cur, { reference: refSources, current: curSources }, { reference: reference.rows, current: current.rows }, options);
}

describe("data quality", () => {
  test("a window like the reference has no issues", () => {
    const r = run(
      dataset({
        x: numericColumn(range(200, (i) => (i % 100) / 10)),
        y: numericColumn(range(200, (i) => (i % 7 === 0 ? Number.NaN : i))),
        c: categoricalColumn(range(200, (i) => ["a", "b"][i % 2] as string)),
        k: numericColumn(range(200, (i) => i % 5)),
        t: numericColumn(range(200, (i) => i)),
      }),
    );
    expect(r.issues).toEqual([]);
    expect(r.failed).toBe(false);
    expect(r.columns.find((c) => c.column === "y")?.referenceMissingShare).toBeCloseTo(143 / 1000, 12);
  });

  test("missing rate, out-of-range values, new categories, constant columns and type changes are each found", () => {
    const r = run(
      dataset({
        x: numericColumn(range(200, (i) => (i < 10 ? 20 + i : i < 14 ? -1 : (i % 100) / 10))), // 14 of 200 outside [0, 10]
        y: numericColumn(range(200, (i) => (i % 2 === 0 ? Number.NaN : i))), // 50% missing
        c: categoricalColumn(range(200, (i) => (i < 30 ? "zz" : "a"))), // 15% new
        k: numericColumn(range(200, () => 3)), // constant
        t: categoricalColumn(range(200, (i) => `v${i}`)), // text where the reference had numbers
      }),
    );
    const by = Object.fromEntries(r.columns.map((c) => [c.column, c]));
    expect(by.x?.outOfRange).toMatchObject({ bounds: "range", lower: 0, upper: 10, below: 4, above: 10, share: 0.07 });
    expect(by.y?.missingShare).toBe(0.5);
    expect(by.c?.newCategories).toEqual({ rows: 30, share: 0.15, values: ["zz"] });
    expect(by.k?.constant).toBe(true);
    expect(by.t).toMatchObject({ typeChanged: true, referenceSource: "numerical", currentSource: "categorical" });
    expect(r.issues).toHaveLength(5);
    expect(r.issues.join("\n")).toMatch(/^x: 7\.0% of values outside the reference range \[0, 10\]/m);
    expect(r.issues.join("\n")).toMatch(/^y: missing 14\.3% → 50\.0%/m);
    expect(r.issues.join("\n")).toMatch(/^c: 15\.0% of values in categories the reference never had \(zz\)/m);
    expect(r.issues.join("\n")).toMatch(/^k: constant/m);
    expect(r.issues.join("\n")).toMatch(/^t: type changed from numerical to categorical/m);
    expect(r.failed).toBe(true);
  });

  test("thresholds and quantile bounds are configurable; absent and unreadable columns are type changes", () => {
    const cur = dataset({
      x: numericColumn(range(100, (i) => i / 10)), // 0 … 9.9
      c: categoricalColumn(range(100, (i) => (i < 5 ? "new" : "a"))),
    });
    const r = run(cur, {}, { outOfRange: { bounds: "quantile", lower: 0.1, upper: 0.9, maxShare: 0.5 }, maxNewCategoryShare: 0.1 });
    const x = r.columns.find((c) => c.column === "x");
    // numpy.quantile of the reference at 0.1 and 0.9 (linear): 0.99 and 8.91.
    expect(x?.outOfRange?.lower).toBeCloseTo(0.99, 12);
    expect(x?.outOfRange?.upper).toBeCloseTo(8.91, 12);
    expect(x?.outOfRange?.share).toBeCloseTo(0.2, 12);
    expect(r.issues.filter((i) => i.startsWith("x:") || i.startsWith("c:"))).toEqual([]);
    expect(r.issues).toEqual(["y: missing from the window", "k: missing from the window", "t: missing from the window"]);
    const unreadable = run(dataset({ t: categoricalColumn(["1", "2"]) }), { t: "unsupported:JSON" }, { typeChanges: true });
    expect(unreadable.issues).toContain("t: type changed from numerical to unsupported:JSON");
  });

  test("an empty window only fails on the row minimum", () => {
    const empty = { rows: 0, columns: new Map() };
    expect(run(empty).failed).toBe(false);
    expect(run(empty, {}, { minRows: 10 }).issues).toEqual(["rows: 0 in the window, fewer than the minimum 10"]);
  });
});
