/**
 * Open Inference Protocol tensors <-> ONNX Runtime tensors. Requests are checked against the
 * model's signature (name, datatype, rank, fixed dimensions, element count, element range)
 * before anything reaches the runtime, with messages that say what was expected.
 */
import type { TensorDtype } from "../onnx/inspect.js";
import { decodeBinaryTensor, type TensorData } from "./binary-tensors.js";
import { badRequest } from "./errors.js";
import { fromFloat16Bits, toFloat16Bits } from "./float16.js";

/** A runtime output: ONNX Runtime's type name, dims and data. */
export interface RuntimeTensor {
  type: string;
  dims: readonly number[];
  data: unknown;
}

export type { TensorData } from "./binary-tensors.js";

/** Datatype names of the Open Inference Protocol, for the element types ONNX Runtime takes. */
export type Datatype = "BOOL" | "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16" | "UINT32" | "UINT64" | "FP16" | "FP32" | "FP64" | "BYTES";

const DATATYPE_OF: Readonly<Record<TensorDtype, Datatype>> = {
  bool: "BOOL",
  int8: "INT8",
  int16: "INT16",
  int32: "INT32",
  int64: "INT64",
  uint8: "UINT8",
  uint16: "UINT16",
  uint32: "UINT32",
  uint64: "UINT64",
  float16: "FP16",
  float32: "FP32",
  float64: "FP64",
  string: "BYTES",
};

const DTYPE_OF = new Map<string, TensorDtype>(Object.entries(DATATYPE_OF).map(([dtype, dt]) => [dt, dtype as TensorDtype]));

export const DATATYPES: readonly Datatype[] = Object.values(DATATYPE_OF);

export function datatypeOf(dtype: TensorDtype): Datatype {
  return DATATYPE_OF[dtype];
}

/** The element type of a protocol datatype name, or undefined for a name that is not one. */
export function dtypeOfDatatype(datatype: string): TensorDtype | undefined {
  return DTYPE_OF.get(datatype);
}

/** One input or output of a served model, as the protocol describes it (-1 for a variable dimension). */
export interface ServingTensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export interface ServingSignature {
  inputs: ServingTensorSpec[];
  outputs: ServingTensorSpec[];
}

/**
 * A request tensor as it arrives (after the JSON structure is checked): JSON `data`, or `binary`
 * bytes from the binary tensor data extension.
 */
export interface RequestTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown;
  binary?: Uint8Array;
}

export type ResponseValue = number | boolean | string;

export interface ResponseTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  data: ResponseValue[];
}

/** What the runtime needs to build a tensor: ONNX Runtime's type name, row-major data and dims. */
export interface TensorValue {
  type: TensorDtype;
  data: TensorData;
  dims: number[];
}

export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

export function describeTensorSpec(spec: ServingTensorSpec): string {
  return `${spec.name} ${spec.datatype} ${describeShape(spec.shape)}`;
}

/** Nested arrays flattened in row-major order; a scalar is a list of one. Iterative, so depth cannot overflow the stack. */
export function flattenData(data: unknown): unknown[] {
  if (!Array.isArray(data)) return [data];
  const out: unknown[] = [];
  const stack: { items: unknown[]; at: number }[] = [{ items: data, at: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { items: unknown[]; at: number };
    if (top.at === top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.at++];
    if (Array.isArray(item)) stack.push({ items: item, at: 0 });
    else out.push(item);
  }
  return out;
}

function product(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

const INT_RANGE = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
} as const;

const INT_ARRAY = { int8: Int8Array, int16: Int16Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array } as const;

const BIG_RANGE = {
  int64: [-(1n << 63n), (1n << 63n) - 1n],
  uint64: [0n, (1n << 64n) - 1n],
} as const;

const SPECIAL_FLOATS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, "-Infinity": Number.NEGATIVE_INFINITY };

/** Converts checked-length JSON values to the typed array of `dtype`; `where` prefixes messages. */
export function toTensorData(dtype: TensorDtype, values: readonly unknown[], where: string): TensorData {
  const bad = (i: number, what: string) => badRequest(`${where}: data[${i}] must be ${what} (got ${show(values[i])})`);
  switch (dtype) {
    case "bool": {
      const out = new Uint8Array(values.length);
      values.forEach((v, i) => {
        if (typeof v !== "boolean") throw bad(i, "true or false");
        out[i] = v ? 1 : 0;
      });
      return out;
    }
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32": {
      const [lo, hi] = INT_RANGE[dtype];
      const out = new INT_ARRAY[dtype](values.length);
      values.forEach((v, i) => {
        if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) throw bad(i, `an integer from ${lo} to ${hi}`);
        out[i] = v;
      });
      return out;
    }
    case "int64":
    case "uint64": {
      const [lo, hi] = BIG_RANGE[dtype];
      const out = dtype === "int64" ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
      const what = `an integer from ${lo} to ${hi} (a JSON number up to 2^53, or a decimal string)`;
      values.forEach((v, i) => {
        let b: bigint;
        if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
        else if (typeof v === "string" && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
        else throw bad(i, what);
        if (b < lo || b > hi) throw bad(i, what);
        out[i] = b;
      });
      return out;
    }
    case "float16":
    case "float32":
    case "float64": {
      const out = dtype === "float16" ? new Uint16Array(values.length) : dtype === "float32" ? new Float32Array(values.length) : new Float64Array(values.length);
      const half = dtype === "float16";
      values.forEach((v, i) => {
        let x: number | undefined;
        if (typeof v === "number") x = v;
        else if (typeof v === "string") x = SPECIAL_FLOATS[v];
        if (x === undefined) throw bad(i, `a number (or "NaN", "Infinity", "-Infinity")`);
        out[i] = half ? toFloat16Bits(x) : x;
      });
      return out;
    }
    case "string": {
      return values.map((v, i) => {
        if (typeof v !== "string") throw bad(i, "a string");
        return v;
      });
    }
  }
}

/**
 * Checks one request tensor against the model's spec and converts it, e.g.
 * "input 'float_input': expected datatype FP32, got FP64".
 */
export function toTensorValue(input: RequestTensor, spec: ServingTensorSpec): TensorValue {
  const where = `input '${input.name}'`;
  if (input.datatype.toUpperCase() !== spec.datatype) {
    throw badRequest(`${where}: expected datatype ${spec.datatype}, got ${input.datatype}`);
  }
  if (!input.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw badRequest(`${where}: shape must list non-negative integers, got ${describeShape(input.shape)}`);
  }
  const fits = input.shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === input.shape[i]);
  if (!fits) throw badRequest(`${where}: expected shape ${describeShape(spec.shape)}, got ${describeShape(input.shape)}`);
  const type = dtypeOfDatatype(spec.datatype) as TensorDtype;
  if (input.binary !== undefined) return { type, data: decodeBinaryTensor(type, input.shape, spec.datatype, input.binary, where), dims: [...input.shape] };
  const values = flattenData(input.data);
  const count = product(input.shape);
  if (values.length !== count) {
    throw badRequest(`${where}: shape ${describeShape(input.shape)} holds ${count} elements, data has ${values.length}`);
  }
  return { type, data: toTensorData(type, values, where), dims: [...input.shape] };
}

/** Checks the request's inputs as a whole (every model input once, nothing else) and converts them. */
export function toFeeds(inputs: readonly RequestTensor[], signature: ServingSignature): Record<string, TensorValue> {
  const specs = new Map(signature.inputs.map((s) => [s.name, s]));
  const feeds: Record<string, TensorValue> = {};
  for (const input of inputs) {
    const spec = specs.get(input.name);
    if (spec === undefined) {
      throw badRequest(`unknown input '${input.name}'; the model takes ${signature.inputs.map(describeTensorSpec).join(", ")}`);
    }
    if (Object.hasOwn(feeds, input.name)) throw badRequest(`input '${input.name}' is given more than once`);
    feeds[input.name] = toTensorValue(input, spec);
  }
  for (const spec of signature.inputs) {
    if (!Object.hasOwn(feeds, spec.name)) throw badRequest(`missing input '${spec.name}' (expected ${spec.datatype} ${describeShape(spec.shape)})`);
  }
  return feeds;
}

/** The index of the first NaN in a float tensor (FP16 as its bits), or -1; other types hold no NaN. */
export function firstNaN(t: TensorValue): number {
  const data = t.data;
  if (t.type === "float32" || t.type === "float64") {
    const values = data as Float32Array | Float64Array;
    for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) return i;
  } else if (t.type === "float16") {
    const bits = data as Uint16Array;
    for (let i = 0; i < bits.length; i++) if (((bits[i] as number) & 0x7c00) === 0x7c00 && ((bits[i] as number) & 0x03ff) !== 0) return i;
  }
  return -1;
}

/** The outputs to compute: the requested ones in the requested order, else all of them in the model's order. */
export function selectOutputs(requested: readonly { name: string }[] | undefined, signature: ServingSignature): string[] {
  const known = signature.outputs.map((o) => o.name);
  if (requested === undefined || requested.length === 0) return known;
  const names: string[] = [];
  for (const { name } of requested) {
    if (!known.includes(name)) throw badRequest(`unknown output '${name}'; the model's outputs are ${known.map((n) => `'${n}'`).join(", ")}`);
    if (names.includes(name)) throw badRequest(`output '${name}' is requested more than once`);
    names.push(name);
  }
  return names;
}

/** The protocol datatype of a runtime output's element type (ONNX Runtime's name). */
export function outputDatatype(name: string, type: string): Datatype {
  const datatype = (DATATYPE_OF as Record<string, Datatype | undefined>)[type];
  if (datatype === undefined) throw new Error(`output '${name}' has element type ${type}, which the protocol cannot carry`);
  return datatype;
}

function floatValue(x: number): number | string {
  if (Number.isFinite(x)) return x;
  return Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
}

/**
 * A runtime tensor as a protocol tensor: int64/uint64 become JSON numbers, FP16 bits become
 * numbers, BOOL becomes true/false, and NaN/±Infinity (which JSON cannot hold) become strings.
 */
export function toResponseTensor(name: string, tensor: { type: string; dims: readonly number[]; data: unknown }): ResponseTensor {
  const datatype = outputDatatype(name, tensor.type);
  const shape = [...tensor.dims];
  const raw = tensor.data;
  let data: ResponseValue[];
  // Plain loops: this runs for every output of every request, and Array.from with a mapping
  // function costs several times as much on small typed arrays.
  if (tensor.type === "bool") {
    const bytes = raw as Uint8Array;
    data = new Array<ResponseValue>(bytes.length);
    for (let i = 0; i < bytes.length; i++) data[i] = bytes[i] !== 0;
  } else if (tensor.type === "string") data = [...(raw as string[])];
  else if (tensor.type === "int64" || tensor.type === "uint64") {
    const ints = raw as BigInt64Array | BigUint64Array;
    data = new Array<ResponseValue>(ints.length);
    for (let i = 0; i < ints.length; i++) data[i] = Number(ints[i]);
  } else if (tensor.type === "float16" && raw instanceof Uint16Array) data = Array.from(raw, (bits) => floatValue(fromFloat16Bits(bits)));
  else if (tensor.type.startsWith("float")) {
    const floats = raw as ArrayLike<number>;
    data = new Array<ResponseValue>(floats.length);
    for (let i = 0; i < floats.length; i++) data[i] = floatValue(floats[i] as number);
  } else data = Array.from(raw as ArrayLike<number>);
  return { name, shape, datatype, data };
}
