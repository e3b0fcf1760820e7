/**
 * Turns decoded response JSON into the wire types: numbers that arrive as strings (int64 fields,
 * "NaN"/"Infinity"/"-Infinity" metric values) become numbers, and lists the server left out
 * because they were empty become empty arrays.
 */
import type {
  LifecycleStage,
  RunStatus,
  WireExperiment,
  WireFileInfo,
  WireDataset,
  WireDatasetInput,
  WireMetric,
  WireRun,
  WireRunData,
  WireRunInfo,
  WireRunInputs,
  WireTag,
} from "./wire-types.js";

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  return "";
}

/** A JSON number, or its string spelling: "NaN", "Infinity", "-Infinity", "1700000000000". */
export function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const s = v.trim();
    if (s === "NaN" || s === "nan") return Number.NaN;
    if (s === "Infinity" || s === "+Infinity" || s === "inf") return Number.POSITIVE_INFINITY;
    if (s === "-Infinity" || s === "-inf") return Number.NEGATIVE_INFINITY;
    return s === "" ? Number.NaN : Number(s);
  }
  return Number.NaN;
}

function optionalNumber(v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : toNumber(v);
}

/** Optional next page token; the empty string means "no more pages". */
export function pageToken(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A list of `{key, value}` pairs (tags, params); values that are not strings are spelled out. */
export function normalizeTags(v: unknown): WireTag[] {
  return list(v).map((t) => {
    const o = obj(t);
    return { key: str(o.key), value: str(o.value) };
  });
}

export function normalizeMetric(v: unknown): WireMetric {
  const o = obj(v);
  return {
    key: str(o.key),
    value: toNumber(o.value),
    timestamp: toNumber(o.timestamp ?? 0),
    step: toNumber(o.step ?? 0),
  };
}

export function normalizeExperiment(v: unknown): WireExperiment {
  const o = obj(v);
  const out: WireExperiment = {
    experiment_id: str(o.experiment_id),
    name: str(o.name),
    artifact_location: str(o.artifact_location),
    lifecycle_stage: (str(o.lifecycle_stage) || "active") as LifecycleStage,
    creation_time: toNumber(o.creation_time ?? 0),
    last_update_time: toNumber(o.last_update_time ?? o.creation_time ?? 0),
  };
  if (o.tags !== undefined) out.tags = normalizeTags(o.tags);
  return out;
}

export function normalizeRunInfo(v: unknown): WireRunInfo {
  const o = obj(v);
  const runId = str(o.run_id) || str(o.run_uuid);
  const out: WireRunInfo = {
    run_id: runId,
    run_uuid: str(o.run_uuid) || runId,
    run_name: str(o.run_name),
    experiment_id: str(o.experiment_id),
    user_id: str(o.user_id),
    status: (str(o.status) || "RUNNING") as RunStatus,
    start_time: toNumber(o.start_time ?? 0),
    artifact_uri: str(o.artifact_uri),
    lifecycle_stage: (str(o.lifecycle_stage) || "active") as LifecycleStage,
  };
  const end = optionalNumber(o.end_time);
  if (end !== undefined) out.end_time = end;
  return out;
}

export function normalizeRun(v: unknown): WireRun {
  const o = obj(v);
  const d = obj(o.data);
  const data: WireRunData = {};
  if (d.metrics !== undefined) data.metrics = list(d.metrics).map(normalizeMetric);
  if (d.params !== undefined) data.params = normalizeTags(d.params);
  if (d.tags !== undefined) data.tags = normalizeTags(d.tags);
  return { info: normalizeRunInfo(o.info), data, inputs: normalizeRunInputs(o.inputs) };
}

function normalizeRunInputs(v: unknown): WireRunInputs {
  const o = obj(v);
  if (o.dataset_inputs === undefined) return {};
  return {
    dataset_inputs: list(o.dataset_inputs).map((i): WireDatasetInput => {
      const input = obj(i);
      const d = obj(input.dataset);
      const dataset: WireDataset = { name: str(d.name), digest: str(d.digest), source_type: str(d.source_type), source: str(d.source) };
      if (d.schema !== undefined) dataset.schema = str(d.schema);
      if (d.profile !== undefined) dataset.profile = str(d.profile);
      const out: WireDatasetInput = { dataset };
      if (input.tags !== undefined) out.tags = normalizeTags(input.tags);
      return out;
    }),
  };
}

export function normalizeFileInfo(v: unknown): WireFileInfo {
  const o = obj(v);
  const out: WireFileInfo = { path: str(o.path), is_dir: o.is_dir === true || o.is_dir === "true" };
  const size = optionalNumber(o.file_size);
  if (size !== undefined) out.file_size = size;
  return out;
}

export { obj as asObject, list as asList, str as asString };
