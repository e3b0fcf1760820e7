/**
 * Build ONNX models (ModelProto bytes) from a plain description of the graph.
 *
 * Field numbers and enum values follow onnx/onnx.proto:
 *
 * - ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7,
 *   opset_import=8, metadata_props=14
 * - OperatorSetIdProto: domain=1, version=2
 * - StringStringEntryProto: key=1, value=2
 * - GraphProto: node=1, name=2, initializer=5, doc_string=10, input=11, output=12
 * - NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, doc_string=6, domain=7
 * - AttributeProto: name=1, f=2, i=3, s=4, floats=7, ints=8, strings=9, type=20
 *   (AttributeType FLOAT=1, INT=2, STRING=3, FLOATS=6, INTS=7, STRINGS=8)
 * - TensorProto: dims=1, data_type=2, float_data=4 (packed), int32_data=5 (packed),
 *   int64_data=7 (packed), name=8, double_data=10 (packed)
 * - ValueInfoProto: name=1, type=2, doc_string=3
 * - TypeProto: tensor_type=1, sequence_type=4, map_type=5;
 *   TypeProto.Tensor: elem_type=1, shape=2; TypeProto.Sequence: elem_type=1;
 *   TypeProto.Map: key_type=1, value_type=2
 * - TensorShapeProto: dim=1; Dimension: dim_value=1, dim_param=2
 * - TensorProto.DataType: FLOAT=1, UINT8=2, INT8=3, UINT16=4, INT16=5, INT32=6, INT64=7,
 *   STRING=8, BOOL=9, FLOAT16=10, DOUBLE=11, UINT32=12, UINT64=13
 */
import type { TensorDtype } from "./inspect.js";
import { ProtoWriter } from "./protobuf.js";

/** ONNX `TensorProto.DataType` code of each element type. */
export const ONNX_DATA_TYPE: Readonly<Record<TensorDtype, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
};

/** The default ("ai.onnx") operator domain. */
export const DEFAULT_DOMAIN = "";
/** The traditional-ML operator domain (LinearClassifier, TreeEnsembleClassifier, ZipMap...). */
export const ML_DOMAIN = "ai.onnx.ml";
export const DEFAULT_IR_VERSION = 8;
export const DEFAULT_OPSET = 17;
export const DEFAULT_ML_OPSET = 3;
export const DEFAULT_PRODUCER_NAME = "flywheel";

/**
 * One dimension of a tensor shape: a number is a fixed size (dim_value), a string a named
 * symbolic size such as "N" (dim_param), `null` an unknown size (a Dimension with neither).
 */
export type Dim = number | string | null;

/** The type of a graph input or output. */
export type ValueType =
  | {
      readonly kind: "tensor";
      readonly elemType: TensorDtype;
      /** Omit for a tensor of unknown rank. */
      readonly shape?: readonly Dim[];
    }
  | { readonly kind: "sequence"; readonly elem: ValueType }
  | { readonly kind: "map"; readonly keyType: TensorDtype; readonly value: ValueType };

export interface ValueInfoSpec {
  readonly name: string;
  readonly type: ValueType;
  readonly docString?: string;
}

/** A graph input/output holding a tensor. */
export function tensorInfo(name: string, elemType: TensorDtype, shape?: readonly Dim[]): ValueInfoSpec {
  return shape === undefined
    ? { name, type: { kind: "tensor", elemType } }
    : { name, type: { kind: "tensor", elemType, shape } };
}

/** A node attribute. */
export type AttributeValue =
  | { readonly type: "int"; readonly value: number | bigint }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "ints"; readonly value: readonly (number | bigint)[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "strings"; readonly value: readonly string[] };

/** Constructors for {@link AttributeValue}s. */
export const attr = {
  int: (value: number | bigint): AttributeValue => ({ type: "int", value }),
  float: (value: number): AttributeValue => ({ type: "float", value }),
  string: (value: string): AttributeValue => ({ type: "string", value }),
  ints: (value: readonly (number | bigint)[]): AttributeValue => ({ type: "ints", value }),
  floats: (value: readonly number[]): AttributeValue => ({ type: "floats", value }),
  strings: (value: readonly string[]): AttributeValue => ({ type: "strings", value }),
} as const;

export interface NodeSpec {
  readonly opType: string;
  /** Input value names; "" stands for an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Operator domain; "" (the default) is ai.onnx. */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly docString?: string;
}

/** A named constant tensor. `values` is row-major with product(dims) elements. */
export type InitializerSpec =
  | {
      readonly name: string;
      readonly dtype: "float32";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number>;
    }
  | {
      readonly name: string;
      readonly dtype: "float64";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number>;
    }
  | {
      readonly name: string;
      readonly dtype: "int64";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number | bigint>;
    }
  | {
      readonly name: string;
      readonly dtype: "int32";
      readonly dims: readonly number[];
      readonly values: ArrayLike<number>;
    };

export interface GraphSpec {
  readonly name: string;
  /** In topological order: every node input is a graph input, initializer or earlier output. */
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly InitializerSpec[];
  readonly inputs: readonly ValueInfoSpec[];
  readonly outputs: readonly ValueInfoSpec[];
  readonly docString?: string;
}

export interface OpsetImport {
  readonly domain: string;
  readonly version: number;
}

export interface ModelSpec {
  readonly graph: GraphSpec;
  /** Default {@link DEFAULT_IR_VERSION} (8). */
  readonly irVersion?: number;
  /**
   * Default: the default domain at opset 17, plus ai.onnx.ml at opset 3 when a node uses it.
   * When given, every domain a node uses must be listed.
   */
  readonly opsetImports?: readonly OpsetImport[];
  /** Default "flywheel". */
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  /** Free-form key/value metadata (ModelProto.metadata_props). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The model description is inconsistent (undefined value names, bad shapes, ...). */
export class OnnxBuildError extends Error {
  override readonly name = "OnnxBuildError";
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name === "") {
    throw new OnnxBuildError(`${what} must have a non-empty name`);
  }
}

function checkDims(what: string, dims: readonly number[]): number {
  let size = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new OnnxBuildError(`${what}: dims must be non-negative integers, got [${dims.join(", ")}]`);
    }
    size *= d;
  }
  return size;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function checkInt64(what: string, v: number | bigint): void {
  const ok = typeof v === "bigint" ? v >= INT64_MIN && v <= INT64_MAX : Number.isSafeInteger(v);
  if (!ok) throw new OnnxBuildError(`${what} must be an int64 (a safe integer or a BigInt), got ${v}`);
}

function checkValueType(what: string, t: ValueType): void {
  switch (t.kind) {
    case "tensor":
      if (!(t.elemType in ONNX_DATA_TYPE)) {
        throw new OnnxBuildError(`${what}: unknown element type ${String(t.elemType)}`);
      }
      for (const d of t.shape ?? []) {
        if (typeof d === "number" && (!Number.isSafeInteger(d) || d < 0)) {
          throw new OnnxBuildError(`${what}: a fixed dimension must be a non-negative integer, got ${d}`);
        }
        if (d === "") {
          throw new OnnxBuildError(`${what}: a symbolic dimension needs a name (use null for unknown)`);
        }
      }
      return;
    case "sequence":
      checkValueType(what, t.elem);
      return;
    case "map":
      if (!(t.keyType in ONNX_DATA_TYPE)) {
        throw new OnnxBuildError(`${what}: unknown map key type ${String(t.keyType)}`);
      }
      checkValueType(what, t.value);
      return;
  }
}

/**
 * Check that the graph is well formed: unique value names (single assignment), nodes in
 * topological order, outputs produced by something, initializer sizes matching their dims.
 */
function validateGraph(g: GraphSpec): void {
  checkName("the graph", g.name);
  const defined = new Set<string>();
  const inputNames = new Set<string>();
  for (const v of g.inputs) {
    checkName("a graph input", v.name);
    if (inputNames.has(v.name)) throw new OnnxBuildError(`duplicate graph input "${v.name}"`);
    inputNames.add(v.name);
    defined.add(v.name);
    checkValueType(`graph input "${v.name}"`, v.type);
  }
  const initNames = new Set<string>();
  for (const t of g.initializers ?? []) {
    checkName("an initializer", t.name);
    // An initializer may share its name with a graph input (it is then that input's default).
    if (initNames.has(t.name)) throw new OnnxBuildError(`duplicate initializer "${t.name}"`);
    initNames.add(t.name);
    defined.add(t.name);
    const size = checkDims(`initializer "${t.name}"`, t.dims);
    if (t.values.length !== size) {
      throw new OnnxBuildError(
        `initializer "${t.name}" has ${t.values.length} values but dims [${t.dims.join(", ")}] hold ${size}`,
      );
    }
    if (t.dtype === "int64") {
      for (let i = 0; i < t.values.length; i++) {
        checkInt64(`initializer "${t.name}" value ${i}`, t.values[i] as number | bigint);
      }
    }
  }
  g.nodes.forEach((n, i) => {
    const label = n.name === undefined ? `node ${i} (${n.opType})` : `node "${n.name}" (${n.opType})`;
    if (typeof n.opType !== "string" || n.opType === "") throw new OnnxBuildError(`node ${i} has no op type`);
    for (const input of n.inputs) {
      if (input !== "" && !defined.has(input)) {
        throw new OnnxBuildError(
          `${label}: input "${input}" is not a graph input, an initializer or the output of an earlier node`,
        );
      }
    }
    if (n.outputs.length === 0) throw new OnnxBuildError(`${label} has no outputs`);
    for (const output of n.outputs) {
      if (output === "") continue; // an omitted optional output
      if (defined.has(output)) throw new OnnxBuildError(`${label}: value "${output}" is already defined`);
      defined.add(output);
    }
    for (const [key, a] of Object.entries(n.attributes ?? {})) {
      checkName(`an attribute of ${label}`, key);
      if (a.type === "int") checkInt64(`${label}: attribute ${key}`, a.value);
      if (a.type === "ints") a.value.forEach((v, k) => checkInt64(`${label}: attribute ${key}[${k}]`, v));
    }
  });
  const outputNames = new Set<string>();
  for (const v of g.outputs) {
    checkName("a graph output", v.name);
    if (outputNames.has(v.name)) throw new OnnxBuildError(`duplicate graph output "${v.name}"`);
    outputNames.add(v.name);
    if (!defined.has(v.name)) throw new OnnxBuildError(`graph output "${v.name}" is never produced`);
    checkValueType(`graph output "${v.name}"`, v.type);
  }
  if (g.outputs.length === 0) throw new OnnxBuildError("the graph has no outputs");
}

function resolveOpsets(spec: ModelSpec): OpsetImport[] {
  const used = new Set(spec.graph.nodes.map((n) => n.domain ?? DEFAULT_DOMAIN));
  if (spec.opsetImports === undefined) {
    const opsets: OpsetImport[] = [{ domain: DEFAULT_DOMAIN, version: DEFAULT_OPSET }];
    if (used.has(ML_DOMAIN)) opsets.push({ domain: ML_DOMAIN, version: DEFAULT_ML_OPSET });
    for (const d of used) {
      if (d !== DEFAULT_DOMAIN && d !== ML_DOMAIN) {
        throw new OnnxBuildError(`nodes use domain "${d}": give its version in opsetImports`);
      }
    }
    return opsets;
  }
  const seen = new Set<string>();
  for (const o of spec.opsetImports) {
    if (seen.has(o.domain)) throw new OnnxBuildError(`opset for domain "${o.domain}" imported twice`);
    seen.add(o.domain);
    if (!Number.isSafeInteger(o.version) || o.version < 1) {
      throw new OnnxBuildError(`opset version for domain "${o.domain}" must be a positive integer`);
    }
  }
  for (const d of used) {
    if (!seen.has(d)) throw new OnnxBuildError(`nodes use domain "${d || "ai.onnx"}" but it is not in opsetImports`);
  }
  return [...spec.opsetImports];
}

function writeValueType(w: ProtoWriter, t: ValueType): void {
  switch (t.kind) {
    case "tensor":
      w.message(1, (tt) => {
        tt.int32(1, ONNX_DATA_TYPE[t.elemType]);
        if (t.shape !== undefined) {
          const shape = t.shape;
          tt.message(2, (s) => {
            for (const d of shape) {
              s.message(1, (dim) => {
                if (typeof d === "number") dim.int64(1, d);
                else if (typeof d === "string") dim.string(2, d);
              });
            }
          });
        }
      });
      return;
    case "sequence":
      w.message(4, (seq) => seq.message(1, (inner) => writeValueType(inner, t.elem)));
      return;
    case "map":
      w.message(5, (m) => {
        m.int32(1, ONNX_DATA_TYPE[t.keyType]);
        m.message(2, (inner) => writeValueType(inner, t.value));
      });
      return;
  }
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoSpec): void {
  w.string(1, v.name);
  w.message(2, (t) => writeValueType(t, v.type));
  if (v.docString !== undefined) w.string(3, v.docString);
}

function writeTensor(w: ProtoWriter, t: InitializerSpec): void {
  w.repeatedInt64(1, t.dims);
  w.int32(2, ONNX_DATA_TYPE[t.dtype]);
  switch (t.dtype) {
    case "float32":
      if (t.values.length > 0) w.packedFloat(4, t.values);
      break;
    case "int32":
      for (let i = 0; i < t.values.length; i++) {
        const v = t.values[i] as number;
        if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) {
          throw new OnnxBuildError(`initializer "${t.name}": value ${v} at ${i} is not an int32`);
        }
      }
      if (t.values.length > 0) w.packedInt64(5, t.values);
      break;
    case "int64":
      if (t.values.length > 0) w.packedInt64(7, t.values);
      break;
    case "float64":
      if (t.values.length > 0) w.packedDouble(10, t.values);
      break;
  }
  w.string(8, t.name);
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7, strings: 8 } as const;

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(1, name);
  switch (a.type) {
    case "float":
      w.float(2, a.value);
      break;
    case "int":
      w.int64(3, a.value);
      break;
    case "string":
      w.string(4, a.value);
      break;
    case "floats":
      w.repeatedFloat(7, a.value);
      break;
    case "ints":
      w.repeatedInt64(8, a.value);
      break;
    case "strings":
      w.repeatedString(9, a.value);
      break;
  }
  w.int32(20, ATTRIBUTE_TYPE[a.type]);
}

function writeNode(w: ProtoWriter, n: NodeSpec): void {
  w.repeatedString(1, n.inputs);
  w.repeatedString(2, n.outputs);
  if (n.name !== undefined) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [key, a] of Object.entries(n.attributes ?? {})) w.message(5, (aw) => writeAttribute(aw, key, a));
  if (n.docString !== undefined) w.string(6, n.docString);
  if (n.domain !== undefined && n.domain !== DEFAULT_DOMAIN) w.string(7, n.domain);
}

function writeGraph(w: ProtoWriter, g: GraphSpec): void {
  for (const n of g.nodes) w.message(1, (nw) => writeNode(nw, n));
  w.string(2, g.name);
  for (const t of g.initializers ?? []) w.message(5, (tw) => writeTensor(tw, t));
  if (g.docString !== undefined) w.string(10, g.docString);
  for (const v of g.inputs) w.message(11, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) w.message(12, (vw) => writeValueInfo(vw, v));
}

/** Encode a model description as the bytes of an .onnx file (a serialized ModelProto). */
export function buildOnnxModel(spec: ModelSpec): Uint8Array {
  validateGraph(spec.graph);
  const opsets = resolveOpsets(spec);
  const irVersion = spec.irVersion ?? DEFAULT_IR_VERSION;
  if (!Number.isSafeInteger(irVersion) || irVersion < 1) {
    throw new OnnxBuildError(`irVersion must be a positive integer, got ${irVersion}`);
  }
  const w = new ProtoWriter(1024);
  w.int64(1, irVersion);
  w.string(2, spec.producerName ?? DEFAULT_PRODUCER_NAME);
  if (spec.producerVersion !== undefined) w.string(3, spec.producerVersion);
  if (spec.docString !== undefined) w.string(6, spec.docString);
  w.message(7, (gw) => writeGraph(gw, spec.graph));
  for (const o of opsets) {
    w.message(8, (ow) => {
      if (o.domain !== DEFAULT_DOMAIN) ow.string(1, o.domain);
      ow.int64(2, o.version);
    });
  }
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    w.message(14, (e) => {
      e.string(1, key);
      e.string(2, value);
    });
  }
  return w.finish();
}
