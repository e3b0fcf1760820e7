/**
 * Whether a model package is servable: its MLmodel reads, it has an ONNX flavor, the ONNX file
 * loads in ONNX Runtime, and a declared tensor signature agrees with the graph.
 */
import { OnnxLoadError, OnnxUnsupportedValueError, inspectOnnx } from "../onnx/inspect.js";
import type { OnnxSignature, TensorSpec as GraphTensor } from "../onnx/inspect.js";
import { MlmodelError, onnxFlavorOf, parseMlmodel } from "./mlmodel.js";
import type { ModelPackage } from "./mlmodel.js";
import { tensorDtypeOf } from "./signature.js";
import type { Signature, SignatureSpec, SignatureTensor } from "./signature.js";

export type CheckResult = { ok: true; package: ModelPackage; graph: OnnxSignature } | { ok: false; reason: string };

type Role = "input" | "output";

const shapeText = (shape: number[]): string => `[${shape.join(", ")}]`;

function label(role: Role, spec: SignatureTensor, index: number): string {
  return spec.name === undefined ? `signature ${role} #${index + 1} (unnamed)` : `signature ${role} '${spec.name}'`;
}

/** Why one declared tensor does not fit the graph's tensor, or undefined when it fits. */
function tensorMismatch(role: Role, spec: SignatureTensor, index: number, graph: GraphTensor): string | undefined {
  const what = label(role, spec, index);
  const dtype = tensorDtypeOf(spec.dtype);
  if (dtype === undefined) {
    return `${what} has dtype ${spec.dtype}, which no ONNX tensor type matches (the ONNX graph expects ${graph.dtype})`;
  }
  if (dtype !== graph.dtype) return `${what} has dtype ${spec.dtype} but the ONNX graph expects ${graph.dtype}`;
  if (spec.shape.length !== graph.shape.length) {
    return (
      `${what} has shape ${shapeText(spec.shape)} (rank ${spec.shape.length}) but the ONNX graph expects ` +
      `rank ${graph.shape.length} (shape ${shapeText(graph.shape)})`
    );
  }
  for (const [i, declared] of spec.shape.entries()) {
    const actual = graph.shape[i] ?? -1;
    if (declared !== -1 && actual !== -1 && declared !== actual) {
      return (
        `${what} has size ${declared} in dimension ${i} but the ONNX graph expects ${actual} ` +
        `(signature shape ${shapeText(spec.shape)}, graph shape ${shapeText(graph.shape)})`
      );
    }
  }
  return undefined;
}

function namesOf(tensors: readonly { name: string }[]): string {
  return tensors.length === 0 ? "none" : tensors.map((t) => t.name).join(", ");
}

/**
 * Inputs must match the graph's one for one; outputs may be a subset. Named tensors are matched
 * by name, an unnamed one (allowed only alone) by position.
 */
function schemaMismatch(role: Role, specs: SignatureTensor[], graph: GraphTensor[]): string | undefined {
  const plural = `${role}s`;
  const unnamed = specs.length > 0 && specs.every((s) => s.name === undefined);
  if (unnamed) {
    if (role === "input" ? specs.length !== graph.length : specs.length > graph.length) {
      return (
        `the signature declares ${specs.length} unnamed ${specs.length === 1 ? role : plural} but the ONNX graph ` +
        `has ${graph.length} (${namesOf(graph)})`
      );
    }
    for (const [i, spec] of specs.entries()) {
      const g = graph[i];
      const why = g === undefined ? undefined : tensorMismatch(role, spec, i, g);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  const byName = new Map(graph.map((g) => [g.name, g]));
  for (const [i, spec] of specs.entries()) {
    const g = byName.get(spec.name ?? "");
    if (g === undefined) {
      return `${label(role, spec, i)} is not an ${role} of the ONNX graph (its ${plural}: ${namesOf(graph)})`;
    }
    const why = tensorMismatch(role, spec, i, g);
    if (why !== undefined) return why;
  }
  if (role === "input") {
    const declared = new Set(specs.map((s) => s.name));
    const missing = graph.filter((g) => !declared.has(g.name));
    if (missing.length > 0) {
      const list = missing.map((g) => `'${g.name}'`).join(", ");
      return `the ONNX graph ${missing.length === 1 ? "input" : "inputs"} ${list} ${missing.length === 1 ? "is" : "are"} missing from the signature`;
    }
  }
  return undefined;
}

const tensorsOf = (specs: SignatureSpec[] | undefined): SignatureTensor[] | undefined =>
  specs === undefined || specs.some((s) => s.type !== "tensor") ? undefined : (specs as SignatureTensor[]);

/**
 * Why a tensor signature disagrees with the graph, or undefined when it agrees. Column-based
 * schemas are not compared: MLflow turns a DataFrame into tensors at predict time.
 */
export function signatureMismatch(signature: Signature, graph: OnnxSignature): string | undefined {
  const inputs = tensorsOf(signature.inputs);
  const outputs = tensorsOf(signature.outputs);
  return (
    (inputs === undefined ? undefined : schemaMismatch("input", inputs, graph.inputs)) ??
    (outputs === undefined ? undefined : schemaMismatch("output", outputs, graph.outputs))
  );
}

/**
 * Loads the ONNX bytes in ONNX Runtime and returns their signature, or the reason they do not
 * load (`file` names the file in the reason). Other failures are thrown.
 */
export async function loadGraph(onnx: Uint8Array, file: string): Promise<{ graph: OnnxSignature } | { reason: string }> {
  try {
    return { graph: await inspectOnnx(onnx) };
  } catch (e) {
    if (e instanceof OnnxLoadError) return { reason: `the ONNX file '${file}' does not load in ONNX Runtime: ${e.reason}` };
    if (e instanceof OnnxUnsupportedValueError) return { reason: `the ONNX file '${file}' cannot be served: ${e.message}` };
    throw e;
  }
}

/**
 * Checks a package from its MLmodel text and the bytes of the ONNX file its `onnx` flavor names
 * (`flavors.onnx.data`; the caller reads it, passing undefined when it is absent).
 *
 *   const pkg = parseMlmodel(text);
 *   const result = await checkPackage({ mlmodel: text, onnx: await read(onnxFlavorOf(pkg).data) });
 */
export async function checkPackage(files: { mlmodel: string; onnx: Uint8Array | undefined }): Promise<CheckResult> {
  let pkg: ModelPackage;
  let dataFile: string;
  try {
    pkg = parseMlmodel(files.mlmodel);
    dataFile = onnxFlavorOf(pkg).data;
  } catch (e) {
    if (e instanceof MlmodelError) return { ok: false, reason: e.message };
    throw e;
  }
  if (files.onnx === undefined) {
    return { ok: false, reason: `the ONNX file '${dataFile}' named by flavors.onnx.data is missing from the package` };
  }
  const loaded = await loadGraph(files.onnx, dataFile);
  if ("reason" in loaded) return { ok: false, reason: loaded.reason };
  const mismatch = pkg.signature === undefined ? undefined : signatureMismatch(pkg.signature, loaded.graph);
  if (mismatch !== undefined) return { ok: false, reason: mismatch };
  const features = featureMismatch(pkg.flywheel?.features, loaded.graph);
  if (features !== undefined) return { ok: false, reason: features };
  return { ok: true, package: pkg, graph: loaded.graph };
}

/**
 * The declared feature list names the input columns in order (parseMlmodel already refuses a
 * repeated name): as many features as a single 2-D input with a fixed width has columns.
 */
export function featureMismatch(features: string[] | undefined, graph: OnnxSignature, field = "metadata.flywheel.features"): string | undefined {
  if (features === undefined) return undefined;
  const [only, ...more] = graph.inputs;
  const width = only !== undefined && more.length === 0 && only.shape.length === 2 ? (only.shape[1] ?? -1) : -1;
  if (only !== undefined && width !== -1 && features.length !== width) {
    return `${field} lists ${features.length} features but the ONNX input '${only.name}' takes ${width} columns`;
  }
  return undefined;
}
