/**
 * Flywheel's own section of an MLmodel, `metadata.flywheel` (MLflow keeps arbitrary metadata
 * there): what the model was trained on, so serving can assemble the same features.
 */
import { FieldError, child, describe, optional, readMapping, readString, readStringList } from "./fields.js";
import type { Mapping } from "./fields.js";

export interface TrainingDataset {
  uri: string;
  version?: string;
}

export interface FlywheelModelMetadata {
  /** The feature service whose features feed the model. */
  featureService?: string;
  /** The ordered feature list the model was trained on (the columns of its input tensor). */
  features?: string[];
  trainingDataset?: TrainingDataset;
  /** Evaluation metrics at logging time, e.g. `{ auc: 0.91 }`. */
  metrics?: Record<string, number>;
  /** Class labels in the order of the model's probability columns. */
  classNames?: string[];
  /** False when the model cannot take NaN in its float inputs: serving refuses such requests (400) before they run. Default true. */
  allowNan?: boolean;
}

/** The key each field has in the MLmodel (`snake`) or in the SDK options (`camel`). */
type KeyStyle = "snake" | "camel";

const KEYS = {
  featureService: "feature_service",
  features: "features",
  trainingDataset: "training_dataset",
  metrics: "metrics",
  classNames: "class_names",
  allowNan: "allow_nan",
} as const;

function readMetrics(value: unknown, field: string): Record<string, number> {
  const raw = readMapping(value, field);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "number") throw new FieldError(child(field, k), `must be a number (got ${describe(v)})`);
    out[k] = v;
  }
  return out;
}

function readDataset(value: unknown, field: string): TrainingDataset {
  const raw = readMapping(value, field);
  const version = optional(raw.version, child(field, "version"), (v, f) =>
    typeof v === "number" && Number.isFinite(v) ? String(v) : readString(v, f, { nonEmpty: true }),
  );
  return {
    uri: readString(raw.uri, child(field, "uri"), { nonEmpty: true }),
    ...(version === undefined ? {} : { version }),
  };
}

/**
 * Reads the Flywheel metadata section; `field` is its path for error messages and `style` says
 * whether keys are spelled as in the MLmodel (`feature_service`) or the SDK (`featureService`).
 */
export function readFlywheelMetadata(value: unknown, field: string, style: KeyStyle): FlywheelModelMetadata {
  const raw = readMapping(value, field);
  const key = (k: keyof typeof KEYS): string => (style === "snake" ? KEYS[k] : k);
  if (style === "camel") {
    // Catches a misspelt SDK option; an MLmodel from a newer Flywheel may carry fields this one skips.
    const known = new Set<string>(Object.keys(KEYS));
    for (const k of Object.keys(raw)) {
      if (!known.has(k)) throw new FieldError(child(field, k), `is not a known field (known: ${[...known].join(", ")})`);
    }
  }
  const at = (k: keyof typeof KEYS) => child(field, key(k));
  const featureService = optional(raw[key("featureService")], at("featureService"), (v, f) =>
    readString(v, f, { nonEmpty: true }),
  );
  const features = optional(raw[key("features")], at("features"), (v, f) => readStringList(v, f, { unique: true }));
  const trainingDataset = optional(raw[key("trainingDataset")], at("trainingDataset"), readDataset);
  const metrics = optional(raw[key("metrics")], at("metrics"), readMetrics);
  const classNames = optional(raw[key("classNames")], at("classNames"), (v, f) => readStringList(v, f, { unique: true }));
  const allowNan = optional(raw[key("allowNan")], at("allowNan"), (v, f) => {
    if (typeof v !== "boolean") throw new FieldError(f, `must be true or false (got ${describe(v)})`);
    return v;
  });
  return {
    ...(featureService === undefined ? {} : { featureService }),
    ...(features === undefined ? {} : { features }),
    ...(trainingDataset === undefined ? {} : { trainingDataset }),
    ...(metrics === undefined ? {} : { metrics }),
    ...(classNames === undefined ? {} : { classNames }),
    ...(allowNan === undefined ? {} : { allowNan }),
  };
}

/** The section as written in the MLmodel (snake_case keys), or undefined when it is empty. */
export function flywheelMetadataToDict(m: FlywheelModelMetadata): Mapping | undefined {
  const out: Mapping = {};
  if (m.featureService !== undefined) out.feature_service = m.featureService;
  if (m.features !== undefined) out.features = [...m.features];
  if (m.trainingDataset !== undefined) {
    out.training_dataset = {
      uri: m.trainingDataset.uri,
      ...(m.trainingDataset.version === undefined ? {} : { version: m.trainingDataset.version }),
    };
  }
  if (m.metrics !== undefined) out.metrics = { ...m.metrics };
  if (m.classNames !== undefined) out.class_names = [...m.classNames];
  if (m.allowNan !== undefined) out.allow_nan = m.allowNan;
  return Object.keys(out).length === 0 ? undefined : out;
}
