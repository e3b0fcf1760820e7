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
 * - `output.<tensor>`: each raw output's value (or flat list) for the row, except what
 *   `prediction` and `proba.*` already hold (the probabilities; the label unless it was mapped to
 *   a class name; a one-value regression output);
 * - `features_from_store`: the features the predict API read from the online store, when any.
 * Non-finite numbers are written as null; 64-bit integers beyond 2^53 as decimal strings.
 */
import type { RuntimeTensor, TensorValue } from "../tensors.js";
import { outputRoles } from "../predictions.js";
import { outputDatatype } from "../tensors.js";
import { json, textAt, valueAt } from "./log-values.js";

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
  for (const name in e.inputs) {
    const t = e.inputs[name] as TensorValue;
    return t.dims.length === 0 ? 1 : (t.dims[0] as number);
  }
  return 0;
}

/** `,"key":` for each column name, kept (names repeat on every row). */
const keyCache = new Map<string, string>();

function keyJson(key: string): string {
  let k = keyCache.get(key);
  if (k === undefined) {
    k = `,${JSON.stringify(key)}:`;
    if (keyCache.size < 10_000) keyCache.set(key, k);
  }
  return k;
}

/** How a tensor is read row by row, as JSON text: one value per row, or a flat list of `width` values. */
interface RowReader {
  /** The column name. */
  key: string;
  text(row: number): string;
}

function rowReader(key: string, t: { type: string; dims: readonly number[]; data: unknown }, rows: number): RowReader | undefined {
  if (t.dims.length === 0) return rows === 1 ? { key, text: () => textAt(t.type, t.data, 0) } : undefined;
  if (t.dims[0] !== rows) return undefined;
  let width = 1;
  for (let d = 1; d < t.dims.length; d++) width *= t.dims[d] as number;
  if (width === 1 && t.dims.length <= 2) return { key, text: (i) => textAt(t.type, t.data, i) };
  return {
    key,
    text: (i) => {
      let out = "[";
      for (let j = 0; j < width; j++) out += (j === 0 ? "" : ",") + textAt(t.type, t.data, i * width + j);
      return `${out}]`;
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
      return features.map((f, j) => ({ key: INPUT_PREFIX + f, text: (i: number) => textAt(t.type, t.data, i * width + j) }));
    }
  }
  return tensors.flatMap(([name, t]) => rowReader(INPUT_PREFIX + name, t, rows) ?? []);
}

interface OutputTensor {
  name: string;
  shape: readonly number[];
  datatype: string;
  tensor: RuntimeTensor;
}

/**
 * The `prediction` and `proba.<class>` columns of a row as JSON text, read from the outputs as
 * `interpret` (predictions.ts) reads them for the predict API, straight from the tensors: the
 * label (a class name when the package has them), else the most probable class, else a
 * one-value regression output; probabilities per class.
 */
function predictionText(roles: ReturnType<typeof outputRoles<OutputTensor>>, classNames: readonly string[] | undefined): (row: number) => string {
  const name = (k: number): string => classNames?.[k] ?? String(k);
  const { label, prob, value } = roles;
  const c = prob === undefined ? 0 : (prob.shape[1] as number);
  const probaKeys = Array.from({ length: c }, (_, k) => keyJson(PROBA_PREFIX + name(k)));
  let labelText: ((i: number) => string) | undefined;
  if (label !== undefined) {
    const { type, data } = label.tensor;
    labelText = (i) => {
      const raw = valueAt(type, data, i);
      return typeof raw === "number" && classNames !== undefined && Number.isInteger(raw) && raw >= 0 && raw < classNames.length ? JSON.stringify(classNames[raw]) : textAt(type, data, i);
    };
  } else if (prob !== undefined) {
    const { type, data } = prob.tensor;
    labelText = (i) => {
      let best = 0;
      for (let k = 1; k < c; k++) if ((valueAt(type, data, i * c + k, true) as number) > (valueAt(type, data, i * c + best, true) as number)) best = k;
      return JSON.stringify(name(best));
    };
  } else if (value !== undefined && (value.shape.length === 1 || value.shape[1] === 1)) {
    const { type, data } = value.tensor;
    labelText = (i) => textAt(type, data, i);
  }
  return (i) => {
    let out = labelText === undefined ? "" : `,"prediction":${labelText(i)}`;
    if (prob !== undefined) for (let k = 0; k < c; k++) out += (probaKeys[k] as string) + textAt(prob.tensor.type, prob.tensor.data, i * c + k);
    return out;
  };
}

/**
 * An epoch-milliseconds time as `new Date(time).toISOString()` prints it, from a prefix kept per
 * minute (entries arrive many per second; formatting a Date each time costs more than encoding a row).
 */
let minuteStart = Number.NaN;
let minutePrefix = "";
function isoOf(time: number): string {
  const t = Math.floor(time);
  const minute = t - (((t % 60_000) + 60_000) % 60_000);
  if (minute !== minuteStart) {
    minuteStart = minute;
    minutePrefix = new Date(minute).toISOString().slice(0, 17);
  }
  const ms = t - minute;
  const sec = Math.floor(ms / 1000);
  const milli = ms % 1000;
  return `${minutePrefix}${sec < 10 ? "0" : ""}${sec}.${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
}

/**
 * The entry as NDJSON: one line (ending in "\n") per row.
 * @example encodeEntry(entry) // '{"request_id":"r1","row":0,"ts":"2024-05-01T10:00:00.000Z",...}\n'
 */
export function encodeEntry(e: InferenceLogEntry): string {
  const rows = entryRows(e);
  const latency = Math.round(e.latencyMs * 1000) / 1000;
  const inputs = inputReaders(e, rows);
  const tensors: OutputTensor[] = e.outputs.map(([name, t]) => ({ name, shape: t.dims, datatype: outputDatatype(name, t.type), tensor: t }));
  const roles = outputRoles(tensors, rows);
  const prediction = predictionText(roles, e.classNames);
  // Raw outputs, except what `prediction` and `proba.*` already hold: the probabilities, a label
  // not mapped to class names, a one-value regression output.
  const repeated = new Set<OutputTensor | undefined>([roles.prob, e.classNames === undefined ? roles.label : undefined]);
  if (roles.value !== undefined && (roles.value.shape.length === 1 || roles.value.shape[1] === 1)) repeated.add(roles.value);
  const outputs = tensors.flatMap((o) => (repeated.has(o) ? [] : (rowReader(OUTPUT_PREFIX + o.name, o.tensor, rows) ?? [])));
  const fromStore = e.featuresFromStore !== undefined && e.featuresFromStore.length > 0 ? `,"features_from_store":${json(e.featuresFromStore)}` : "";
  // Built as text rather than through JSON.stringify of an object per row: this runs for every logged row.
  const head = `{"request_id":${JSON.stringify(e.requestId)},"row":`;
  const common =
    `,"ts":"${isoOf(e.time)}","model":${JSON.stringify(e.model)},"version":${JSON.stringify(e.version)},` +
    `"protocol":"${e.protocol}","latency_ms":${json(latency)}${e.arm === undefined ? "" : `,"arm":${JSON.stringify(e.arm)}`}`;
  const inputKeys = inputs.map((r) => keyJson(r.key));
  const outputKeys = outputs.map((r) => keyJson(r.key));
  let text = "";
  for (let i = 0; i < rows; i++) {
    let line = head + String(i) + common;
    for (let k = 0; k < inputs.length; k++) line += (inputKeys[k] as string) + (inputs[k] as RowReader).text(i);
    line += prediction(i);
    for (let k = 0; k < outputs.length; k++) line += (outputKeys[k] as string) + (outputs[k] as RowReader).text(i);
    text += `${line}${fromStore}}\n`;
  }
  return text;
}
