/**
 * The column mapping and drift options: which columns are features, target and prediction, which
 * are numerical or categorical, which are ignored, and which test and threshold apply — globally,
 * per column type, or per column (the most specific wins). Read from JSON or YAML; Evidently's
 * snake_case names (`numerical_features`, `drift_share`, `per_column` …) are accepted too.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { FlywheelError } from "../core/errors.js";
import type { BinningScheme } from "./binned.js";
import type { ColumnKind } from "./dataset.js";
import { STAT_TEST_NAMES, type StatTestName } from "./stattests.js";

const testName = z.enum(STAT_TEST_NAMES);
const choice = z.strictObject({
  test: testName.optional(),
  threshold: z.number().finite().optional(),
});

export const driftOptionsSchema = z.strictObject({
  /** Dataset drift when drifted columns / tested columns ≥ this share. */
  driftShare: z.number().gt(0).lte(1).optional(),
  test: testName.optional(),
  threshold: z.number().finite().optional(),
  perType: z.strictObject({ numerical: choice.optional(), categorical: choice.optional() }).optional(),
  perColumn: z.record(z.string(), choice).optional(),
  /** Tests reported beside the verdict test on every column they apply to. */
  extraTests: z.array(testName).optional(),
  binning: z.enum(["sturges", "quantile"]).optional(),
  nBins: z.number().int().min(1).max(10_000).optional(),
});

export const columnMappingSchema = z.strictObject({
  target: z.string().optional(),
  prediction: z.union([z.string(), z.array(z.string())]).optional(),
  /** "classification" makes the target categorical; prediction columns keep their data's kind. */
  task: z.enum(["classification", "regression"]).optional(),
  id: z.string().optional(),
  datetime: z.string().optional(),
  numericalFeatures: z.array(z.string()).optional(),
  categoricalFeatures: z.array(z.string()).optional(),
  ignore: z.array(z.string()).optional(),
  drift: driftOptionsSchema.optional(),
});

export type DriftOptions = z.infer<typeof driftOptionsSchema>;
export type ColumnMapping = z.infer<typeof columnMappingSchema>;

export type ColumnRole = "feature" | "target" | "prediction";

/** A column the drift report covers. */
export interface PlannedColumn {
  readonly name: string;
  readonly role: ColumnRole;
  readonly kind: ColumnKind;
}

const SNAKE: Record<string, string> = {
  numerical_features: "numericalFeatures",
  categorical_features: "categoricalFeatures",
  drift_share: "driftShare",
  stattest: "test",
  stattest_threshold: "threshold",
  per_type: "perType",
  per_column: "perColumn",
  extra_tests: "extraTests",
  n_bins: "nBins",
};

/** Renames snake_case keys at one level (column names inside perColumn are left alone). */
function camel(obj: unknown): unknown {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return obj;
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [SNAKE[k] ?? k, v]));
}

function normalize(raw: unknown): unknown {
  const top = camel(raw);
  if (top === null || typeof top !== "object" || Array.isArray(top)) return top;
  const t = top as Record<string, unknown>;
  if (t.drift !== undefined) {
    const d = camel(t.drift) as Record<string, unknown>;
    if (d !== null && typeof d === "object") {
      if (d.perType !== null && typeof d.perType === "object") {
        d.perType = Object.fromEntries(Object.entries(d.perType as object).map(([k, v]) => [k, camel(v)]));
      }
      if (d.perColumn !== null && typeof d.perColumn === "object") {
        d.perColumn = Object.fromEntries(Object.entries(d.perColumn as object).map(([k, v]) => [k, camel(v)]));
      }
    }
    t.drift = d;
  }
  return t;
}

/** Validates a column mapping object; a bad field is a FlywheelError naming the field and the rule. */
export function parseColumnMapping(raw: unknown, source = "column mapping"): ColumnMapping {
  const res = columnMappingSchema.safeParse(normalize(raw ?? {}));
  if (!res.success) {
    const issue = res.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? "(root)" : issue.path.join(".");
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `${source}: ${path}: ${issue?.message ?? "invalid"}`);
  }
  return res.data;
}

/** Reads a column mapping from a .json, .yaml or .yml file. */
export async function readColumnMapping(path: string): Promise<ColumnMapping> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `column mapping ${path} cannot be read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `column mapping ${path} is not valid JSON/YAML: ${(e as Error).message}`);
  }
  return parseColumnMapping(raw, `column mapping ${path}`);
}

/**
 * The columns to compare, from the reference's columns (name → kind read from the data) and the
 * mapping: features first (the explicit lists if given, else every other supported column),
 * then the target and the prediction columns. Unknown names in the mapping are errors.
 */
export function planColumns(available: ReadonlyMap<string, ColumnKind>, mapping: ColumnMapping = {}): PlannedColumn[] {
  const need = (name: string, field: string) => {
    if (!available.has(name)) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `column mapping: ${field} names column '${name}', which the reference does not have (or has an unsupported type)`);
    }
  };
  const predictions = mapping.prediction === undefined ? [] : Array.isArray(mapping.prediction) ? mapping.prediction : [mapping.prediction];
  const special = new Set<string>([...predictions, ...(mapping.ignore ?? [])]);
  for (const k of [mapping.target, mapping.id, mapping.datetime]) if (k !== undefined) special.add(k);
  if (mapping.target !== undefined) need(mapping.target, "target");
  predictions.forEach((p) => need(p, "prediction"));
  mapping.numericalFeatures?.forEach((c) => need(c, "numericalFeatures"));
  mapping.categoricalFeatures?.forEach((c) => need(c, "categoricalFeatures"));
  for (const c of mapping.numericalFeatures ?? []) {
    if (available.get(c) !== "numerical") {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `column mapping: numericalFeatures: column '${c}' is not numeric in the reference`);
    }
  }
  const explicit = mapping.numericalFeatures !== undefined || mapping.categoricalFeatures !== undefined;
  const forcedCategorical = new Set(mapping.categoricalFeatures ?? []);
  const out: PlannedColumn[] = [];
  for (const [name, kind] of available) {
    if (special.has(name)) continue;
    if (explicit) {
      if (forcedCategorical.has(name)) out.push({ name, role: "feature", kind: "categorical" });
      else if (mapping.numericalFeatures?.includes(name) === true) out.push({ name, role: "feature", kind: "numerical" });
      else if (mapping.numericalFeatures === undefined && kind === "numerical") out.push({ name, role: "feature", kind });
      else if (mapping.categoricalFeatures === undefined && kind === "categorical") out.push({ name, role: "feature", kind });
    } else out.push({ name, role: "feature", kind });
  }
  const classification = mapping.task === "classification";
  if (mapping.target !== undefined) {
    out.push({ name: mapping.target, role: "target", kind: classification ? "categorical" : (available.get(mapping.target) as ColumnKind) });
  }
  for (const p of predictions) out.push({ name: p, role: "prediction", kind: available.get(p) as ColumnKind });
  return out;
}

/**
 * The test and threshold for one column: per column, then per type, then global (the caller
 * falls back to the default choice when none is set, or when a global test does not fit the
 * column's kind).
 */
export function resolveChoice(
  options: DriftOptions,
  column: PlannedColumn,
): { test: StatTestName | undefined; scope: "column" | "type" | "global" | undefined; threshold: number | undefined } {
  const perColumn = options.perColumn?.[column.name];
  const perType = options.perType?.[column.kind];
  const scope =
    perColumn?.test !== undefined ? "column" : perType?.test !== undefined ? "type" : options.test !== undefined ? "global" : undefined;
  return {
    test: perColumn?.test ?? perType?.test ?? options.test,
    scope,
    threshold: perColumn?.threshold ?? perType?.threshold ?? options.threshold,
  };
}

/** The binning scheme the options ask for. */
export function binningOf(options: DriftOptions): BinningScheme {
  return options.binning ?? "sturges";
}
