/**
 * Read the input/output signature of an ONNX model by loading it in ONNX Runtime.
 *
 * onnxruntime-node is imported lazily, so modules that never inspect a model do not load the
 * native binding.
 */
import type { InferenceSession } from "onnxruntime-node";

/** Element types, named as NumPy names them (the names MLflow writes in model signatures). */
export type TensorDtype =
  | "bool"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "float16"
  | "float32"
  | "float64"
  | "string";

export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  /** One entry per dimension; -1 for a variable (symbolic or unnamed) dimension. */
  shape: number[];
}

export interface OnnxSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** The bytes could not be loaded as an ONNX model; `reason` is ONNX Runtime's own message. */
export class OnnxLoadError extends Error {
  override readonly name = "OnnxLoadError";
  constructor(
    message: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The model loads, but one of its inputs or outputs cannot be described as a tensor signature:
 * it is a sequence, map or optional value (`kind: "non-tensor"`), or a tensor whose element
 * type has no NumPy name here (`kind: "unsupported-dtype"`, e.g. int4 or uint4). Types the
 * Node binding of ONNX Runtime cannot describe at all (bfloat16, float8, complex) already fail
 * to load, as {@link OnnxLoadError} with ORT's "Unsupported data type" reason.
 */
export class OnnxUnsupportedValueError extends Error {
  override readonly name = "OnnxUnsupportedValueError";
  constructor(
    message: string,
    readonly role: "input" | "output",
    readonly valueName: string,
    readonly kind: "non-tensor" | "unsupported-dtype",
  ) {
    super(message);
  }
}

/** Every element type inspectOnnx reports, by its NumPy name. */
export const TENSOR_DTYPES: readonly TensorDtype[] = [
  "bool",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "float16",
  "float32",
  "float64",
  "string",
];
const DTYPES: ReadonlySet<string> = new Set<string>(TENSOR_DTYPES);

function isTensorDtype(t: string): t is TensorDtype {
  return DTYPES.has(t);
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function toSpec(meta: InferenceSession.ValueMetadata, role: "input" | "output"): TensorSpec {
  if (!meta.isTensor) {
    throw new OnnxUnsupportedValueError(
      `ONNX model ${role} "${meta.name}" is not a tensor (it is a sequence, map or optional ` +
        `value); only tensor ${role}s can be described by a tensor signature`,
      role,
      meta.name,
      "non-tensor",
    );
  }
  const type: string = meta.type;
  if (!isTensorDtype(type)) {
    throw new OnnxUnsupportedValueError(
      `ONNX model ${role} "${meta.name}" has element type ${type}, which has no supported ` +
        `NumPy dtype (supported: ${[...DTYPES].join(", ")})`,
      role,
      meta.name,
      "unsupported-dtype",
    );
  }
  const shape = meta.shape.map((d) => (typeof d === "number" && Number.isInteger(d) && d >= 0 ? d : -1));
  return { name: meta.name, dtype: type, shape };
}

/**
 * Load `model` (the bytes of an .onnx file) in ONNX Runtime and return its input and output
 * signature, in the model's order. Throws {@link OnnxLoadError} if ONNX Runtime cannot load
 * the bytes, and {@link OnnxUnsupportedValueError} for a non-tensor input or output.
 */
export async function inspectOnnx(model: Uint8Array): Promise<OnnxSignature> {
  if (model.byteLength === 0) {
    throw new OnnxLoadError("cannot load ONNX model: the model is empty (0 bytes)", "empty model");
  }
  const ort = await import("onnxruntime-node");
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      // Only the signature is needed: skip graph optimisation and extra threads.
      graphOptimizationLevel: "disabled",
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
    });
  } catch (err) {
    const reason = reasonOf(err);
    throw new OnnxLoadError(`cannot load ONNX model (${model.byteLength} bytes): ${reason}`, reason, {
      cause: err,
    });
  }
  try {
    const inputs = byName(session.inputNames, session.inputMetadata, "input");
    const outputs = byName(session.outputNames, session.outputMetadata, "output");
    return {
      inputs: inputs.map((m) => toSpec(m, "input")),
      outputs: outputs.map((m) => toSpec(m, "output")),
    };
  } finally {
    await session.release();
  }
}

/** The metadata entries in `names` order (the two lists come from the same session). */
function byName(
  names: readonly string[],
  metadata: readonly InferenceSession.ValueMetadata[],
  role: "input" | "output",
): InferenceSession.ValueMetadata[] {
  const found = new Map(metadata.map((m) => [m.name, m]));
  return names.map((name) => {
    const m = found.get(name);
    if (m === undefined) {
      throw new Error(`ONNX Runtime reported ${role} "${name}" without metadata`);
    }
    return m;
  });
}
