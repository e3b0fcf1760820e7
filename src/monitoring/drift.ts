/**
 * The drift engine: for every planned column, prepare both sides, pick the test (Evidently's
 * default unless the options name one), run it (and any extra tests) on the finite values,
 * report the missing-rate change beside it, and decide dataset drift from the share of drifted
 * columns. A column with no usable values on either side is "not_enough_data", never an error.
 */
import { FlywheelError } from "../core/errors.js";
import { sturgesEdges, binCounts } from "../stats/binning.js";
import { binningOf, resolveChoice, type ColumnRole, type DriftOptions, type PlannedColumn } from "./column-mapping.js";
import { prepareColumn, usableCount, type ColumnKind, type Dataset, type PreparedColumn } from "./dataset.js";
import { formatValue } from "./binned.js";
import { defaultTest, PairContext, runTest, STAT_TESTS, testApplies, type StatTestName, type TestOutcome } from "./stattests.js";

/** Evidently's default share of drifted columns for dataset drift. */
export const DEFAULT_DRIFT_SHARE = 0.5;

/** Most categories a report histogram shows before grouping the rest as "(other)". */
const MAX_HISTOGRAM_CATEGORIES = 20;
const MAX_HISTOGRAM_BINS = 40;

export type ColumnStatus = "ok" | "not_enough_data" | "type_mismatch" | "missing_in_current";

/** Rows, missing values and infinities on one side of a column. */
export interface SideSummary {
  readonly kind: ColumnKind;
  readonly rows: number;
  /** Null or NaN values. */
  readonly missing: number;
  /** ±Infinity values (numerical columns). */
  readonly infinite: number;
  /** missing / rows (0 for an empty column). */
  readonly missingShare: number;
  /** Values the tests used (finite or non-missing). */
  readonly used: number;
}

/** A binned summary of both sides for the report: shares per bin, never raw rows. */
export interface ColumnHistogram {
  readonly labels: string[];
  /** Bin edges when the bins are intervals of a numerical column. */
  readonly edges?: number[];
  readonly reference: number[];
  readonly current: number[];
}

export interface ColumnDrift {
  readonly column: string;
  readonly role: ColumnRole;
  readonly kind: ColumnKind;
  readonly status: ColumnStatus;
  /** Why the column was not tested, when status is not "ok". */
  readonly reason?: string;
  /** The verdict test (absent when the column was not tested). */
  readonly result?: TestOutcome;
  /** Further tests asked for with `extraTests`, reported but not deciding the verdict. */
  readonly extra: TestOutcome[];
  readonly drifted: boolean;
  readonly reference: SideSummary;
  readonly current?: SideSummary;
  /** current.missingShare − reference.missingShare. */
  readonly missingShareChange?: number;
  readonly histogram?: ColumnHistogram;
}

export interface DriftReport {
  readonly columns: ColumnDrift[];
  readonly dataset: {
    /** Columns that were tested (status "ok"). */
    readonly tested: number;
    readonly drifted: number;
    /** drifted / tested (0 when nothing was tested). */
    readonly share: number;
    readonly driftShareThreshold: number;
    readonly drift: boolean;
  };
  readonly referenceRows: number;
  readonly currentRows: number;
  /** Columns of the sources that were skipped because of their type. */
  readonly skipped: { column: string; reason: string }[];
}

function sideSummary(c: PreparedColumn): SideSummary {
  const infinite = c.kind === "numerical" ? c.infinite : 0;
  return {
    kind: c.kind,
    rows: c.rows,
    missing: c.missing,
    infinite,
    missingShare: c.rows === 0 ? 0 : c.missing / c.rows,
    used: usableCount(c),
  };
}

function histogram(ref: PreparedColumn, cur: PreparedColumn): ColumnHistogram | undefined {
  if (usableCount(ref) === 0 || usableCount(cur) === 0) return undefined;
  if (ref.kind === "numerical" && cur.kind === "numerical") {
    const min = Math.min(ref.sample.values[0] as number, cur.sample.values[0] as number);
    const max = Math.max(ref.sample.values.at(-1) as number, cur.sample.values.at(-1) as number);
    let edges = sturgesEdges(min, max, ref.sample.n + cur.sample.n);
    if (edges.length - 1 > MAX_HISTOGRAM_BINS) edges = sturgesEdgesCapped(min, max);
    const r = binCounts(ref.sample, edges);
    const c = binCounts(cur.sample, edges);
    const labels: string[] = [];
    for (let i = 0; i + 1 < edges.length; i++) labels.push(`${formatValue(edges[i] as number)}–${formatValue(edges[i + 1] as number)}`);
    return {
      labels,
      edges: Array.from(edges),
      reference: Array.from(r, (v) => v / ref.sample.n),
      current: Array.from(c, (v) => v / cur.sample.n),
    };
  }
  if (ref.kind === "categorical" && cur.kind === "categorical") {
    const total = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const rt = total(ref.counts);
    const ct = total(cur.counts);
    // The most frequent categories (by share, both sides together) first.
    const weight = new Map<string, number>();
    for (const [k, v] of ref.counts) weight.set(k, v / rt);
    for (const [k, v] of cur.counts) weight.set(k, (weight.get(k) ?? 0) + v / ct);
    const keys = [...weight.keys()].sort((a, b) => (weight.get(b) as number) - (weight.get(a) as number));
    const shown = keys.slice(0, MAX_HISTOGRAM_CATEGORIES);
    const rest = keys.slice(MAX_HISTOGRAM_CATEGORIES);
    const labels = [...shown];
    const reference = shown.map((k) => (ref.counts.get(k) ?? 0) / rt);
    const current = shown.map((k) => (cur.counts.get(k) ?? 0) / ct);
    if (rest.length > 0) {
      labels.push(`(${rest.length} other)`);
      reference.push(rest.reduce((s, k) => s + (ref.counts.get(k) ?? 0), 0) / rt);
      current.push(rest.reduce((s, k) => s + (cur.counts.get(k) ?? 0), 0) / ct);
    }
    return { labels, reference, current };
  }
  return undefined;
}

function sturgesEdgesCapped(min: number, max: number): Float64Array {
  const out = new Float64Array(MAX_HISTOGRAM_BINS + 1);
  const step = (max - min) / MAX_HISTOGRAM_BINS;
  for (let i = 0; i <= MAX_HISTOGRAM_BINS; i++) out[i] = i * step + min;
  out[MAX_HISTOGRAM_BINS] = max;
  return out;
}

function checkTest(test: StatTestName, column: PlannedColumn, what: string): void {
  if (!testApplies(test, column.kind)) {
    throw new FlywheelError(
      "FW_REQUEST_INVALID_FIELD",
      `${what}: test '${test}' does not apply to ${column.kind} column '${column.name}' (it takes ${STAT_TESTS[test].kinds.join(" or ")} columns)`,
    );
  }
}

/** Compares one planned column of prepared reference and current data. */
export function columnDrift(
  column: PlannedColumn,
  ref: PreparedColumn,
  cur: PreparedColumn | undefined,
  options: DriftOptions,
): ColumnDrift {
  const base = { column: column.name, role: column.role, kind: column.kind, extra: [] as TestOutcome[], reference: sideSummary(ref) };
  if (cur === undefined) {
    return { ...base, status: "missing_in_current", reason: "the current data has no such column", drifted: false };
  }
  const current = sideSummary(cur);
  const missingShareChange = current.missingShare - base.reference.missingShare;
  if (cur.kind !== ref.kind) {
    return {
      ...base,
      current,
      missingShareChange,
      status: "type_mismatch",
      reason: `the reference column is ${ref.kind} but the current one is ${cur.kind}`,
      drifted: false,
    };
  }
  const withSides = { ...base, current, missingShareChange, histogram: histogram(ref, cur) };
  if (base.reference.used === 0 || current.used === 0) {
    const side = base.reference.used === 0 ? "reference" : "current";
    return { ...withSides, status: "not_enough_data", reason: `the ${side} column has no finite (non-missing) values`, drifted: false };
  }
  const chosen = resolveChoice(options, column);
  let test = chosen.test;
  // A global test applies where it can; a per-type or per-column test that cannot is an error.
  if (test !== undefined && chosen.scope === "global" && !testApplies(test, column.kind)) test = undefined;
  test ??= defaultTest(ref, cur, base.reference.used);
  checkTest(test, column, "drift options");
  const ctx = new PairContext(ref, cur, binningOf(options), options.nBins);
  const result = runTest(test, ctx, chosen.threshold);
  const extra = (options.extraTests ?? [])
    .filter((t) => t !== test && testApplies(t, column.kind))
    .map((t) => runTest(t, ctx));
  if (Number.isNaN(result.score)) {
    return {
      ...withSides,
      extra,
      result,
      status: "not_enough_data",
      reason: `${test} is undefined for these values (too few observations)`,
      drifted: false,
    };
  }
  return { ...withSides, extra, result, status: "ok", drifted: result.drifted };
}

/** Prepares every column of a dataset. */
export function prepareDataset(ds: Dataset): Map<string, PreparedColumn> {
  const out = new Map<string, PreparedColumn>();
  for (const [name, raw] of ds.columns) out.set(name, prepareColumn(raw));
  return out;
}

/** The report over prepared reference and current columns. */
export function driftReport(
  plan: PlannedColumn[],
  reference: ReadonlyMap<string, PreparedColumn>,
  current: ReadonlyMap<string, PreparedColumn>,
  options: DriftOptions,
  rows: { reference: number; current: number },
  skipped: { column: string; reason: string }[] = [],
): DriftReport {
  for (const name of Object.keys(options.perColumn ?? {})) {
    if (!plan.some((c) => c.name === name)) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `drift options: perColumn names column '${name}', which is not compared`);
    }
  }
  const columns = plan.map((c) => {
    const ref = reference.get(c.name);
    if (ref === undefined) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `the reference has no column '${c.name}'`);
    return columnDrift(c, ref, current.get(c.name), options);
  });
  const tested = columns.filter((c) => c.status === "ok").length;
  const drifted = columns.filter((c) => c.drifted).length;
  const share = tested === 0 ? 0 : drifted / tested;
  const threshold = options.driftShare ?? DEFAULT_DRIFT_SHARE;
  return {
    columns,
    dataset: { tested, drifted, share, driftShareThreshold: threshold, drift: tested > 0 && share >= threshold },
    referenceRows: rows.reference,
    currentRows: rows.current,
    skipped,
  };
}
