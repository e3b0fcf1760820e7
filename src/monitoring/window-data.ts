/**
 * A window of the inference log as monitoring needs it, read through the log's reader (which
 * joins the latest label to each row by request id): the input features as drift columns
 * (numeric ones streamed into Float64Arrays, text ones counted by DuckDB with a GROUP BY), and the
 * model's outputs row by row — predicted label or value, probabilities per class, and the label
 * when one has arrived — for performance and CBPE.
 */
import type { InferenceLogReader, LogWindow } from "../serving/inference-log/reader.js";
import { INPUT_PREFIX, PROBA_PREFIX } from "../serving/inference-log/log-record.js";
import { OfflineDb, quoteIdentifier, type ColumnInfo } from "../storage/offline/duckdb.js";
import type { ColumnKind, Dataset, RawColumn } from "./dataset.js";
import type { SourceKind } from "./quality.js";
import { kindOfType } from "./read-dataset.js";
import type { TimeWindow } from "./window.js";

const TABLE = "monitor_window";

/** The model's outputs for every row of a window, in log order. */
export interface WindowOutputs {
  readonly rows: number;
  /** "numerical" for a regression value, "categorical" for a predicted label, "absent" when none was logged. */
  readonly predictionKind: "numerical" | "categorical" | "absent";
  /** Predicted labels as text (numbers as JavaScript prints them); null where missing. */
  readonly prediction: (string | null)[];
  /** Predicted values, NaN where missing or not numeric. */
  readonly predictionValue: Float64Array;
  readonly label: (string | null)[];
  readonly labelValue: Float64Array;
  /** Rows with a label. */
  readonly labelled: number;
  /** Probability columns in the model's class order. */
  readonly probabilities: { readonly classes: string[]; readonly values: Float64Array[] } | undefined;
  /** Rows per model version. */
  readonly versions: Record<string, number>;
}

export interface WindowData {
  readonly window: TimeWindow;
  readonly rows: number;
  /** The columns asked for, named as the reference names them. */
  readonly dataset: Dataset;
  /** How each asked-for column arrived in the log (its kind, an unreadable type, or absent). */
  readonly sources: Map<string, SourceKind>;
  readonly outputs: WindowOutputs;
}

export interface WindowRequest {
  readonly model: string;
  readonly window: TimeWindow;
  readonly version?: string | undefined;
  /** Log column → reference column name, e.g. `input.age` → `age`, `prediction` → `churn_pred`. */
  readonly columns: ReadonlyMap<string, string>;
  /** The kind each reference column must be read as (a numeric log column may be counted as categories). */
  readonly kinds: ReadonlyMap<string, ColumnKind>;
}

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : null;
  if (typeof v === "bigint") return v.toString();
  return String(v);
}

function numeric(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && v.trim() !== "") return Number(v);
  return Number.NaN;
}

/** How a column arrived; numbers count as categories where categories are asked for. */
function sourceOf(info: ColumnInfo | undefined, wanted: ColumnKind | undefined): SourceKind {
  if (info === undefined) return "absent";
  const kind = kindOfType(info.type);
  if (kind === undefined) return `unsupported:${info.type}`;
  return wanted === "categorical" ? "categorical" : kind;
}

/** A column as category text; whole numbers print without a fraction (1, not 1.0), as JavaScript prints them. */
function categorySql(column: string, numeric: boolean): string {
  const q = quoteIdentifier(column);
  if (!numeric) return `CAST(${q} AS VARCHAR)`;
  const d = `CAST(${q} AS DOUBLE)`;
  return `CASE WHEN isfinite(${d}) AND ${d} = trunc(${d}) AND abs(${d}) < 1e15 THEN CAST(CAST(${d} AS BIGINT) AS VARCHAR) WHEN isfinite(${d}) THEN CAST(${d} AS VARCHAR) END`;
}

async function readOutputs(db: OfflineDb, info: ColumnInfo[], rows: number): Promise<WindowOutputs> {
  const has = (name: string) => info.find((c) => c.name === name);
  const pred = has("prediction");
  const label = has("label");
  const probaCols = info.filter((c) => c.name.startsWith(PROBA_PREFIX));
  const predictionKind = pred === undefined ? "absent" : kindOfType(pred.type) === "numerical" ? "numerical" : "categorical";
  const select = [
    pred === undefined ? "NULL" : quoteIdentifier("prediction"),
    label === undefined ? "NULL" : quoteIdentifier("label"),
    "version",
    ...probaCols.map((c) => `TRY_CAST(${quoteIdentifier(c.name)} AS DOUBLE)`),
  ];
  const out = {
    prediction: new Array<string | null>(rows),
    predictionValue: new Float64Array(rows),
    label: new Array<string | null>(rows),
    labelValue: new Float64Array(rows),
    proba: probaCols.map(() => new Float64Array(rows)),
  };
  const versions: Record<string, number> = {};
  let labelled = 0;
  let i = 0;
  const result = await db.stream(`SELECT ${select.join(", ")} FROM ${TABLE}`);
  for (let chunk = await result.next(); chunk !== null; chunk = await result.next()) {
    const cols = select.map((_, j) => chunk.getColumnVector(j));
    for (let r = 0; r < chunk.rowCount; r++, i++) {
      const p = cols[0]?.getItem(r);
      const l = cols[1]?.getItem(r);
      out.prediction[i] = text(p);
      out.predictionValue[i] = numeric(p);
      out.label[i] = text(l);
      out.labelValue[i] = numeric(l);
      if (out.label[i] !== null) labelled++;
      const v = String(cols[2]?.getItem(r));
      versions[v] = (versions[v] ?? 0) + 1;
      for (let k = 0; k < probaCols.length; k++) {
        const x = cols[3 + k]?.getItem(r);
        (out.proba[k] as Float64Array)[i] = x === null || x === undefined ? Number.NaN : Number(x);
      }
    }
  }
  return {
    rows: i,
    predictionKind,
    prediction: out.prediction.slice(0, i),
    predictionValue: out.predictionValue.subarray(0, i),
    label: out.label.slice(0, i),
    labelValue: out.labelValue.subarray(0, i),
    labelled,
    probabilities: probaCols.length === 0 ? undefined : { classes: probaCols.map((c) => c.name.slice(PROBA_PREFIX.length)), values: out.proba.map((a) => a.subarray(0, i)) },
    versions,
  };
}

async function readColumns(db: OfflineDb, info: ColumnInfo[], req: WindowRequest, rows: number): Promise<{ columns: Map<string, RawColumn>; sources: Map<string, SourceKind> }> {
  const columns = new Map<string, RawColumn>();
  const sources = new Map<string, SourceKind>();
  const numeric: [string, string][] = [];
  for (const [logName, refName] of req.columns) {
    const c = info.find((x) => x.name === logName);
    const source = sourceOf(c, req.kinds.get(refName));
    sources.set(refName, source);
    if (c === undefined || source.startsWith("unsupported:")) continue;
    if (source === "numerical") numeric.push([logName, refName]);
    else {
      const counted = await db.query(`SELECT ${categorySql(logName, kindOfType(c.type) === "numerical")} AS k, count(*) AS n FROM ${TABLE} GROUP BY 1`);
      const counts = new Map<string, number>();
      let missing = 0;
      for (const r of counted) {
        const n = Number(r.n);
        if (r.k === null || r.k === undefined) missing += n;
        else counts.set(String(r.k), n);
      }
      columns.set(refName, { kind: "categorical", counts, missing });
    }
  }
  if (numeric.length > 0) {
    const arrays = numeric.map(() => new Float64Array(rows));
    const result = await db.stream(`SELECT ${numeric.map(([l]) => `CAST(${quoteIdentifier(l)} AS DOUBLE)`).join(", ")} FROM ${TABLE}`);
    let offset = 0;
    for (let chunk = await result.next(); chunk !== null; chunk = await result.next()) {
      for (let j = 0; j < numeric.length; j++) {
        const vec = chunk.getColumnVector(j);
        const a = arrays[j] as Float64Array;
        for (let r = 0; r < chunk.rowCount; r++) {
          const v = vec.getItem(r);
          a[offset + r] = v === null ? Number.NaN : (v as number);
        }
      }
      offset += chunk.rowCount;
    }
    numeric.forEach(([, refName], j) => columns.set(refName, { kind: "numerical", values: (arrays[j] as Float64Array).subarray(0, offset) }));
  }
  return { columns, sources };
}

/**
 * Reads one window of a model's log. With `features: false` only the outputs are read (what a
 * performance backfill of an earlier window needs).
 * @example await loadWindow(reader, { model: "churn", window, columns: new Map([["input.age", "age"]]), kinds }, { features: true })
 */
export async function loadWindow(reader: InferenceLogReader, req: WindowRequest, options: { features: boolean }): Promise<WindowData> {
  const db = await OfflineDb.open({ threads: 1 });
  try {
    const lw: LogWindow = { model: req.model, since: new Date(req.window.start), until: new Date(req.window.end), version: req.version };
    const { rows, columns: info } = await reader.load(db, lw, TABLE);
    const outputs = await readOutputs(db, info, rows);
    if (!options.features) return { window: req.window, rows, dataset: { rows, columns: new Map() }, sources: new Map(), outputs };
    const { columns, sources } = await readColumns(db, info, req, rows);
    return { window: req.window, rows, dataset: { rows, columns }, sources, outputs };
  } finally {
    db.close();
  }
}

/** The log column of a feature. */
export function inputColumn(feature: string): string {
  return INPUT_PREFIX + feature;
}

/** The log column of a class's probability. */
export function probaColumn(cls: string): string {
  return PROBA_PREFIX + cls;
}
