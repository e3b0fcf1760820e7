/** Consistency checks of a model description before it is encoded (names, shapes, int64 range, value flow). */
import { ONNX_DATA_TYPE, type GraphSpec, type ValueType } from "./model-spec.js";

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
export function validateGraph(g: GraphSpec): void {
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
