/**
 * MLflow's rules for names and values, checked once here so every store backend receives only
 * valid data. Limits follow mlflow/utils/validation.py.
 */
import { FlywheelError, invalidField } from "../core/errors.js";
import type { Batch, DatasetInput, Metric, Tag } from "../storage/metadata/metadata-store.js";

export const LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
  experimentTagValueLength: 5000,
  experimentNameLength: 256,
  runNameLength: 250,
  searchMaxResults: 50000,
  // runs/log-inputs: MAX_DATASET_*_SIZE and MAX_INPUT_TAG_*_SIZE in MLflow; a source type is
  // stored in a 36-character column there, which MLflow does not check before writing.
  datasetsPerRequest: 1000,
  datasetNameLength: 500,
  datasetDigestLength: 36,
  datasetSourceTypeLength: 36,
  datasetSourceLength: 65535,
  datasetSchemaLength: 1048575,
  datasetProfileLength: 16777215,
  inputTagKeyLength: 255,
  inputTagValueLength: 500,
} as const;

// Python's \w is Unicode-aware: str.isalnum() or '_', i.e. \p{L}\p{N}_ (combining marks do not match).
const KEY_RE = /^[/\p{L}\p{N}_.\- ]*$/u;

/** Length in characters (code points), as Python's len() and PostgreSQL's varchar count it. */
function charLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Mirrors posixpath.normpath for the check MLflow calls path_not_unique. */
function normpath(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length > 0 && out.at(-1) !== "..") out.pop();
    else if (seg === ".." && abs) continue;
    else out.push(seg);
  }
  const joined = out.join("/");
  return abs ? `/${joined}` : joined === "" ? "." : joined;
}

/** A metric, param or tag key: MLflow's character set, no `..`, no leading `/`, no empty parts. */
export function validateKey(kind: "metric" | "param" | "tag", key: string, field = "key"): void {
  if (key === "") throw invalidField(field, `${kind} name must not be empty`);
  if (key.length > LIMITS.keyLength && charLength(key) > LIMITS.keyLength) {
    throw invalidField(field, `${kind} name '${key.slice(0, 40)}...' is longer than ${LIMITS.keyLength} characters`);
  }
  if (!KEY_RE.test(key)) {
    throw invalidField(
      field,
      `invalid ${kind} name '${key}': names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/)`,
    );
  }
  const norm = normpath(key);
  if (norm !== key || norm === "." || norm.startsWith("..") || norm.startsWith("/")) {
    throw invalidField(field, `invalid ${kind} name '${key}': names must be normalized relative paths (no '..', no leading '/', no '//' or './')`);
  }
}

function checkLength(field: string, value: string, max: number): void {
  if (value.length > max && charLength(value) > max) {
    throw invalidField(field, `length ${charLength(value)} exceeds the limit of ${max} characters`);
  }
}

export function validateParam(p: Tag, field = "params"): void {
  validateKey("param", p.key, `${field}.key`);
  checkLength(`${field}[${p.key}].value`, p.value, LIMITS.paramValueLength);
}

export function validateTag(t: Tag, field = "tags"): void {
  validateKey("tag", t.key, `${field}.key`);
  checkLength(`${field}[${t.key}].value`, t.value, LIMITS.tagValueLength);
  // This tag is the run's name, stored in a column of runNameLength characters.
  if (t.key === "mlflow.runName") checkLength(`${field}[${t.key}].value`, t.value, LIMITS.runNameLength);
}

export function validateExperimentTag(t: Tag): void {
  validateKey("tag", t.key, "key");
  checkLength(`tags[${t.key}].value`, t.value, LIMITS.experimentTagValueLength);
}

/** `keyChecked` skips the key check for a key already validated in the same batch. */
export function validateMetric(m: Metric, field = "metrics", keyChecked = false): void {
  if (!keyChecked) validateKey("metric", m.key, `${field}.key`);
  if (!Number.isSafeInteger(m.timestamp)) throw invalidField(`${field}[${m.key}].timestamp`, "must be an integer (milliseconds since the epoch)");
  if (!Number.isSafeInteger(m.step)) throw invalidField(`${field}[${m.key}].step`, "must be an integer");
}

export function validateRunName(name: string, field = "run_name"): void {
  checkLength(field, name, LIMITS.runNameLength);
}

export function validateExperimentName(name: string, field = "name"): void {
  if (name.trim() === "") throw invalidField(field, "experiment name must be a non-empty string");
  checkLength(field, name, LIMITS.experimentNameLength);
}

/** The whole of a log-batch request: counts, then each entity, then duplicate params. */
export function validateBatch(b: Batch): void {
  if (b.metrics.length > LIMITS.metricsPerBatch) {
    throw invalidField("metrics", `a batch may contain at most ${LIMITS.metricsPerBatch} metrics, got ${b.metrics.length}`);
  }
  if (b.params.length > LIMITS.paramsPerBatch) {
    throw invalidField("params", `a batch may contain at most ${LIMITS.paramsPerBatch} params, got ${b.params.length}`);
  }
  if (b.tags.length > LIMITS.tagsPerBatch) {
    throw invalidField("tags", `a batch may contain at most ${LIMITS.tagsPerBatch} tags, got ${b.tags.length}`);
  }
  const total = b.metrics.length + b.params.length + b.tags.length;
  if (total > LIMITS.entitiesPerBatch) {
    throw invalidField("metrics", `a batch may contain at most ${LIMITS.entitiesPerBatch} metrics, params and tags in total, got ${total}`);
  }
  // A batch repeats a few keys many times; check each distinct key once.
  const keys = new Set<string>();
  for (const m of b.metrics) {
    validateMetric(m, "metrics", keys.has(m.key));
    keys.add(m.key);
  }
  b.tags.forEach((t) => validateTag(t));
  const seen = new Map<string, string>();
  for (const p of b.params) {
    validateParam(p);
    const prev = seen.get(p.key);
    if (prev !== undefined && prev !== p.value) {
      throw new FlywheelError(
        "FW_REQUEST_INVALID_FIELD",
        `Invalid value for 'params': duplicate parameter key '${p.key}' submitted with different values ('${prev}' and '${p.value}')`,
      );
    }
    seen.set(p.key, p.value);
  }
}

export function validateMaxResults(n: number | undefined, field = "max_results"): void {
  if (n === undefined) return;
  if (!Number.isInteger(n) || n < 1 || n > LIMITS.searchMaxResults) {
    throw invalidField(field, `must be an integer between 1 and ${LIMITS.searchMaxResults}, got ${n}`);
  }
}

/** A string stored by the log-inputs tables: within `max` characters, and no NUL (PostgreSQL cannot store one). */
function checkStored(field: string, value: string, max: number): void {
  checkLength(field, value, max);
  if (value.includes("\u0000")) throw invalidField(field, "must not contain the NUL character (\\u0000)");
}

/**
 * A runs/log-inputs request: at most 1000 datasets (the batch size MLflow's client sends), MLflow's
 * length limits on each dataset field and input tag, and no key twice among one input's tags.
 */
export function validateDatasetInputs(inputs: DatasetInput[], field = "datasets"): void {
  if (inputs.length > LIMITS.datasetsPerRequest) {
    throw invalidField(field, `a request may log at most ${LIMITS.datasetsPerRequest} datasets, got ${inputs.length}`);
  }
  inputs.forEach(({ dataset: d, tags }, i) => {
    const at = `${field}[${i}]`;
    checkStored(`${at}.dataset.name`, d.name, LIMITS.datasetNameLength);
    checkStored(`${at}.dataset.digest`, d.digest, LIMITS.datasetDigestLength);
    checkStored(`${at}.dataset.source_type`, d.sourceType, LIMITS.datasetSourceTypeLength);
    checkStored(`${at}.dataset.source`, d.source, LIMITS.datasetSourceLength);
    if (d.schema !== null) checkStored(`${at}.dataset.schema`, d.schema, LIMITS.datasetSchemaLength);
    if (d.profile !== null) checkStored(`${at}.dataset.profile`, d.profile, LIMITS.datasetProfileLength);
    const keys = new Set<string>();
    tags.forEach((t, j) => {
      checkStored(`${at}.tags[${j}].key`, t.key, LIMITS.inputTagKeyLength);
      checkStored(`${at}.tags[${j}].value`, t.value, LIMITS.inputTagValueLength);
      if (keys.has(t.key)) throw invalidField(`${at}.tags[${j}].key`, `tag key '${t.key}' is given twice for one dataset`);
      keys.add(t.key);
    });
  });
}
