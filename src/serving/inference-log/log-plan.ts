/**
 * How the entries of one model version are encoded, worked out once and reused: which column each
 * tensor element goes to, which outputs hold the label and probabilities, and the JSON text of
 * the column names. Entries of the same model, version and tensor layout (names, element types,
 * dimensions after the first) share a plan, so encoding an entry is a loop over its values.
 *
 * While it writes a row the encoder also notes what kind of JSON value each column held (number,
 * string, boolean, null; the elements' kind for lists). Those kinds are the row's structure as
 * DuckDB's `json_structure` reports it (integers as DOUBLE), so the segment roller can type the
 * Parquet columns without parsing every row again (see structure.ts).
 */
import { outputRoles } from "../predictions.js";
import { outputDatatype, type RuntimeTensor } from "../tensors.js";
import type { Kind } from "./structure.js";
import { textAt, valueAt } from "./log-values.js";

export const INPUT_PREFIX = "input.";
export const OUTPUT_PREFIX = "output.";
export const PROBA_PREFIX = "proba.";

/** What a plan needs of an entry (the model, its version, and the tensors' layout). */
export interface PlanInput {
  model: string;
  version: string;
  /** The package's ordered feature list, when it has one. */
  features?: readonly string[] | undefined;
  classNames?: readonly string[] | undefined;
  inputs: Readonly<Record<string, RuntimeTensor>>;
  outputs: readonly (readonly [string, RuntimeTensor])[];
}

/** One column of values read from a tensor: element `row * stride + offset`, or `width` of them from there as a list. */
export interface TensorColumn {
  key: string;
  /** `,"key":` */
  keyJson: string;
  from: "input" | "output";
  tensor: number;
  stride: number;
  offset: number;
  /** 0: one value; else a list of this many values. */
  width: number;
}

/** Kind bits of a JSON value, merged as `json_structure` merges them. */
const NULL_BIT = 1;
const NUMBER_BIT = 2;
const STRING_BIT = 4;
const BOOLEAN_BIT = 8;
/** A nested list or object: never written by the encoder; a row with one is not described. */
const OTHER_BIT = 16;

/** The kind bit of a JSON value's text, from its first character. */
export function kindBit(text: string): number {
  switch (text.charCodeAt(0)) {
    case 110: // null
      return NULL_BIT;
    case 34: // "
      return STRING_BIT;
    case 116: // true
    case 102: // false
      return BOOLEAN_BIT;
    case 91: // [
    case 123: // {
      return OTHER_BIT;
    default:
      return NUMBER_BIT;
  }
}

/** The merged kind of values with these bits: NULL gives way to anything; two different kinds are JSON. */
function kindOfBits(bits: number): Kind {
  switch (bits & ~NULL_BIT) {
    case 0:
      return "NULL";
    case NUMBER_BIT:
      return "DOUBLE";
    case STRING_BIT:
      return "VARCHAR";
    case BOOLEAN_BIT:
      return "BOOLEAN";
    default:
      return "JSON";
  }
}

export class LogPlan {
  /** Value columns in row order: inputs, then `prediction` and `proba.*`, then raw outputs. */
  readonly inputs: TensorColumn[] = [];
  readonly outputs: TensorColumn[] = [];
  /** The label's tensor (an output index) and whether it maps class ids to names; or the most probable class; or a regression value. */
  readonly label: { kind: "label" | "argmax" | "value"; tensor: number } | undefined;
  readonly prob: { tensor: number; classes: number; keys: string[] } | undefined;
  /** Structures already built, by the kind bits of their columns. */
  private readonly shapes = new Map<string, Readonly<Record<string, Kind>>>();

  constructor(e: PlanInput, rows: number) {
    this.features = e.features;
    this.classNames = e.classNames;
    const inputs = Object.entries(e.inputs);
    const [only, ...more] = inputs;
    const features = e.features;
    const [, firstInput] = only ?? [];
    if (features !== undefined && firstInput !== undefined && more.length === 0 && firstInput.dims.length === 2 && firstInput.dims[0] === rows && firstInput.dims[1] === features.length) {
      features.forEach((f, j) => this.inputs.push(column(INPUT_PREFIX + f, "input", 0, features.length, j, 0)));
    } else {
      inputs.forEach(([name, t], k) => {
        const c = tensorColumn(INPUT_PREFIX + name, "input", k, t, rows);
        if (c !== undefined) this.inputs.push(c);
      });
    }
    const shaped = e.outputs.map(([name, t], k) => ({ name, shape: t.dims, datatype: outputDatatype(name, t.type), k }));
    const roles = outputRoles(shaped, rows);
    const { label, prob, value } = roles;
    const name = (k: number): string => e.classNames?.[k] ?? String(k);
    if (prob !== undefined) {
      const classes = prob.shape[1] as number;
      this.prob = { tensor: prob.k, classes, keys: Array.from({ length: classes }, (_, k) => keyJson(PROBA_PREFIX + name(k))) };
    }
    const regression = value !== undefined && (value.shape.length === 1 || value.shape[1] === 1);
    if (label !== undefined) this.label = { kind: "label", tensor: label.k };
    else if (prob !== undefined) this.label = { kind: "argmax", tensor: prob.k };
    else if (regression) this.label = { kind: "value", tensor: value.k };
    // Raw outputs, except what `prediction` and `proba.*` already hold: the probabilities, a label
    // not mapped to class names, a one-value regression output.
    const repeated = new Set<number | undefined>([prob?.k, e.classNames === undefined ? label?.k : undefined, regression ? value.k : undefined]);
    e.outputs.forEach(([o, t], k) => {
      if (repeated.has(k)) return;
      const c = tensorColumn(OUTPUT_PREFIX + o, "output", k, t, rows);
      if (c !== undefined) this.outputs.push(c);
    });
    this.columnCount = this.inputs.length + (this.label === undefined ? 0 : 1) + (this.prob?.classes ?? 0) + this.outputs.length;
  }

  readonly features: readonly string[] | undefined;
  readonly classNames: readonly string[] | undefined;
  /** Value columns a row has (each gets a kind). */
  readonly columnCount: number;

  /** Whether `e`, whose tensors have this plan's layout, has its feature and class lists too. */
  fits(e: PlanInput): boolean {
    return e.features === this.features && e.classNames === this.classNames;
  }

  /** The label column's text for row `i`. */
  labelText(outputs: readonly (readonly [string, RuntimeTensor])[], i: number): string {
    const l = this.label as { kind: "label" | "argmax" | "value"; tensor: number };
    const { type, data } = (outputs[l.tensor] as readonly [string, RuntimeTensor])[1];
    if (l.kind === "argmax") {
      const c = (this.prob as { classes: number }).classes;
      let best = 0;
      for (let k = 1; k < c; k++) if ((valueAt(type, data, i * c + k, true) as number) > (valueAt(type, data, i * c + best, true) as number)) best = k;
      return JSON.stringify(this.classNames?.[best] ?? String(best));
    }
    if (l.kind === "label" && this.classNames !== undefined) {
      const raw = valueAt(type, data, i);
      if (typeof raw === "number" && Number.isInteger(raw) && raw >= 0 && raw < this.classNames.length) return JSON.stringify(this.classNames[raw]);
    }
    return textAt(type, data, i);
  }

  /**
   * The structure of rows whose columns held values of these kind bits (`bits[c]` for column c in
   * row order; a list column's bits are its elements'), or undefined when a column held a nested
   * value (not described here: the roller then reads the segment's structure itself).
   */
  structure(bits: readonly number[]): Readonly<Record<string, Kind>> | undefined {
    // Most rows of a model have the kinds of the row before: no key string to build for them.
    const last = this.lastBits;
    if (last !== undefined && last.length === bits.length && last.every((b, i) => b === bits[i])) return this.lastShape;
    const shape = this.shapeOf(bits);
    this.lastBits = [...bits];
    this.lastShape = shape;
    return shape;
  }

  private lastBits: number[] | undefined;
  private lastShape: Readonly<Record<string, Kind>> | undefined;

  private shapeOf(bits: readonly number[]): Readonly<Record<string, Kind>> | undefined {
    const id = bits.join(",");
    const known = this.shapes.get(id);
    if (known !== undefined) return known;
    if (bits.some((b) => (b & OTHER_BIT) !== 0)) return undefined;
    const out: Record<string, Kind> = {};
    let c = 0;
    const add = (key: string, list: boolean) => {
      const kind = kindOfBits(bits[c++] as number);
      out[key] = list ? [kind] : kind;
    };
    for (const col of this.inputs) add(col.key, col.width > 0);
    if (this.label !== undefined) add("prediction", false);
    for (let k = 0; k < (this.prob?.classes ?? 0); k++) add(PROBA_PREFIX + (this.classNames?.[k] ?? String(k)), false);
    for (const col of this.outputs) add(col.key, col.width > 0);
    if (this.shapes.size < 64) this.shapes.set(id, out);
    return out;
  }
}

/** `,"key":` for each column name, kept (names repeat on every row). */
const keyCache = new Map<string, string>();

export function keyJson(key: string): string {
  let k = keyCache.get(key);
  if (k === undefined) {
    k = `,${JSON.stringify(key)}:`;
    if (keyCache.size < 10_000) keyCache.set(key, k);
  }
  return k;
}

function column(key: string, from: "input" | "output", tensor: number, stride: number, offset: number, width: number): TensorColumn {
  return { key, keyJson: keyJson(key), from, tensor, stride, offset, width };
}

/** A tensor read row by row: one value per row, or a flat list per row; undefined when its first dimension is not the rows. */
function tensorColumn(key: string, from: "input" | "output", k: number, t: RuntimeTensor, rows: number): TensorColumn | undefined {
  if (t.dims.length === 0) return rows === 1 ? column(key, from, k, 0, 0, 0) : undefined;
  if (t.dims[0] !== rows) return undefined;
  let width = 1;
  for (let d = 1; d < t.dims.length; d++) width *= t.dims[d] as number;
  if (width === 1 && t.dims.length <= 2) return column(key, from, k, 1, 0, 0);
  return column(key, from, k, width, 0, width);
}

/** A tensor's name, element type and dimensions, as a plan was built for them. */
interface Layout {
  name: string;
  type: string;
  dims: readonly number[];
}

/** A plan with what it was built for: the version, the rows of that entry and its tensors' layouts. */
interface Built {
  plan: LogPlan;
  version: string;
  rows: number;
  inputs: Layout[];
  outputs: Layout[];
}

/** Whether a tensor has the layout a plan was built for (the first dimension only as "rows or not"). */
function sameLayout(name: string, t: RuntimeTensor, l: Layout, rows: number, builtRows: number): boolean {
  if (name !== l.name || t.type !== l.type || t.dims.length !== l.dims.length) return false;
  for (let d = 0; d < t.dims.length; d++) {
    const a = t.dims[d] as number;
    const b = l.dims[d] as number;
    if (d === 0 ? (a === rows) !== (b === builtRows) || (a !== rows && a !== b) : a !== b) return false;
  }
  return true;
}

/** Whether an entry of `rows` rows is encoded by `b`'s plan: same version, feature and class lists, tensor layouts. */
function fits(b: Built, e: PlanInput, rows: number): boolean {
  if (b.version !== e.version || (b.rows === 1) !== (rows === 1) || !b.plan.fits(e) || e.outputs.length !== b.outputs.length) return false;
  let k = 0;
  for (const name in e.inputs) {
    const l = b.inputs[k++];
    if (l === undefined || !sameLayout(name, e.inputs[name] as RuntimeTensor, l, rows, b.rows)) return false;
  }
  if (k !== b.inputs.length) return false;
  for (let j = 0; j < e.outputs.length; j++) {
    const [name, t] = e.outputs[j] as readonly [string, RuntimeTensor];
    if (!sameLayout(name, t, b.outputs[j] as Layout, rows, b.rows)) return false;
  }
  return true;
}

const layoutsOf = (list: readonly (readonly [string, RuntimeTensor])[]): Layout[] => list.map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] }));

/** Plans by model, the last used first (most entries of a model have its last entry's layout). */
const plans = new Map<string, Built[]>();
const MAX_MODELS = 1000;
const MAX_PLANS_PER_MODEL = 16;

/** The plan for an entry of `rows` rows, built on first use. */
export function planFor(e: PlanInput, rows: number): LogPlan {
  let built = plans.get(e.model);
  if (built === undefined) {
    if (plans.size >= MAX_MODELS) plans.clear();
    built = [];
    plans.set(e.model, built);
  }
  const i = built.findIndex((b) => fits(b, e, rows));
  if (i === 0) return (built[0] as Built).plan;
  const b = i > 0 ? (built.splice(i, 1)[0] as Built) : { plan: new LogPlan(e, rows), version: e.version, rows, inputs: layoutsOf(Object.entries(e.inputs)), outputs: layoutsOf(e.outputs) };
  built.unshift(b);
  if (built.length > MAX_PLANS_PER_MODEL) built.pop();
  return b.plan;
}
