/**
 * Reference profiles: what the drift engine needs from a reference dataset, computed once (per
 * model version) and stored as JSON, so each monitoring window is compared against it without
 * rereading the reference data.
 *
 * Exactness. A numerical column keeps its finite values run-length encoded (distinct values and
 * their counts, as base64 float64), which is exact and small for discrete data and for up to
 * `exactLimit` distinct values (100,000 by default, ~1.6 MB). Every test then gives the same
 * value as on the raw data. Above that limit the profile keeps an equal-mass sketch of
 * `sketchSize` quantiles (10,000 by default) instead; KS, Wasserstein, energy distance, the rank
 * tests and Sturges-binned measures are then computed from the sketch and reported with
 * `approximate: true` (the KS statistic is within 1/sketchSize of the exact one). Two things stay
 * exact whatever the size: reference-quantile bins (their counts are taken on the full data at
 * profiling time, for `quantileBins` bins) and everything categorical (counts per category), as
 * well as the mean, standard deviation, row, missing and infinite counts.
 */
import { z } from "zod";
import { FlywheelError } from "../core/errors.js";
import { binCounts, quantileEdges } from "../stats/binning.js";
import { runLengths, type SortedSample } from "../stats/sample.js";
import type { ColumnMapping, PlannedColumn } from "./column-mapping.js";
import type { Dataset, PreparedColumn, PreparedNumeric } from "./dataset.js";
import { DEFAULT_QUANTILE_BINS } from "./binned.js";
import { prepareDataset } from "./drift.js";
import { conformDataset } from "./conform.js";

export const PROFILE_FORMAT = "flywheel.reference-profile/v1";

export interface ProfileOptions {
  /** Keep the values exactly up to this many distinct values per column. */
  readonly exactLimit?: number;
  /** Quantiles kept per column above the limit. */
  readonly sketchSize?: number;
  /** Reference-quantile bins counted on the full data. */
  readonly quantileBins?: number;
}

const numericSchema = z.strictObject({
  kind: z.literal("numerical"),
  rows: z.number().int().min(0),
  missing: z.number().int().min(0),
  infinite: z.number().int().min(0),
  n: z.number().int().min(0),
  distinct: z.number().int().min(0),
  mean: z.number().nullable(),
  std: z.number().nullable(),
  exact: z.boolean(),
  /** base64 little-endian float64: the distinct values (or sketch points), ascending. */
  values: z.string(),
  /** base64 little-endian float64: how many observations each value stands for. */
  counts: z.string(),
  quantileBins: z.strictObject({
    nBins: z.number().int().min(1),
    /** The inner edges; the outer bins are open (−∞ and +∞). */
    innerEdges: z.array(z.number()),
    counts: z.array(z.number().min(0)),
  }),
});

const categoricalSchema = z.strictObject({
  kind: z.literal("categorical"),
  rows: z.number().int().min(0),
  missing: z.number().int().min(0),
  counts: z.record(z.string(), z.number().int().min(0)),
});

const plannedSchema = z.strictObject({
  name: z.string(),
  role: z.enum(["feature", "target", "prediction"]),
  kind: z.enum(["numerical", "categorical"]),
});

export const referenceProfileSchema = z.strictObject({
  format: z.literal(PROFILE_FORMAT),
  createdAt: z.string(),
  rows: z.number().int().min(0),
  columns: z.array(plannedSchema),
  data: z.record(z.string(), z.discriminatedUnion("kind", [numericSchema, categoricalSchema])),
  skipped: z.array(z.strictObject({ column: z.string(), reason: z.string() })),
});

export type ReferenceProfile = z.infer<typeof referenceProfileSchema>;
type NumericProfile = z.infer<typeof numericSchema>;

function toBase64(a: Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
}

function fromBase64(s: string, what: string): Float64Array {
  const buf = Buffer.from(s, "base64");
  if (buf.byteLength % 8 !== 0) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `reference profile: ${what} is not a float64 array`);
  const out = new Float64Array(buf.byteLength / 8);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** An equal-mass sketch: `k` order statistics at ranks ⌊(i + ½)·n/k⌋, each standing for n/k values. */
function sketch(sorted: Float64Array, k: number): { values: Float64Array; counts: Float64Array } {
  const n = sorted.length;
  const pts = new Float64Array(k);
  for (let i = 0; i < k; i++) pts[i] = sorted[Math.min(n - 1, Math.floor(((i + 0.5) * n) / k))] as number;
  const rl = runLengths(pts);
  const w = n / k;
  return { values: rl.values, counts: rl.counts.map((c) => c * w) };
}

function numericProfile(c: PreparedNumeric, exactLimit: number, sketchSize: number, nBins: number): NumericProfile {
  const sorted = c.sample.values;
  const exact = c.distinct <= exactLimit;
  const stored = exact ? runLengths(sorted) : sketch(sorted, sketchSize);
  const edges = c.sample.n === 0 ? Float64Array.from([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]) : quantileEdges(c.sample, nBins);
  return {
    kind: "numerical",
    rows: c.rows,
    missing: c.missing,
    infinite: c.infinite,
    n: c.sample.n,
    distinct: c.distinct,
    mean: Number.isFinite(c.mean) ? c.mean : null,
    std: Number.isFinite(c.std) ? c.std : null,
    exact,
    values: toBase64(stored.values),
    counts: toBase64(stored.counts),
    quantileBins: { nBins, innerEdges: Array.from(edges.subarray(1, edges.length - 1)), counts: Array.from(binCounts(c.sample, edges)) },
  };
}

/** Profiles a reference dataset for the columns the mapping selects. */
export function buildProfile(reference: Dataset, mapping: ColumnMapping = {}, options: ProfileOptions = {}): ReferenceProfile {
  const exactLimit = options.exactLimit ?? 100_000;
  const sketchSize = options.sketchSize ?? 10_000;
  const nBins = options.quantileBins ?? mapping.drift?.nBins ?? DEFAULT_QUANTILE_BINS;
  if (!Number.isInteger(sketchSize) || sketchSize < 2) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "sketchSize must be an integer of at least 2");
  const { plan, data, skipped } = conformDataset(reference, mapping);
  const prepared = prepareDataset(data);
  const out: ReferenceProfile["data"] = {};
  for (const col of plan) {
    const c = prepared.get(col.name) as PreparedColumn;
    out[col.name] =
      c.kind === "numerical"
        ? numericProfile(c, exactLimit, sketchSize, nBins)
        : { kind: "categorical", rows: c.rows, missing: c.missing, counts: Object.fromEntries(c.counts) };
  }
  return { format: PROFILE_FORMAT, createdAt: new Date().toISOString(), rows: reference.rows, columns: plan, data: out, skipped };
}

/** Validates a parsed profile document. */
export function parseProfile(raw: unknown): ReferenceProfile {
  const res = referenceProfileSchema.safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? "(root)" : issue.path.join(".");
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `reference profile: ${path}: ${issue?.message ?? "invalid"}`);
  }
  for (const c of res.data.columns) {
    if (res.data.data[c.name]?.kind !== c.kind) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `reference profile: data.${c.name}: missing or not ${c.kind}`);
    }
  }
  return res.data;
}

/** The profile's columns in the form the drift engine compares. */
export function profileColumns(profile: ReferenceProfile): { plan: PlannedColumn[]; columns: Map<string, PreparedColumn> } {
  const columns = new Map<string, PreparedColumn>();
  for (const [name, c] of Object.entries(profile.data)) {
    if (c.kind === "categorical") {
      columns.set(name, { kind: "categorical", rows: c.rows, missing: c.missing, counts: new Map(Object.entries(c.counts)) });
      continue;
    }
    const values = fromBase64(c.values, `data.${name}.values`);
    const counts = fromBase64(c.counts, `data.${name}.counts`);
    if (counts.length !== values.length) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `reference profile: data.${name}: values and counts differ in length`);
    const sample: SortedSample = { values, counts, n: c.n };
    const qb = c.quantileBins;
    columns.set(name, {
      kind: "numerical",
      rows: c.rows,
      missing: c.missing,
      infinite: c.infinite,
      sample,
      distinct: c.distinct,
      mean: c.mean ?? Number.NaN,
      std: c.std ?? Number.NaN,
      exact: c.exact,
      quantileBins: {
        nBins: qb.nBins,
        edges: Float64Array.from([Number.NEGATIVE_INFINITY, ...qb.innerEdges, Number.POSITIVE_INFINITY]),
        counts: Float64Array.from(qb.counts),
      },
    });
  }
  return { plan: profile.columns.map((c) => ({ ...c })), columns };
}

