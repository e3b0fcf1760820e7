/**
 * One logged prediction and its encoding: a request becomes one flat JSON object per input row,
 * one line each in the log's NDJSON segments, and later one row each in Parquet.
 *
 * Columns of a row (what monitoring reads):
 * - `request_id`, `row` (index within the request), `ts` (request arrival, UTC), `model`,
 *   `version`, `protocol` (`v2`, `v1` or `predict`), `latency_ms` (arrival to outputs ready);
 *   `arm`: the traffic route (`"3"`, `"@champion"`) when the model's traffic policy routed it;
 * - `input.<feature>` per feature of the package's feature list (when its single 2-D input has
 *   one column per feature), else `input.<tensor>`: the row's value, or its values as a flat list;
 * - `prediction` (the label, a class name when the package lists them, or the regression value)
 *   and `proba.<class>` per class, read from the outputs as the predict API reads them;
 * - `output.<tensor>`: each raw output's value (or flat list) for the row;
 * - `features_from_store`: the features the predict API read from the online store, when any.
 * Non-finite numbers are written as null; 64-bit integers beyond 2^53 as decimal strings.
 */
import type { RuntimeTensor, TensorValue } from "../tensors.js";
import { fromFloat16Bits } from "../float16.js";
import { interpret, type OutputValues } from "../predictions.js";
import { outputDatatype } from "../tensors.js";

export type LogProtocol = "v2" | "v1" | "predict";

/** The columns every log row has, with their Parquet (DuckDB) types. */
export const CORE_COLUMNS = {
  request_id: "VARCHAR",
  row: "INTEGER",
  ts: "TIMESTAMPTZ",
  model: "VARCHAR",
  version: "VARCHAR",
  protocol: "VARCHAR",
  latency_ms: "DOUBLE",
} as const;

export const INPUT_PREFIX = "input.";
export const OUTPUT_PREFIX = "output.";
export const PROBA_PREFIX = "proba.";

/** What the serving path hands the log: references to tensors it already holds, nothing copied. */
export interface InferenceLogEntry {
  requestId: string;
  protocol: LogProtocol;
  /** When the request arrived, epoch milliseconds. */
  time: number;
  latencyMs: number;
  model: string;
  version: string;
  /** The package's ordered feature list, when it has one. */
  features?: readonly string[] | undefined;
  classNames?: readonly string[] | undefined;
  inputs: Readonly<Record<string, TensorValue>>;
  outputs: readonly (readonly [string, RuntimeTensor])[];
  featuresFromStore?: readonly string[] | undefined;
  /** The traffic route (deployment arm) the request took, when the model's policy routed it. */
  arm?: string | undefined;
}

/** Rows of an entry: the first dimension of its first input (a scalar input is one row). */
export function entryRows(e: InferenceLogEntry): number {
  for (const t of Object.values(e.inputs)) return t.dims.length === 0 ? 1 : (t.dims[0] as number);
  return 0;
}

/** The shortest decimal that reads back as the same float32, so 5.1f logs as 5.1. */
function float32Value(x: number): number | null {
  if (!Number.isFinite(x)) return null;
  for (let p = 6; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return Number(x.toPrecision(9));
}

/** Element `k` of a tensor as a JSON value (non-finite numbers as null, unless `raw`: then as they are, for reading predictions). */
function valueAt(type: string, data: unknown, k: number, raw = false): unknown {
  switch (type) {
    case "float32": {
      const x = (data as Float32Array)[k] as number;
      return raw && !Number.isFinite(x) ? x : float32Value(x);
    }
    case "float64": {
      const x = (data as Float64Array)[k] as number;
      return raw || Number.isFinite(x) ? x : null;
    }
    case "float16": {
      const x = fromFloat16Bits((data as Uint16Array)[k] as number);
      return raw || Number.isFinite(x) ? x : null;
    }
    case "bool":
      return (data as Uint8Array)[k] !== 0;
    case "int64":
    case "uint64": {
      const b = (data as BigInt64Array)[k] as bigint;
      const n = Number(b);
      return Number.isSafeInteger(n) ? n : b.toString();
    }
    case "string":
      return (data as string[])[k];
    default:
      return (data as ArrayLike<number>)[k];
  }
}

/** How a tensor is read row by row: one value per row, or a flat list of `width` values. */
interface RowReader {
  key: string;
  read(row: number): unknown;
}

function rowReader(key: string, t: { type: string; dims: readonly number[]; data: unknown }, rows: number): RowReader | undefined {
  if (t.dims.length === 0) return rows === 1 ? { key, read: () => valueAt(t.type, t.data, 0) } : undefined;
  if (t.dims[0] !== rows) return undefined;
  let width = 1;
  for (let d = 1; d < t.dims.length; d++) width *= t.dims[d] as number;
  if (width === 1 && t.dims.length <= 2) return { key, read: (i) => valueAt(t.type, t.data, i) };
  return {
    key,
    read: (i) => {
      const out = new Array<unknown>(width);
      for (let j = 0; j < width; j++) out[j] = valueAt(t.type, t.data, i * width + j);
      return out;
    },
  };
}

function inputReaders(e: InferenceLogEntry, rows: number): RowReader[] {
  const tensors = Object.entries(e.inputs);
  const [only, ...more] = tensors;
  const features = e.features;
  if (features !== undefined && only !== undefined && more.length === 0) {
    const [, t] = only;
    if (t.dims.length === 2 && t.dims[0] === rows && t.dims[1] === features.length) {
      const width = features.length;
      return features.map((f, j) => ({ key: INPUT_PREFIX + f, read: (i: number) => valueAt(t.type, t.data, i * width + j) }));
    }
  }
  return tensors.flatMap(([name, t]) => rowReader(INPUT_PREFIX + name, t, rows) ?? []);
}

/** The outputs as plain values, for reading labels and probabilities. */
function outputValues(outputs: InferenceLogEntry["outputs"]): OutputValues[] {
  return outputs.map(([name, t]) => {
    let size = 1;
    for (const d of t.dims) size *= d;
    const data = new Array<unknown>(size);
    for (let k = 0; k < size; k++) data[k] = valueAt(t.type, t.data, k, t.type.startsWith("float"));
    return { name, shape: t.dims, datatype: outputDatatype(name, t.type), data };
  });
}

/**
 * The entry as NDJSON: one line (ending in "\n") per row.
 * @example encodeEntry(entry) // '{"request_id":"r1","row":0,"ts":"2024-05-01T10:00:00.000Z",...}\n'
 */
export function encodeEntry(e: InferenceLogEntry): string {
  const rows = entryRows(e);
  const ts = new Date(e.time).toISOString();
  const latency = Math.round(e.latencyMs * 1000) / 1000;
  const inputs = inputReaders(e, rows);
  const outputs = e.outputs.flatMap(([name, t]) => rowReader(OUTPUT_PREFIX + name, t, rows) ?? []);
  const predictions = interpret(outputValues(e.outputs), rows, e.classNames);
  const fromStore = e.featuresFromStore !== undefined && e.featuresFromStore.length > 0 ? e.featuresFromStore : undefined;
  let text = "";
  for (let i = 0; i < rows; i++) {
    const rec: Record<string, unknown> = { request_id: e.requestId, row: i, ts, model: e.model, version: e.version, protocol: e.protocol, latency_ms: latency };
    if (e.arm !== undefined) rec.arm = e.arm;
    for (const r of inputs) rec[r.key] = r.read(i);
    const p = predictions[i];
    if (p?.label !== undefined) rec.prediction = p.label;
    else if (typeof p?.value === "number") rec.prediction = Number.isFinite(p.value) ? p.value : null;
    if (p?.probabilities !== undefined) {
      for (const [c, v] of Object.entries(p.probabilities)) rec[PROBA_PREFIX + c] = Number.isFinite(v) ? v : null;
    }
    for (const r of outputs) rec[r.key] = r.read(i);
    if (fromStore !== undefined) rec.features_from_store = fromStore;
    text += JSON.stringify(rec) + "\n";
  }
  return text;
}
