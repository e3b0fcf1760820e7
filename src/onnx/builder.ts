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
import { OnnxBuildError, validateGraph } from "./graph-checks.js";
import {
  DEFAULT_DOMAIN,
  DEFAULT_IR_VERSION,
  DEFAULT_ML_OPSET,
  DEFAULT_OPSET,
  DEFAULT_PRODUCER_NAME,
  ML_DOMAIN,
  ONNX_DATA_TYPE,
  type AttributeValue,
  type GraphSpec,
  type InitializerSpec,
  type ModelSpec,
  type NodeSpec,
  type OpsetImport,
  type ValueInfoSpec,
  type ValueType,
} from "./model-spec.js";
import { ProtoWriter } from "./protobuf.js";

export { OnnxBuildError } from "./graph-checks.js";
export * from "./model-spec.js";

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
