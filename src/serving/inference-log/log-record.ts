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
import { kindBit, planFor, type PlanInput, type TensorColumn } from "./log-plan.js";
import { json, textAt } from "./log-values.js";
import type { Kind } from "./structure.js";

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

export { INPUT_PREFIX, OUTPUT_PREFIX, PROBA_PREFIX } from "./log-plan.js";

/** What the serving path hands the log: references to tensors it already holds, nothing copied. */
export interface InferenceLogEntry extends PlanInput {
  requestId: string;
  protocol: LogProtocol;
  /** When the request arrived, epoch milliseconds. */
  time: number;
  latencyMs: number;
  inputs: Readonly<Record<string, TensorValue>>;
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

/** An entry encoded: its rows as NDJSON, and what the segment roller needs to know of them. */
export interface EncodedEntry {
  text: string;
  /** The UTC hour of the entry's rows as the roller partitions them (`YYYY-MM-DD/HH`). */
  hour: string;
  /**
   * The structure of the rows, in parts (disjoint columns, merged by the roller), or undefined
   * when a value was not one the encoder describes (the roller then reads the rows' structure itself).
   */
  structure: readonly Readonly<Record<string, Kind>>[] | undefined;
}

const ARM_STRUCTURE: Readonly<Record<string, Kind>> = { arm: "VARCHAR" };
/** `[described]` for each described structure, kept: entries of one shape share one structure list (the log groups them by it). */
const alone = new WeakMap<Readonly<Record<string, Kind>>, readonly Readonly<Record<string, Kind>>[]>();
const FROM_STORE_STRUCTURE: Readonly<Record<string, Kind>> = { features_from_store: ["VARCHAR"] };

/**
 * The entry as NDJSON: one line (ending in "\n") per row.
 * @example encodeEntry(entry) // '{"request_id":"r1","row":0,"ts":"2024-05-01T10:00:00.000Z",...}\n'
 */
export function encodeEntry(e: InferenceLogEntry): string {
  return encodeEntryShaped(e).text;
}

/** `encodeEntry`, with the hour and structure of the rows. */
export function encodeEntryShaped(e: InferenceLogEntry): EncodedEntry {
  const rows = entryRows(e);
  const plan = planFor(e, rows);
  const inputs = Object.values(e.inputs);
  const outputs = e.outputs;
  const latency = Math.round(e.latencyMs * 1000) / 1000;
  const fromStore = e.featuresFromStore !== undefined && e.featuresFromStore.length > 0 ? `,"features_from_store":${json(e.featuresFromStore)}` : "";
  const iso = isoOf(e.time);
  // Built as text rather than through JSON.stringify of an object per row: this runs for every logged row.
  const head = `{"request_id":${JSON.stringify(e.requestId)},"row":`;
  const common =
    `,"ts":"${iso}","model":${JSON.stringify(e.model)},"version":${JSON.stringify(e.version)},` +
    `"protocol":"${e.protocol}","latency_ms":${json(latency)}${e.arm === undefined ? "" : `,"arm":${JSON.stringify(e.arm)}`}`;
  const bits = new Array<number>(plan.columnCount).fill(0);
  const tensorOf = (c: { from: "input" | "output"; tensor: number }): RuntimeTensor =>
    c.from === "input" ? (inputs[c.tensor] as RuntimeTensor) : ((outputs[c.tensor] as readonly [string, RuntimeTensor])[1]);
  const inputTensors = plan.inputs.map(tensorOf);
  const outputTensors = plan.outputs.map(tensorOf);
  const prob = plan.prob === undefined ? undefined : ((outputs[plan.prob.tensor] as readonly [string, RuntimeTensor])[1]);
  let text = "";
  for (let i = 0; i < rows; i++) {
    let line = head + String(i) + common;
    let c = 0;
    for (let k = 0; k < plan.inputs.length; k++, c++) line += valueText(plan.inputs[k] as TensorColumn, inputTensors[k] as RuntimeTensor, i, bits, c);
    if (plan.label !== undefined) {
      const v = plan.labelText(outputs, i);
      bits[c] = (bits[c] as number) | kindBit(v);
      c++;
      line += `,"prediction":${v}`;
    }
    if (plan.prob !== undefined && prob !== undefined) {
      const { classes, keys } = plan.prob;
      for (let k = 0; k < classes; k++, c++) {
        const v = textAt(prob.type, prob.data, i * classes + k);
        bits[c] = (bits[c] as number) | kindBit(v);
        line += (keys[k] as string) + v;
      }
    }
    for (let k = 0; k < plan.outputs.length; k++, c++) line += valueText(plan.outputs[k] as TensorColumn, outputTensors[k] as RuntimeTensor, i, bits, c);
    text += `${line}${fromStore}}\n`;
  }
  const described = rows === 0 ? undefined : plan.structure(bits);
  let structure: readonly Readonly<Record<string, Kind>>[] | undefined;
  if (described !== undefined) {
    if (e.arm === undefined && fromStore === "") {
      structure = alone.get(described);
      if (structure === undefined) {
        structure = [described];
        alone.set(described, structure);
      }
    } else {
      const parts = [described];
      if (e.arm !== undefined) parts.push(ARM_STRUCTURE);
      if (fromStore !== "") parts.push(FROM_STORE_STRUCTURE);
      structure = parts;
    }
  }
  // An hour the roller would not read the same way (a year outside 0000-9999): no structure.
  const hour = `${iso.slice(0, 10)}/${iso.slice(11, 13)}`;
  return { text, hour, structure: iso.length === 24 ? structure : undefined };
}

/** `,"key":value` of a column for row `i`, noting the value's kind (a list's elements' kinds) in `bits[c]`. */
function valueText(col: TensorColumn, t: RuntimeTensor, i: number, bits: number[], c: number): string {
  if (col.width === 0) {
    const v = textAt(t.type, t.data, i * col.stride + col.offset);
    bits[c] = (bits[c] as number) | kindBit(v);
    return col.keyJson + v;
  }
  let out = `${col.keyJson}[`;
  let b = bits[c] as number;
  const at = i * col.stride + col.offset;
  for (let j = 0; j < col.width; j++) {
    const v = textAt(t.type, t.data, at + j);
    b |= kindBit(v);
    out += j === 0 ? v : `,${v}`;
  }
  bits[c] = b;
  return `${out}]`;
}
