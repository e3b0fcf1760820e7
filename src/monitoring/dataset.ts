/**
 * Columns as the drift engine sees them. A numerical column arrives as a Float64Array (missing
 * values as NaN) and is prepared once: non-finite values dropped and counted, the finite values
 * sorted (shared by KS, Wasserstein and binning), mean and standard deviation computed. A
 * categorical column is its category counts (DuckDB counts them with a GROUP BY).
 */
import { distinctCount, finiteSorted, meanStd, runLengths, type SortedSample } from "../stats/sample.js";

export type ColumnKind = "numerical" | "categorical";

/** A column read from a file or built in memory, before preparation. */
export type RawColumn =
  | { readonly kind: "numerical"; readonly values: Float64Array }
  | {
      readonly kind: "categorical";
      /** Non-missing values and how often each occurs. */
      readonly counts: ReadonlyMap<string, number>;
      /** Missing (null) values. */
      readonly missing: number;
    };

/** A table of columns, every column covering the same `rows`. */
export interface Dataset {
  readonly rows: number;
  readonly columns: ReadonlyMap<string, RawColumn>;
  /** Columns present in the source but of a type drift cannot use (dates, lists, blobs …), with the type. */
  readonly unsupported?: ReadonlyMap<string, string>;
}

/** A numerical column ready for the tests. */
export interface PreparedNumeric {
  readonly kind: "numerical";
  /** Rows in the column, including missing and infinite values. */
  readonly rows: number;
  /** NaN or null values. */
  readonly missing: number;
  /** +Infinity or −Infinity values (dropped before the tests, like missing ones). */
  readonly infinite: number;
  /** The finite values, sorted (possibly run-length encoded, or a sketch when `exact` is false). */
  readonly sample: SortedSample;
  /** Distinct finite values (a lower bound of 1 + limit when `exact` is false). */
  readonly distinct: number;
  readonly mean: number;
  /** Population standard deviation (ddof 0). */
  readonly std: number;
  /** False when `sample` is an equal-mass quantile sketch of a larger reference. */
  readonly exact: boolean;
  /** Reference-quantile bins counted on the full data (stored with a reference profile). */
  readonly quantileBins?: StoredQuantileBins | undefined;
}

/** Quantile-bin counts stored with a reference profile (exact even when the values are sketched). */
export interface StoredQuantileBins {
  readonly nBins: number;
  readonly edges: Float64Array;
  readonly counts: Float64Array;
}

/** A categorical column ready for the tests. */
export interface PreparedCategorical {
  readonly kind: "categorical";
  readonly rows: number;
  readonly missing: number;
  /** Non-missing counts per category. */
  readonly counts: ReadonlyMap<string, number>;
}

export type PreparedColumn = PreparedNumeric | PreparedCategorical;

/** Number of finite (numerical) or non-missing (categorical) values: what the tests see. */
export function usableCount(c: PreparedColumn): number {
  if (c.kind === "numerical") return c.sample.n;
  let n = 0;
  for (const v of c.counts.values()) n += v;
  return n;
}

/** A raw numerical column (missing values as NaN). */
export function numericColumn(values: ArrayLike<number>): RawColumn {
  return { kind: "numerical", values: values instanceof Float64Array ? values : Float64Array.from(values) };
}

/** A raw categorical column from its values (null or undefined is missing). */
export function categoricalColumn(values: Iterable<string | number | boolean | null | undefined>): RawColumn {
  const counts = new Map<string, number>();
  let missing = 0;
  for (const v of values) {
    if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v))) missing++;
    else {
      const k = String(v);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return { kind: "categorical", counts, missing };
}

/** A Dataset from named raw columns; every numerical column must have `rows` values. */
export function dataset(columns: Record<string, RawColumn>): Dataset {
  const map = new Map(Object.entries(columns));
  let rows: number | undefined;
  for (const [name, c] of map) {
    const n = c.kind === "numerical" ? c.values.length : c.missing + [...c.counts.values()].reduce((a, b) => a + b, 0);
    if (rows !== undefined && n !== rows) throw new RangeError(`column ${name} has ${n} rows, others ${rows}`);
    rows = n;
  }
  return { rows: rows ?? 0, columns: map };
}

/** Prepares a raw column: drops and counts non-finite values, sorts, summarises. */
export function prepareColumn(c: RawColumn): PreparedColumn {
  if (c.kind === "categorical") {
    let n = 0;
    for (const v of c.counts.values()) n += v;
    return { kind: "categorical", rows: n + c.missing, missing: c.missing, counts: c.counts };
  }
  const { sorted, dropped } = finiteSorted(c.values);
  const sample: SortedSample = { values: sorted, n: sorted.length };
  const { mean, std } = meanStd(sample);
  return {
    kind: "numerical",
    rows: c.values.length,
    missing: dropped.nan,
    infinite: dropped.infinite,
    sample,
    distinct: distinctCount(sample),
    mean,
    std,
    exact: true,
  };
}

/** Counts per distinct value of a numerical column, keyed by the value. */
export function valueCounts(c: PreparedNumeric): Map<number, number> {
  const out = new Map<number, number>();
  const s = c.sample;
  if (s.counts !== undefined) {
    s.values.forEach((v, i) => out.set(v, s.counts![i] as number));
    return out;
  }
  const rl = runLengths(s.values);
  rl.values.forEach((v, i) => out.set(v, rl.counts[i] as number));
  return out;
}
