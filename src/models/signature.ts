/**
 * Model signatures as MLflow defines them (`mlflow.models.ModelSignature`): a tensor-based or a
 * column-based schema of inputs and outputs, plus optional inference params. In an MLmodel each
 * part is a JSON string: `[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32",
 * "shape": [-1, 4]}}]` (TensorSpec.to_dict) or `[{"type": "double", "name": "x", "required":
 * true}]` (ColSpec.to_dict).
 */
import type { OnnxSignature, TensorDtype, TensorSpec as GraphTensor } from "../onnx/inspect.js";
import {
  FieldError,
  child,
  describe,
  optional,
  readInteger,
  readList,
  readMapping,
  readString,
} from "./fields.js";
import type { Mapping } from "./fields.js";
import { pythonJsonDumps } from "./python-json.js";

/** One tensor of a tensor-based schema (MLflow's TensorSpec). */
export interface SignatureTensor {
  type: "tensor";
  /** Required when the schema has more than one tensor. */
  name?: string;
  /** NumPy dtype name as MLflow writes it: float32, float64, int64, bool, ... (`object` for strings). */
  dtype: string;
  /** One entry per dimension, -1 for a variable one. */
  shape: number[];
}

/** One column of a column-based schema (MLflow's ColSpec). */
export interface SignatureColumn {
  type: "column";
  name?: string;
  /** MLflow data type: boolean, integer, long, float, double, string, binary, datetime, or array/object/map/any. */
  dataType: string;
  required: boolean;
  /** The rest of a composite type's definition as MLflow wrote it (`items`, `properties`, `values`). */
  definition?: Mapping;
}

export type SignatureSpec = SignatureTensor | SignatureColumn;

/** An inference parameter (MLflow's ParamSpec). */
export interface SignatureParam {
  name: string;
  /** MLflow data type of the value. */
  type: string;
  default: unknown;
  /** null for a scalar, [-1] for a list. */
  shape: number[] | null;
}

/** A model signature; a schema holds only tensors or only columns. */
export interface Signature {
  inputs?: SignatureSpec[];
  outputs?: SignatureSpec[];
  params?: SignatureParam[];
}

/** The MLflow dtype name of each ONNX element type (ONNX strings are NumPy `object` arrays). */
const NUMPY_NAME: Readonly<Record<TensorDtype, string>> = {
  bool: "bool",
  int8: "int8",
  int16: "int16",
  int32: "int32",
  int64: "int64",
  uint8: "uint8",
  uint16: "uint16",
  uint32: "uint32",
  uint64: "uint64",
  float16: "float16",
  float32: "float32",
  float64: "float64",
  string: "object",
};

/** The NumPy dtype name MLflow writes for an ONNX element type. */
export function numpyDtypeOf(dtype: TensorDtype): string {
  return NUMPY_NAME[dtype];
}

/**
 * The ONNX element type a NumPy dtype name stands for, or undefined when none does. Text dtypes
 * (`object`, `str`, `<U0`, `|S0`, `bytes`) are strings; `string` (the ONNX name) is accepted too.
 */
export function tensorDtypeOf(numpyName: string): TensorDtype | undefined {
  for (const [onnx, numpy] of Object.entries(NUMPY_NAME) as [TensorDtype, string][]) {
    if (numpyName === numpy || numpyName === onnx) return onnx;
  }
  if (/^(str|bytes|[<>|=]?[US]\d*)$/.test(numpyName)) return "string";
  return undefined;
}

/** The signature MLflow would infer for the graph: one named tensor per input and output. */
export function signatureFromGraph(graph: OnnxSignature): Signature {
  const spec = (t: GraphTensor): SignatureTensor => ({
    type: "tensor",
    name: t.name,
    dtype: numpyDtypeOf(t.dtype),
    shape: [...t.shape],
  });
  return { inputs: graph.inputs.map(spec), outputs: graph.outputs.map(spec) };
}

// ---- Reading ----

function readShape(value: unknown, field: string): number[] {
  return readList(value, field).map((d, i) => readInteger(d, child(field, i), -1));
}

function readTensor(raw: Mapping, field: string): SignatureTensor {
  // MLflow's form nests dtype and shape under "tensor-spec"; the SDK form has them at the top.
  const nested = raw["tensor-spec"] !== undefined;
  const body = nested ? readMapping(raw["tensor-spec"], child(field, "tensor-spec")) : raw;
  const bodyField = nested ? child(field, "tensor-spec") : field;
  const name = optional(raw.name, child(field, "name"), (v, f) => readString(v, f, { nonEmpty: true }));
  return {
    type: "tensor",
    ...(name === undefined ? {} : { name }),
    dtype: readString(body.dtype, child(bodyField, "dtype"), { nonEmpty: true }),
    shape: readShape(body.shape, child(bodyField, "shape")),
  };
}

function readColumn(raw: Mapping, field: string): SignatureColumn {
  // SDK form: {type: "column", dataType}; MLflow form: {type: "double"} or {type: "array", items}.
  const sdkForm = raw.type === "column";
  const dataType = readString(sdkForm ? raw.dataType : raw.type, child(field, sdkForm ? "dataType" : "type"), {
    nonEmpty: true,
  });
  const name = optional(raw.name, child(field, "name"), (v, f) => readString(v, f, { nonEmpty: true }));
  const required = raw.required === undefined ? true : raw.required;
  if (typeof required !== "boolean") {
    throw new FieldError(child(field, "required"), `must be true or false (got ${describe(required)})`);
  }
  // The rest of a composite type: nested under `definition` in the SDK form, beside `type` in MLflow's.
  const source = sdkForm ? optional(raw.definition, child(field, "definition"), readMapping) ?? {} : raw;
  const rest = Object.entries(source).filter(([k]) => !["type", "name", "required"].includes(k));
  return {
    type: "column",
    ...(name === undefined ? {} : { name }),
    dataType,
    required,
    ...(rest.length === 0 ? {} : { definition: Object.fromEntries(rest) }),
  };
}

function readSpec(value: unknown, field: string): SignatureSpec {
  const raw = readMapping(value, field);
  const type = readString(raw.type, child(field, "type"), { nonEmpty: true });
  return type === "tensor" ? readTensor(raw, field) : readColumn(raw, field);
}

/** A JSON string (as in an MLmodel) or an already-decoded list. */
function decoded(value: unknown, field: string): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as unknown;
  } catch (e) {
    throw new FieldError(field, `is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Reads one schema (inputs or outputs) and checks MLflow's rules: one kind, names all or none, unique. */
export function readSchema(value: unknown, field: string): SignatureSpec[] {
  const specs = readList(decoded(value, field), field).map((s, i) => readSpec(s, child(field, i)));
  if (specs.length === 0) throw new FieldError(field, "must list at least one input or output");
  const kinds = new Set(specs.map((s) => s.type));
  if (kinds.size > 1) throw new FieldError(field, "mixes tensors and columns; a schema holds only one kind");
  const named = specs.filter((s) => s.name !== undefined).length;
  if (named !== 0 && named !== specs.length) {
    throw new FieldError(field, "mixes named and unnamed entries; name all of them or none");
  }
  if (named === 0 && specs.length > 1 && specs[0]?.type === "tensor") {
    throw new FieldError(field, "has several unnamed tensors; tensors must be named when there is more than one");
  }
  const seen = new Set<string>();
  for (const [i, s] of specs.entries()) {
    if (s.name === undefined) continue;
    if (seen.has(s.name)) throw new FieldError(child(field, i), `repeats the name '${s.name}'`);
    seen.add(s.name);
  }
  return specs;
}

function readParam(value: unknown, field: string): SignatureParam {
  const raw = readMapping(value, field);
  const shape = raw.shape === undefined || raw.shape === null ? null : readShape(raw.shape, child(field, "shape"));
  return {
    name: readString(raw.name, child(field, "name"), { nonEmpty: true }),
    type: readString(raw.type, child(field, "type"), { nonEmpty: true }),
    default: raw.default ?? null,
    shape,
  };
}

export function readParams(value: unknown, field: string): SignatureParam[] {
  return readList(decoded(value, field), field).map((p, i) => readParam(p, child(field, i)));
}

/**
 * Reads a signature: MLflow's `ModelSignature.to_dict()` form (inputs/outputs/params as JSON
 * strings, as in an MLmodel or a JSON file), the same with decoded lists, or the SDK's
 * {@link Signature} objects. Throws FieldError naming the bad field (paths start at `field`).
 */
export function readSignature(value: unknown, field = "signature"): Signature {
  const raw = readMapping(value, field);
  const inputs = optional(raw.inputs, child(field, "inputs"), readSchema);
  const outputs = optional(raw.outputs, child(field, "outputs"), readSchema);
  const params = optional(raw.params, child(field, "params"), readParams);
  if (inputs === undefined && outputs === undefined && params === undefined) {
    throw new FieldError(field, "must declare inputs, outputs or params");
  }
  return {
    ...(inputs === undefined ? {} : { inputs }),
    ...(outputs === undefined ? {} : { outputs }),
    ...(params === undefined || params.length === 0 ? {} : { params }),
  };
}

// ---- Writing ----

function specToMlflow(s: SignatureSpec): Mapping {
  if (s.type === "tensor") {
    const tensorSpec = { dtype: s.dtype, shape: s.shape };
    return s.name === undefined
      ? { type: "tensor", "tensor-spec": tensorSpec }
      : { name: s.name, type: "tensor", "tensor-spec": tensorSpec };
  }
  return {
    type: s.dataType,
    ...s.definition,
    ...(s.name === undefined ? {} : { name: s.name }),
    required: s.required,
  };
}

/** MLflow's `Schema.to_json()`: the JSON string an MLmodel holds for inputs or outputs. */
export function schemaToJson(specs: SignatureSpec[]): string {
  return pythonJsonDumps(specs.map(specToMlflow));
}

/** MLflow's `ModelSignature.to_dict()`: inputs, outputs and params as JSON strings (or null). */
export function signatureToDict(sig: Signature): { inputs: string | null; outputs: string | null; params: string | null } {
  return {
    inputs: sig.inputs === undefined ? null : schemaToJson(sig.inputs),
    outputs: sig.outputs === undefined ? null : schemaToJson(sig.outputs),
    params:
      sig.params === undefined || sig.params.length === 0
        ? null
        : pythonJsonDumps(sig.params.map((p) => ({ name: p.name, type: p.type, default: p.default, shape: p.shape }))),
  };
}

/** A one-line summary, e.g. `float_input float32 [-1, 4]`. */
export function describeSpec(s: SignatureSpec): string {
  const name = s.name ?? "(unnamed)";
  if (s.type === "tensor") return `${name} ${s.dtype} [${s.shape.join(", ")}]`;
  return `${name} ${s.dataType}${s.required ? "" : " (optional)"}`;
}

/** Reads a signature from JSON text (any form {@link readSignature} takes); throws FieldError. */
export function parseSignatureJson(text: string): Signature {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (e) {
    throw new FieldError("signature", `is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return readSignature(value);
}
