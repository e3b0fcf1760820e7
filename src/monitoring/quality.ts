/**
 * Data quality of one window against the reference: row count, missing rate (and its change),
 * type changes, out-of-range values, new categories and constant columns, per column, with a
 * verdict and one line per issue.
 *
 * Rules and defaults:
 * - missing: the share of null/NaN values; an issue when it rises by more than
 *   `maxMissingIncrease` (0.05, absolute) over the reference's share;
 * - type change: the column's kind in the window (numeric, text, or a type monitoring cannot
 *   read) differs from its kind in the reference source, or the window lacks the column;
 * - out of range (numerical): finite values below or above the reference bounds, either the
 *   reference min and max (`bounds: "range"`, default) or its quantiles `lower`/`upper`
 *   (`bounds: "quantile"`, default 0.01 and 0.99, NumPy's linear quantile); an issue when their
 *   share exceeds `maxShare` (default 0.01 for range bounds, twice the share expected outside
 *   the quantiles for quantile bounds);
 * - new categories (categorical): values the reference never had; an issue when their share of
 *   the window's values exceeds `maxNewCategoryShare` (default 0);
 * - constant: a column with one distinct value in the window where the reference had several;
 * - rows: an issue when the window has fewer than `minRows` rows (default 0: no check).
 */
import { z } from "zod";
import { quantile } from "../stats/binning.js";
import { rankOf } from "../stats/sample.js";
import type { PlannedColumn } from "./column-mapping.js";
import type { ColumnKind, PreparedColumn, PreparedNumeric } from "./dataset.js";

export const qualityOptionsSchema = z.strictObject({
  minRows: z.number().int().min(0).optional(),
  maxMissingIncrease: z.number().min(0).max(1).optional(),
  outOfRange: z
    .strictObject({
      bounds: z.enum(["range", "quantile"]).optional(),
      lower: z.number().gt(0).lt(0.5).optional(),
      upper: z.number().gt(0.5).lt(1).optional(),
      maxShare: z.number().min(0).max(1).optional(),
    })
    .optional(),
  maxNewCategoryShare: z.number().min(0).max(1).optional(),
  typeChanges: z.boolean().optional(),
  constantColumns: z.boolean().optional(),
});

export type QualityOptions = z.infer<typeof qualityOptionsSchema>;

/** How a column arrived: numeric, text-like, or a type monitoring cannot read (named). */
export type SourceKind = ColumnKind | `unsupported:${string}` | "absent";

export interface OutOfRange {
  readonly bounds: "range" | "quantile";
  readonly lower: number;
  readonly upper: number;
  readonly below: number;
  readonly above: number;
  /** (below + above) / finite values in the window. */
  readonly share: number;
  readonly maxShare: number;
}

export interface NewCategories {
  /** Window values in categories the reference never had. */
  readonly rows: number;
  readonly share: number;
  /** Up to 20 of them, most frequent first. */
  readonly values: string[];
}

export interface ColumnQuality {
  readonly column: string;
  readonly kind: ColumnKind;
  readonly referenceSource: SourceKind;
  readonly currentSource: SourceKind;
  readonly typeChanged: boolean;
  readonly rows: number;
  readonly missing: number;
  readonly missingShare: number;
  readonly referenceMissingShare: number;
  /** ±Infinity values (numerical columns). */
  readonly infinite: number;
  readonly distinct: number;
  readonly constant: boolean;
  readonly outOfRange?: OutOfRange;
  readonly newCategories?: NewCategories;
  readonly issues: string[];
}

export interface QualityReport {
  readonly rows: number;
  readonly referenceRows: number;
  readonly columns: ColumnQuality[];
  /** Every issue, `<column>: <what>` (or `rows: ...`). */
  readonly issues: string[];
  readonly failed: boolean;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function distinctOf(c: PreparedColumn): number {
  return c.kind === "numerical" ? c.distinct : c.counts.size;
}

function outOfRange(ref: PreparedNumeric, cur: PreparedNumeric, o: QualityOptions["outOfRange"]): OutOfRange | undefined {
  if (ref.sample.n === 0) return undefined;
  const bounds = o?.bounds ?? "range";
  const lo = o?.lower ?? 0.01;
  const hi = o?.upper ?? 0.99;
  const lower = bounds === "range" ? (ref.sample.values[0] as number) : quantile(ref.sample, lo);
  const upper = bounds === "range" ? (ref.sample.values.at(-1) as number) : quantile(ref.sample, hi);
  const maxShare = o?.maxShare ?? (bounds === "range" ? 0.01 : 2 * (lo + 1 - hi));
  const n = cur.sample.n;
  const below = n === 0 ? 0 : rankOf(cur.sample, lower, "left");
  const above = n === 0 ? 0 : n - rankOf(cur.sample, upper, "right");
  return { bounds, lower, upper, below, above, share: n === 0 ? 0 : (below + above) / n, maxShare };
}

function newCategories(ref: PreparedColumn, cur: PreparedColumn): NewCategories | undefined {
  if (ref.kind !== "categorical" || cur.kind !== "categorical") return undefined;
  const fresh: [string, number][] = [];
  let used = 0;
  for (const [k, n] of cur.counts) {
    used += n;
    if (!ref.counts.has(k)) fresh.push([k, n]);
  }
  fresh.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const rows = fresh.reduce((s, [, n]) => s + n, 0);
  return { rows, share: used === 0 ? 0 : rows / used, values: fresh.slice(0, 20).map(([k]) => k) };
}

/** One column's quality; `cur` is undefined when the window lacks the column. */
export function columnQuality(
  column: PlannedColumn,
  ref: PreparedColumn,
  cur: PreparedColumn | undefined,
  sources: { reference: SourceKind; current: SourceKind },
  options: QualityOptions,
): ColumnQuality {
  const issues: string[] = [];
  const refMissing = ref.rows === 0 ? 0 : ref.missing / ref.rows;
  const typeChanged = sources.current !== sources.reference;
  if (typeChanged && options.typeChanges !== false) {
    issues.push(sources.current === "absent" ? "missing from the window" : `type changed from ${sources.reference} to ${sources.current}`);
  }
  if (cur === undefined || cur.kind !== ref.kind) {
    return {
      column: column.name,
      kind: column.kind,
      referenceSource: sources.reference,
      currentSource: sources.current,
      typeChanged,
      rows: cur?.rows ?? 0,
      missing: cur?.missing ?? 0,
      missingShare: cur === undefined || cur.rows === 0 ? 0 : cur.missing / cur.rows,
      referenceMissingShare: refMissing,
      infinite: cur?.kind === "numerical" ? cur.infinite : 0,
      distinct: cur === undefined ? 0 : distinctOf(cur),
      constant: false,
      issues,
    };
  }
  const missingShare = cur.rows === 0 ? 0 : cur.missing / cur.rows;
  const maxIncrease = options.maxMissingIncrease ?? 0.05;
  if (cur.rows > 0 && missingShare - refMissing > maxIncrease) {
    issues.push(`missing ${pct(refMissing)} → ${pct(missingShare)} (+${((missingShare - refMissing) * 100).toFixed(1)} points > ${(maxIncrease * 100).toFixed(1)})`);
  }
  const distinct = distinctOf(cur);
  const constant = distinct === 1 && distinctOf(ref) > 1;
  if (constant && options.constantColumns !== false) issues.push("constant in the window (the reference varies)");
  let range: OutOfRange | undefined;
  let fresh: NewCategories | undefined;
  if (ref.kind === "numerical" && cur.kind === "numerical") {
    range = outOfRange(ref, cur, options.outOfRange);
    if (range !== undefined && range.share > range.maxShare) {
      const short = (v: number) => String(Number(v.toPrecision(4)));
      issues.push(`${pct(range.share)} of values outside the reference ${range.bounds} [${short(range.lower)}, ${short(range.upper)}] (> ${pct(range.maxShare)})`);
    }
  } else {
    fresh = newCategories(ref, cur);
    const max = options.maxNewCategoryShare ?? 0;
    if (fresh !== undefined && fresh.rows > 0 && fresh.share > max) {
      issues.push(`${pct(fresh.share)} of values in categories the reference never had (${fresh.values.slice(0, 5).join(", ")}${fresh.values.length > 5 ? ", …" : ""})`);
    }
  }
  return {
    column: column.name,
    kind: column.kind,
    referenceSource: sources.reference,
    currentSource: sources.current,
    typeChanged,
    rows: cur.rows,
    missing: cur.missing,
    missingShare,
    referenceMissingShare: refMissing,
    infinite: cur.kind === "numerical" ? cur.infinite : 0,
    distinct,
    constant,
    ...(range === undefined ? {} : { outOfRange: range }),
    ...(fresh === undefined ? {} : { newCategories: fresh }),
    issues,
  };
}

/** The quality of a window's prepared columns against the reference's. */
export function qualityReport(
  plan: readonly PlannedColumn[],
  reference: ReadonlyMap<string, PreparedColumn>,
  current: ReadonlyMap<string, PreparedColumn>,
  sources: { reference: ReadonlyMap<string, SourceKind>; current: ReadonlyMap<string, SourceKind> },
  rows: { reference: number; current: number },
  options: QualityOptions = {},
): QualityReport {
  const columns: ColumnQuality[] = [];
  const issues: string[] = [];
  const minRows = options.minRows ?? 0;
  if (rows.current < minRows) issues.push(`rows: ${rows.current} in the window, fewer than the minimum ${minRows}`);
  // An empty window says nothing about its columns; only the row count can fail it.
  if (rows.current === 0) return { rows: 0, referenceRows: rows.reference, columns, issues, failed: issues.length > 0 };
  for (const col of plan) {
    const ref = reference.get(col.name);
    if (ref === undefined) continue;
    const cur = current.get(col.name);
    const q = columnQuality(
      col,
      ref,
      cur,
      { reference: sources.reference.get(col.name) ?? col.kind, current: cur === undefined ? "absent" : (sources.current.get(col.name) ?? cur.kind) },
      options,
    );
    columns.push(q);
    for (const i of q.issues) issues.push(`${col.name}: ${i}`);
  }
  return { rows: rows.current, referenceRows: rows.reference, columns, issues, failed: issues.length > 0 };
}
