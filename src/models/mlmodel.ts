/**
 * The MLmodel file of an MLflow model package: read and written as MLflow 2.x does for
 * `mlflow.onnx.log_model` (YAML with sorted keys, signature parts as JSON strings), so Flywheel
 * and MLflow each load the other's packages.
 */
import { parse as parseYaml, stringify as toYaml } from "yaml";
import {
  FieldError,
  child,
  describe,
  isMapping,
  optional,
  readInteger,
  readMapping,
  readString,
  readStringList,
  readVersion,
} from "./fields.js";
import type { Mapping } from "./fields.js";
import { flywheelMetadataToDict, readFlywheelMetadata } from "./metadata.js";
import type { FlywheelModelMetadata } from "./metadata.js";
import { readSignature, signatureToDict } from "./signature.js";
import type { Signature } from "./signature.js";

export type { Signature, SignatureColumn, SignatureParam, SignatureSpec, SignatureTensor } from "./signature.js";
export type { FlywheelModelMetadata, TrainingDataset } from "./metadata.js";

export const MLMODEL_FILE = "MLmodel";

/** The MLmodel cannot be read; `field` is the dotted path of the offending field, when there is one. */
export class MlmodelError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "MlmodelError";
  }
}

/** One flavor's section, with the keys the flavor defines (snake_case, as in the file). */
export type FlavorConfig = Record<string, unknown>;

/** `flavors.onnx` as `mlflow.onnx` writes it. */
export interface OnnxFlavorConfig extends FlavorConfig {
  /** The ONNX file, relative to the package directory. */
  data: string;
  code: string | null;
  onnx_version?: string;
  providers?: string[];
}

/** `flavors.python_function`: how `mlflow.pyfunc.load_model` loads the package. */
export interface PyfuncFlavorConfig extends FlavorConfig {
  loader_module: string;
  data?: string;
  python_version?: string;
  /** `{conda: conda.yaml, virtualenv: python_env.yaml}` (or a single conda file name in old packages). */
  env?: string | Record<string, string>;
}

/** `saved_input_example_info`: where the input example is and how it is laid out. */
export interface SavedInputExampleInfo {
  artifactPath: string;
  /** `ndarray` for tensors, `dataframe` for tables, ... */
  type: string;
  /** `tf-serving` for ndarray examples written as `{"inputs": ...}`. */
  format?: string;
  /** Other keys MLflow writes there (`pandas_orient`, `serving_input_path`), as written. */
  details?: Mapping;
}

export interface ModelPackage {
  /** The package's directory inside the run's artifacts, e.g. `model`. */
  artifactPath?: string;
  flavors: Record<string, FlavorConfig>;
  mlflowVersion?: string;
  /** 32 hex digits. */
  modelUuid?: string;
  runId?: string;
  /** UTC, `YYYY-MM-DD HH:MM:SS.ffffff` (Python's datetime format). */
  utcTimeCreated?: string;
  modelSizeBytes?: number;
  signature?: Signature;
  savedInputExample?: SavedInputExampleInfo;
  /** `metadata.flywheel`. */
  flywheel?: FlywheelModelMetadata;
  /** The rest of `metadata`, as written. */
  metadata?: Mapping;
  /** Top-level fields not listed above (e.g. `databricks_runtime`), as written. */
  extra?: Mapping;
}

const KNOWN_FIELDS = new Set([
  "artifact_path",
  "flavors",
  "mlflow_version",
  "model_uuid",
  "run_id",
  "utc_time_created",
  "model_size_bytes",
  "signature",
  "saved_input_example_info",
  "metadata",
]);

/** A date as Python's `datetime.strftime("%Y-%m-%d %H:%M:%S.%f")` writes it (microseconds). */
export function formatUtcTime(d: Date): string {
  const iso = d.toISOString(); // 2026-11-26T08:00:00.123Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

/** A file inside the package: a relative path that cannot climb out of the package directory. */
function readPackageFile(value: unknown, field: string): string {
  const path = readString(value, field, { nonEmpty: true });
  const segments = path.split(/[/\\]/);
  if (/^([/\\]|[A-Za-z]:)/.test(path) || segments.includes("..") || [...path].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new FieldError(field, `must be a relative path inside the package (got ${JSON.stringify(path)})`);
  }
  return path;
}

function readOnnxFlavor(value: unknown, field: string): OnnxFlavorConfig {
  const raw = readMapping(value, field);
  const out: OnnxFlavorConfig = {
    ...raw,
    data: readPackageFile(raw.data, child(field, "data")),
    code: optional(raw.code, child(field, "code"), readString) ?? null,
  };
  const version = optional(raw.onnx_version, child(field, "onnx_version"), readVersion);
  if (version !== undefined) out.onnx_version = version;
  const providers = optional(raw.providers, child(field, "providers"), readStringList);
  if (providers !== undefined) out.providers = providers;
  return out;
}

function readPyfuncFlavor(value: unknown, field: string): PyfuncFlavorConfig {
  const raw = readMapping(value, field);
  const out: PyfuncFlavorConfig = {
    ...raw,
    loader_module: readString(raw.loader_module, child(field, "loader_module"), { nonEmpty: true }),
  };
  const data = optional(raw.data, child(field, "data"), readString);
  if (data !== undefined) out.data = data;
  const version = optional(raw.python_version, child(field, "python_version"), readVersion);
  if (version !== undefined) out.python_version = version;
  const env = optional(raw.env, child(field, "env"), (v, f) => {
    if (typeof v === "string") return v;
    const m = readMapping(v, f);
    return Object.fromEntries(Object.entries(m).map(([k, x]) => [k, readString(x, child(f, k))]));
  });
  if (env !== undefined) out.env = env;
  return out;
}

function readFlavors(value: unknown): Record<string, FlavorConfig> {
  if (value === undefined || value === null) throw new FieldError("flavors", "is required");
  const raw = readMapping(value, "flavors");
  if (Object.keys(raw).length === 0) throw new FieldError("flavors", "must name at least one flavor");
  const out: Record<string, FlavorConfig> = {};
  for (const [name, config] of Object.entries(raw)) {
    const field = child("flavors", name);
    if (name === "onnx") out[name] = readOnnxFlavor(config, field);
    else if (name === "python_function") out[name] = readPyfuncFlavor(config, field);
    else out[name] = readMapping(config, field);
  }
  return out;
}

function readInputExampleInfo(value: unknown, field: string): SavedInputExampleInfo {
  const raw = readMapping(value, field);
  const format = optional(raw.format, child(field, "format"), readString);
  const details = Object.entries(raw).filter(([k]) => !["artifact_path", "type", "format"].includes(k));
  return {
    artifactPath: readString(raw.artifact_path, child(field, "artifact_path"), { nonEmpty: true }),
    type: readString(raw.type, child(field, "type"), { nonEmpty: true }),
    ...(format === undefined ? {} : { format }),
    ...(details.length === 0 ? {} : { details: Object.fromEntries(details) }),
  };
}

function readTime(value: unknown, field: string): string {
  // PyYAML quotes the time; a hand-written unquoted one is a YAML 1.1 timestamp.
  if (value instanceof Date) return formatUtcTime(value);
  return readString(value, field, { nonEmpty: true });
}

function readPackage(doc: unknown): ModelPackage {
  if (!isMapping(doc)) throw new MlmodelError(`MLmodel must be a YAML mapping (got ${describe(doc)})`);
  const pkg: ModelPackage = { flavors: readFlavors(doc.flavors) };
  const str = (key: string) => optional(doc[key], key, (v, f) => readString(v, f, { nonEmpty: true }));
  const artifactPath = str("artifact_path");
  if (artifactPath !== undefined) pkg.artifactPath = artifactPath;
  const mlflowVersion = optional(doc.mlflow_version, "mlflow_version", readVersion);
  if (mlflowVersion !== undefined) pkg.mlflowVersion = mlflowVersion;
  const modelUuid = str("model_uuid");
  if (modelUuid !== undefined) pkg.modelUuid = modelUuid;
  const runId = str("run_id");
  if (runId !== undefined) pkg.runId = runId;
  const time = optional(doc.utc_time_created, "utc_time_created", readTime);
  if (time !== undefined) pkg.utcTimeCreated = time;
  const size = optional(doc.model_size_bytes, "model_size_bytes", (v, f) => readInteger(v, f, 0));
  if (size !== undefined) pkg.modelSizeBytes = size;
  const signature = optional(doc.signature, "signature", (v, f) => readSignature(v, f));
  if (signature !== undefined) pkg.signature = signature;
  const example = optional(doc.saved_input_example_info, "saved_input_example_info", readInputExampleInfo);
  if (example !== undefined) pkg.savedInputExample = example;
  const metadata = optional(doc.metadata, "metadata", readMapping);
  if (metadata !== undefined) {
    const { flywheel, ...rest } = metadata;
    if (flywheel !== undefined && flywheel !== null) {
      pkg.flywheel = readFlywheelMetadata(flywheel, "metadata.flywheel", "snake");
    }
    if (Object.keys(rest).length > 0) pkg.metadata = rest;
  }
  const extra = Object.entries(doc).filter(([k]) => !KNOWN_FIELDS.has(k));
  if (extra.length > 0) pkg.extra = Object.fromEntries(extra);
  return pkg;
}

/**
 * Reads an MLmodel file. Throws MlmodelError naming the field that is wrong, e.g.
 * `MLmodel field 'flavors.onnx.data' must be a string (got number 3)`.
 */
export function parseMlmodel(text: string): ModelPackage {
  let doc: unknown;
  try {
    // YAML 1.1, as PyYAML reads and writes it (so `yes`, `3.10` and timestamps mean what MLflow meant).
    doc = parseYaml(text, { version: "1.1" });
  } catch (e) {
    throw new MlmodelError(`MLmodel is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return readPackage(doc);
  } catch (e) {
    if (e instanceof FieldError) throw new MlmodelError(`MLmodel field ${e.message}`, e.field);
    throw e;
  }
}

/** The package as the dictionary MLflow's `Model.to_dict()` gives (snake_case keys). */
export function modelToDict(pkg: ModelPackage): Mapping {
  if (Object.keys(pkg.flavors).length === 0) throw new MlmodelError("A model package needs at least one flavor", "flavors");
  const out: Mapping = {};
  if (pkg.runId !== undefined) out.run_id = pkg.runId;
  if (pkg.artifactPath !== undefined) out.artifact_path = pkg.artifactPath;
  if (pkg.utcTimeCreated !== undefined) out.utc_time_created = pkg.utcTimeCreated;
  out.flavors = pkg.flavors;
  if (pkg.modelUuid !== undefined) out.model_uuid = pkg.modelUuid;
  if (pkg.mlflowVersion !== undefined) out.mlflow_version = pkg.mlflowVersion;
  if (pkg.modelSizeBytes !== undefined) out.model_size_bytes = pkg.modelSizeBytes;
  if (pkg.signature !== undefined) out.signature = signatureToDict(pkg.signature);
  if (pkg.savedInputExample !== undefined) {
    const e = pkg.savedInputExample;
    out.saved_input_example_info = {
      artifact_path: e.artifactPath,
      type: e.type,
      ...(e.format === undefined ? {} : { format: e.format }),
      ...e.details,
    };
  }
  const flywheel = pkg.flywheel === undefined ? undefined : flywheelMetadataToDict(pkg.flywheel);
  if (pkg.metadata !== undefined || flywheel !== undefined) {
    out.metadata = { ...pkg.metadata, ...(flywheel === undefined ? {} : { flywheel }) };
  }
  for (const [k, v] of Object.entries(pkg.extra ?? {})) if (!(k in out)) out[k] = v;
  return out;
}

/** The MLmodel file text: YAML 1.1 with sorted keys, as PyYAML's `safe_dump` writes it for MLflow. */
export function renderMlmodel(pkg: ModelPackage): string {
  return toYaml(modelToDict(pkg), {
    version: "1.1",
    directives: false,
    sortMapEntries: true,
    indentSeq: false,
    singleQuote: true,
    lineWidth: 0,
  });
}

/**
 * The `model_json` of MLflow's `runs/log-model` request: the same dictionary as JSON, with
 * non-finite numbers spelled "NaN"/"Infinity"/"-Infinity" as MLflow's REST API spells them.
 */
export function modelJson(pkg: ModelPackage): string {
  return JSON.stringify(modelToDict(pkg), (_k, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    return v;
  });
}

/**
 * The package's `onnx` flavor, checked: `data` names the ONNX file relative to the package.
 * Throws MlmodelError when the package has no onnx flavor.
 */
export function onnxFlavorOf(pkg: ModelPackage): OnnxFlavorConfig {
  const flavor = pkg.flavors.onnx;
  if (flavor === undefined) {
    const names = Object.keys(pkg.flavors).join(", ");
    throw new MlmodelError(`The MLmodel has no 'onnx' flavor (its flavors: ${names}); only ONNX models can be served`, "flavors.onnx");
  }
  try {
    return readOnnxFlavor(flavor, "flavors.onnx");
  } catch (e) {
    if (e instanceof FieldError) throw new MlmodelError(`MLmodel field ${e.message}`, e.field);
    throw e;
  }
}
