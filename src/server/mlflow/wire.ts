/** Domain objects to MLflow's JSON (snake_case, enum names, int64 as JSON numbers). */
import type { ArtifactEntry } from "../../storage/artifacts/artifact-store.js";
import type { LoggedModel, LoggedModelMetric } from "../../storage/metadata/logged-model-store.js";
import type { DatasetInput, Experiment, Metric, Run, RunInfo, Tag } from "../../storage/metadata/metadata-store.js";
import { doubleOut } from "./fields.js";

const kv = (t: Tag) => ({ key: t.key, value: t.value });

export function experimentJson(e: Experiment) {
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    last_update_time: e.lastUpdateTime,
    creation_time: e.creationTime,
    tags: e.tags.map(kv),
  };
}

export function runInfoJson(i: RunInfo) {
  return {
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: i.status,
    start_time: i.startTime,
    ...(i.endTime !== null ? { end_time: i.endTime } : {}),
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
}

export function metricJson(m: Metric) {
  return { key: m.key, value: doubleOut(m.value), timestamp: m.timestamp, step: m.step };
}

/**
 * MLflow's DatasetInput: empty repeated fields and unset optional ones are left out, as protobuf
 * JSON prints them (tags without any, schema and profile when empty).
 */
export function datasetInputJson(i: DatasetInput) {
  const d = i.dataset;
  return {
    ...(i.tags.length > 0 ? { tags: i.tags.map(kv) } : {}),
    dataset: {
      name: d.name,
      digest: d.digest,
      source_type: d.sourceType,
      source: d.source,
      ...(d.schema !== null && d.schema !== "" ? { schema: d.schema } : {}),
      ...(d.profile !== null && d.profile !== "" ? { profile: d.profile } : {}),
    },
  };
}

export function runJson(r: Run) {
  return {
    info: runInfoJson(r.info),
    data: { metrics: r.metrics.map(metricJson), params: r.params.map(kv), tags: r.tags.map(kv) },
    // RunInputs with no dataset is `{}` in MLflow's JSON.
    inputs: {
      ...(r.inputs.length > 0 ? { dataset_inputs: r.inputs.map(datasetInputJson) } : {}),
      ...(r.modelInputs.length > 0 ? { model_inputs: r.modelInputs.map((id) => ({ model_id: id })) } : {}),
    },
    // MLflow 3's RunOutputs: the logged models the run produced.
    ...(r.modelOutputs.length > 0 ? { outputs: { model_outputs: r.modelOutputs.map((o) => ({ model_id: o.modelId, step: o.step })) } } : {}),
  };
}

/** A metric logged against a logged model, with the run and dataset it was logged for. */
export function loggedModelMetricJson(modelId: string, m: LoggedModelMetric) {
  return {
    ...metricJson(m),
    ...(m.datasetName !== null ? { dataset_name: m.datasetName } : {}),
    ...(m.datasetDigest !== null ? { dataset_digest: m.datasetDigest } : {}),
    model_id: modelId,
    run_id: m.runId,
  };
}

/** MLflow 3's LoggedModel: `info` (identity, location, status, tags) and `data` (params, metrics). */
export function loggedModelJson(m: LoggedModel) {
  return {
    info: {
      model_id: m.modelId,
      experiment_id: m.experimentId,
      name: m.name,
      creation_timestamp_ms: m.creationTimestamp,
      last_updated_timestamp_ms: m.lastUpdatedTimestamp,
      artifact_uri: m.artifactLocation,
      status: m.status,
      ...(m.statusMessage !== null && m.statusMessage !== "" ? { status_message: m.statusMessage } : {}),
      ...(m.modelType !== null ? { model_type: m.modelType } : {}),
      ...(m.sourceRunId !== null ? { source_run_id: m.sourceRunId } : {}),
      ...(m.tags.length > 0 ? { tags: m.tags.map(kv) } : {}),
    },
    data: {
      ...(m.params.length > 0 ? { params: m.params.map(kv) } : {}),
      ...(m.metrics.length > 0 ? { metrics: m.metrics.map((x) => loggedModelMetricJson(m.modelId, x)) } : {}),
    },
  };
}

export function fileInfoJson(e: ArtifactEntry) {
  return e.isDir ? { path: e.path, is_dir: true } : { path: e.path, is_dir: false, file_size: e.size ?? 0 };
}
