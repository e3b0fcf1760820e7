/**
 * The JSON shapes of MLflow's REST API 2.0, in its snake_case field names. Responses are
 * normalised by the client: metric values sent as "NaN"/"Infinity"/"-Infinity" become numbers,
 * int64 fields sent as strings become numbers, and lists the server omitted when empty
 * (`experiments`, `runs`, `metrics`, `files`) are present as empty arrays.
 */
import type { WireTag } from "./wire-common.js";

export type LifecycleStage = "active" | "deleted";
export type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";
export type RunStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";

export type { WireTag } from "./wire-common.js";

export type WireParam = WireTag;

export interface WireMetric {
  key: string;
  /** NaN and ±Infinity are legal values. */
  value: number;
  /** Epoch milliseconds. */
  timestamp: number;
  step: number;
}

export interface WireExperiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: LifecycleStage;
  creation_time: number;
  last_update_time: number;
  tags?: WireTag[];
}

export interface WireRunInfo {
  run_id: string;
  /** Deprecated alias of `run_id`, still sent by MLflow. */
  run_uuid: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: RunStatus;
  start_time: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: LifecycleStage;
}

export interface WireRunData {
  /** The latest value of each metric. */
  metrics?: WireMetric[];
  params?: WireParam[];
  tags?: WireTag[];
}

/** A dataset as MLflow records it (runs/log-inputs): stored once per experiment by (name, digest). */
export interface WireDataset {
  name: string;
  digest: string;
  source_type: string;
  /** Where the data lives, as JSON text (MLflow's dataset sources write `{"uri": ...}`). */
  source: string;
  schema?: string;
  profile?: string;
}

/** A dataset a run used, with the input's tags (`mlflow.data.context`: "training", "eval", ...). */
export interface WireDatasetInput {
  tags?: WireTag[];
  dataset: WireDataset;
}

export interface WireRunInputs {
  dataset_inputs?: WireDatasetInput[];
}

export interface WireRun {
  info: WireRunInfo;
  data: WireRunData;
  /** The run's logged datasets (`{}` when none, as MLflow sends it). */
  inputs: WireRunInputs;
}

export interface WireFileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

// ---- Requests ----

export interface CreateExperimentRequest {
  name: string;
  artifact_location?: string;
  tags?: WireTag[];
}

export interface SearchExperimentsRequest {
  max_results?: number;
  page_token?: string;
  filter?: string;
  order_by?: string[];
  view_type?: ViewType;
}

export interface UpdateExperimentRequest {
  experiment_id: string;
  new_name: string;
}

export interface SetExperimentTagRequest {
  experiment_id: string;
  key: string;
  value: string;
}

export interface DeleteExperimentTagRequest {
  experiment_id: string;
  key: string;
}

export interface CreateRunRequest {
  experiment_id: string;
  user_id?: string;
  run_name?: string;
  /** Epoch milliseconds. */
  start_time?: number;
  tags?: WireTag[];
}

export interface UpdateRunRequest {
  run_id: string;
  status?: RunStatus;
  end_time?: number;
  run_name?: string;
}

export interface LogMetricRequest {
  run_id: string;
  key: string;
  value: number;
  timestamp: number;
  step?: number;
}

export interface LogParamRequest {
  run_id: string;
  key: string;
  value: string;
}

export interface SetTagRequest {
  run_id: string;
  key: string;
  value: string;
}

export interface DeleteTagRequest {
  run_id: string;
  key: string;
}

export interface LogBatchRequest {
  run_id: string;
  metrics?: WireMetric[];
  params?: WireParam[];
  tags?: WireTag[];
}

export interface LogInputsRequest {
  run_id: string;
  datasets: WireDatasetInput[];
}

export interface SearchRunsRequest {
  experiment_ids: string[];
  filter?: string;
  run_view_type?: ViewType;
  max_results?: number;
  order_by?: string[];
  page_token?: string;
}

export interface GetMetricHistoryRequest {
  run_id: string;
  metric_key: string;
  max_results?: number;
  page_token?: string;
}

export interface ListArtifactsRequest {
  run_id: string;
  path?: string;
  page_token?: string;
}

// ---- Responses ----

export interface CreateExperimentResponse {
  experiment_id: string;
}

export interface GetExperimentResponse {
  experiment: WireExperiment;
}

export interface SearchExperimentsResponse {
  experiments: WireExperiment[];
  next_page_token?: string;
}

export interface CreateRunResponse {
  run: WireRun;
}

export interface GetRunResponse {
  run: WireRun;
}

export interface UpdateRunResponse {
  run_info: WireRunInfo;
}

export interface SearchRunsResponse {
  runs: WireRun[];
  next_page_token?: string;
}

export interface GetMetricHistoryResponse {
  metrics: WireMetric[];
  next_page_token?: string;
}

export interface ListArtifactsResponse {
  root_uri: string;
  files: WireFileInfo[];
  next_page_token?: string;
}

export interface ListArtifactDirResponse {
  files: WireFileInfo[];
}

/** The `{"error_code", "message"}` body of a failed request. */
export interface WireErrorBody {
  error_code: string;
  message: string;
}

/** The limits MLflow puts on one runs/log-batch request. */
export const LOG_BATCH_LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  total: 1000,
} as const;

// The model registry's shapes (MLflow's model_registry.proto and Flywheel's /api/v1/ governance
// and lineage) are in registry-wire-types.ts; they stay importable from here.
export type * from "./registry-wire-types.js";
