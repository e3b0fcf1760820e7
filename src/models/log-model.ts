/**
 * Builds the files of an ONNX model package as `mlflow.onnx.log_model` lays them out (model.onnx,
 * MLmodel, input_example.json) and the `model_json` of `runs/log-model`, refusing a model that
 * does not load or disagrees with its signature. The SDK's `ActiveRun.logModel` (and through it
 * the CLI) uploads what this returns.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { OnnxSignature } from "../onnx/inspect.js";
import { featureMismatch, loadGraph, signatureMismatch } from "./check.js";
import { FieldError } from "./fields.js";
import { readFlywheelMetadata } from "./metadata.js";
import type { FlywheelModelMetadata } from "./metadata.js";
import { MLMODEL_FILE, formatUtcTime, modelJson, renderMlmodel } from "./mlmodel.js";
import type { ModelPackage } from "./mlmodel.js";
import { numpyDtypeOf, readSignature, signatureFromGraph, tensorDtypeOf } from "./signature.js";
import type { Signature, SignatureSpec } from "./signature.js";

export const MODEL_FILE = "model.onnx";
export const INPUT_EXAMPLE_FILE = "input_example.json";
export const DEFAULT_ARTIFACT_PATH = "model";
/** The MLflow release whose `mlflow.onnx` package layout Flywheel writes (`mlflow_version`). */
export const MLFLOW_FORMAT_VERSION = "2.19.0";
/** `flavors.onnx.onnx_version`: the ONNX release whose format the flavor declares. */
export const ONNX_FORMAT_VERSION = "1.17.0";
/**
 * `flavors.python_function.python_version`: pyfunc only compares it with the running Python to
 * warn; an ONNX graph does not depend on the Python version that loads it.
 */
export const PYFUNC_PYTHON_VERSION = "3.11.7";
export const ONNX_PROVIDERS = ["CPUExecutionProvider"];

export interface LogModelOptions {
  /** The ONNX model: a file path or its bytes. */
  onnx: string | Uint8Array;
  /** Directory of the package in the run's artifacts (default `model`). */
  artifactPath?: string;
  /** `auto` (default): read from the ONNX graph. A given signature must agree with the graph. */
  signature?: "auto" | Signature;
  /** Rows for the model's single 2-D input, saved as input_example.json. */
  inputExample?: number[][];
  metadata?: FlywheelModelMetadata;
}

export interface ModelFile {
  /** Relative to the package directory. */
  path: string;
  body: Uint8Array;
  contentType: string;
}

export interface PreparedModel {
  artifactPath: string;
  /** `runs:/<run_id>/<artifactPath>`. */
  modelUri: string;
  /** `<run artifact_uri>/<artifactPath>`: the model version source the registry records. */
  source: string;
  package: ModelPackage;
  /** The ONNX graph's own signature. */
  graph: OnnxSignature;
  /** In upload order: MLmodel last, so a package with an MLmodel is complete. */
  files: ModelFile[];
  /** The `model_json` of `runs/log-model`. */
  modelJson: string;
}

/** The model cannot be logged: bad options, an ONNX file that does not load, or a mismatch. */
export class LogModelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogModelError";
  }
}

function fieldError(e: unknown): unknown {
  return e instanceof FieldError ? new LogModelError(`logModel: ${e.message}`) : e;
}

/** `model/`, `/model` and `a//b` are `model` and `a/b`; `..`, `.`, backslashes and control characters are refused. */
export function normalizeArtifactPath(path: string): string {
  const segments = path.split("/").filter((s) => s !== "");
  const bad = segments.find((s) => s === "." || s === ".." || s.includes("\\") || [...s].some((c) => c.charCodeAt(0) < 0x20));
  if (bad !== undefined || segments.length === 0) {
    throw new LogModelError(`logModel: invalid artifactPath ${JSON.stringify(path)}: expected a relative path such as 'model'`);
  }
  return segments.join("/");
}

async function readModelBytes(onnx: unknown): Promise<{ bytes: Uint8Array; file: string }> {
  if (typeof onnx === "string") {
    try {
      return { bytes: await readFile(onnx), file: basename(onnx) };
    } catch (e) {
      throw new LogModelError(`Cannot read the ONNX file '${onnx}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  if (onnx instanceof Uint8Array) return { bytes: onnx, file: MODEL_FILE };
  throw new TypeError("logModel: 'onnx' must be a file path or a Uint8Array of the model's bytes");
}

/** A given signature with tensor dtypes spelled as MLflow spells them (`string` becomes `object`). */
function canonicalSignature(sig: Signature): Signature {
  const fix = (specs: SignatureSpec[] | undefined) =>
    specs?.map((s): SignatureSpec => {
      if (s.type !== "tensor") return s;
      const dtype = tensorDtypeOf(s.dtype);
      return dtype === undefined ? s : { ...s, dtype: numpyDtypeOf(dtype) };
    });
  const inputs = fix(sig.inputs);
  const outputs = fix(sig.outputs);
  return { ...sig, ...(inputs === undefined ? {} : { inputs }), ...(outputs === undefined ? {} : { outputs }) };
}

function resolveSignature(given: LogModelOptions["signature"], graph: OnnxSignature): Signature {
  if (given === undefined || given === "auto") return signatureFromGraph(graph);
  let sig: Signature;
  try {
    sig = canonicalSignature(readSignature(given, "signature"));
  } catch (e) {
    throw fieldError(e);
  }
  const mismatch = signatureMismatch(sig, graph);
  if (mismatch !== undefined) throw new LogModelError(`Cannot log the model: ${mismatch}`);
  return sig;
}

function checkMetadata(given: unknown, graph: OnnxSignature): FlywheelModelMetadata | undefined {
  if (given === undefined) return undefined;
  let metadata: FlywheelModelMetadata;
  try {
    metadata = readFlywheelMetadata(given, "metadata", "camel");
  } catch (e) {
    throw fieldError(e);
  }
  const mismatch = featureMismatch(metadata.features, graph, "metadata.features");
  if (mismatch !== undefined) throw new LogModelError(`logModel: ${mismatch}`);
  return Object.keys(metadata).length === 0 ? undefined : metadata;
}

/**
 * input_example.json as MLflow writes an ndarray example (`{"inputs": [[...]]}`, the tf-serving
 * layout), with floats keeping their decimal point so NumPy reads them back as floats.
 */
function inputExampleJson(rows: unknown, graph: OnnxSignature): string {
  const [input, ...more] = graph.inputs;
  if (input === undefined || more.length > 0) {
    throw new LogModelError(`logModel: inputExample is one 2-D array but the model has ${graph.inputs.length} inputs`);
  }
  if (input.shape.length !== 2) {
    throw new LogModelError(`logModel: inputExample is a 2-D array but the input '${input.name}' has rank ${input.shape.length}`);
  }
  if (input.dtype === "string") throw new LogModelError(`logModel: inputExample holds numbers but the input '${input.name}' takes strings`);
  if (!Array.isArray(rows) || rows.length === 0) throw new LogModelError("logModel: inputExample must be a non-empty array of rows");
  const width = input.shape[1] ?? -1;
  const isFloat = input.dtype.startsWith("float");
  const lines = rows.map((row: unknown, i) => {
    if (!Array.isArray(row)) throw new LogModelError(`logModel: inputExample[${i}] must be an array of numbers`);
    const expected = width === -1 ? (Array.isArray(rows[0]) ? rows[0].length : 0) : width;
    if (row.length !== expected) {
      throw new LogModelError(`logModel: inputExample[${i}] has ${row.length} values but the input '${input.name}' takes ${expected}`);
    }
    const cells = row.map((v: unknown, j) => {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new LogModelError(`logModel: inputExample[${i}][${j}] must be a finite number`);
      }
      return isFloat && Number.isInteger(v) ? v.toFixed(1) : String(v);
    });
    return `[${cells.join(", ")}]`;
  });
  return `{"inputs": [${lines.join(", ")}]}`;
}

/**
 * Everything `logModel` sends for one model: the package files, the MLmodel and the
 * `runs/log-model` body. Loads the ONNX model in ONNX Runtime first and throws LogModelError when
 * it does not load or disagrees with the given signature, features or input example.
 */
export async function prepareModel(
  opts: LogModelOptions,
  run: { runId: string; artifactUri: string },
  now: Date = new Date(),
): Promise<PreparedModel> {
  const artifactPath = normalizeArtifactPath(opts.artifactPath ?? DEFAULT_ARTIFACT_PATH);
  const { bytes, file } = await readModelBytes(opts.onnx);
  const loaded = await loadGraph(bytes, file);
  if ("reason" in loaded) throw new LogModelError(`Cannot log the model: ${loaded.reason}`);
  const graph = loaded.graph;
  const signature = resolveSignature(opts.signature, graph);
  const flywheel = checkMetadata(opts.metadata, graph);
  const example = opts.inputExample === undefined ? undefined : Buffer.from(inputExampleJson(opts.inputExample, graph), "utf8");

  const pkg: ModelPackage = {
    runId: run.runId,
    artifactPath,
    utcTimeCreated: formatUtcTime(now),
    flavors: {
      onnx: { code: null, data: MODEL_FILE, onnx_version: ONNX_FORMAT_VERSION, providers: [...ONNX_PROVIDERS] },
      python_function: { data: MODEL_FILE, loader_module: "mlflow.onnx", python_version: PYFUNC_PYTHON_VERSION },
    },
    modelUuid: randomUUID().replace(/-/g, ""),
    mlflowVersion: MLFLOW_FORMAT_VERSION,
    modelSizeBytes: bytes.byteLength + (example?.byteLength ?? 0),
    signature,
    ...(example === undefined ? {} : { savedInputExample: { artifactPath: INPUT_EXAMPLE_FILE, type: "ndarray", format: "tf-serving" } }),
    ...(flywheel === undefined ? {} : { flywheel }),
  };
  const files: ModelFile[] = [{ path: MODEL_FILE, body: bytes, contentType: "application/octet-stream" }];
  if (example !== undefined) files.push({ path: INPUT_EXAMPLE_FILE, body: example, contentType: "application/json" });
  files.push({ path: MLMODEL_FILE, body: Buffer.from(renderMlmodel(pkg), "utf8"), contentType: "application/yaml" });

  return {
    artifactPath,
    modelUri: `runs:/${run.runId}/${artifactPath}`,
    source: `${run.artifactUri.replace(/\/+$/, "")}/${artifactPath}`,
    package: pkg,
    graph,
    files,
    modelJson: modelJson(pkg),
  };
}
