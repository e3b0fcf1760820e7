/**
 * The JSON shapes of MLflow's REST API 2.0, in its snake_case field names. Responses are
 * normalised by the client: metric values sent as "NaN"/"Infinity"/"-Infinity" become numbers,
 * int64 fields sent as strings become numbers, and lists the server omitted when empty
 * (`experiments`, `runs`, `metrics`, `files`) are present as empty arrays.
 */

export type LifecycleStage = "active" | "deleted";
export type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";
export type RunStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";

export interface WireTag {
  key: string;
  value: string;
}

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

export interface WireRun {
  info: WireRunInfo;
  data: WireRunData;
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

// ---- Model registry (MLflow's model_registry.proto JSON) ----

/** MLflow's model version stages. */
export type ModelVersionStage = "None" | "Staging" | "Production" | "Archived";
export type ModelVersionStatus = "PENDING_REGISTRATION" | "FAILED_REGISTRATION" | "READY";

export interface WireRegisteredModelAlias {
  alias: string;
  version: string;
}

export interface WireModelVersion {
  name: string;
  version: string;
  /** Epoch milliseconds. */
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: ModelVersionStage;
  description: string;
  /** Where the version's files are, as given at registration (`runs:/...`, `mlflow-artifacts:/...`). */
  source: string;
  run_id?: string;
  status: ModelVersionStatus;
  /** Why the registration failed (Flywheel checks every package when it is registered). */
  status_message?: string;
  tags: WireTag[];
  run_link?: string;
  aliases: string[];
}

export interface WireRegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  description: string;
  /** The latest version in each stage. */
  latest_versions: WireModelVersion[];
  tags: WireTag[];
  aliases: WireRegisteredModelAlias[];
}

export interface CreateRegisteredModelRequest {
  name: string;
  tags?: WireTag[];
  description?: string;
}

export interface RenameRegisteredModelRequest {
  name: string;
  new_name: string;
}

export interface UpdateRegisteredModelRequest {
  name: string;
  description: string;
}

/** registered-models/search and model-versions/search. */
export interface SearchRegistryRequest {
  /** `name LIKE 'churn%'`, `tags.team = 'ml'`; for versions also `run_id`, `source_path`, `version_number`. */
  filter?: string;
  max_results?: number;
  order_by?: string[];
  page_token?: string;
}

export type SearchRegisteredModelsRequest = SearchRegistryRequest;
export type SearchModelVersionsRequest = SearchRegistryRequest;

export interface SetRegisteredModelTagRequest {
  name: string;
  key: string;
  value: string;
}

export interface SetRegisteredModelAliasRequest {
  name: string;
  alias: string;
  version: string;
}

export interface CreateModelVersionRequest {
  name: string;
  source: string;
  run_id?: string;
  tags?: WireTag[];
  run_link?: string;
  description?: string;
}

export interface UpdateModelVersionRequest {
  name: string;
  version: string;
  description: string;
}

export interface TransitionModelVersionStageRequest {
  name: string;
  version: string;
  /** None, Staging, Production or Archived (any casing). */
  stage: string;
  /** Move the model's other versions in that stage to Archived. */
  archive_existing_versions?: boolean;
}

export interface SetModelVersionTagRequest {
  name: string;
  version: string;
  key: string;
  value: string;
}

export interface RegisteredModelResponse {
  registered_model: WireRegisteredModel;
}

export interface ModelVersionResponse {
  model_version: WireModelVersion;
}

export interface SearchRegisteredModelsResponse {
  registered_models: WireRegisteredModel[];
  next_page_token?: string;
}

export interface SearchModelVersionsResponse {
  model_versions: WireModelVersion[];
  next_page_token?: string;
}

export interface GetLatestVersionsResponse {
  model_versions: WireModelVersion[];
}

export interface GetModelVersionDownloadUriResponse {
  artifact_uri: string;
}

// ---- Flywheel's registry API (/api/v1/) ----

/** `GET /api/v1/models/resolve?uri=models:/...`: the version a models:/ URI names now. */
export interface ResolveModelUriResponse {
  model_version: WireModelVersion;
  artifact_uri: string;
}

export interface WireModelPolicy {
  /** Aliases that move only through the gates (and approval, when required). */
  protected_aliases: string[];
  /** Conditions in the run search grammar, evaluated on the version's run (`metrics.auc >= 0.9`). */
  gates: string[];
  require_approval: boolean;
  /** Epoch milliseconds; 0 while the model has the default policy. */
  updated_time: number;
  updated_by: string;
}

/** Fields left out keep their current value. */
export interface SetModelPolicyRequest {
  protected_aliases?: string[];
  gates?: string[];
  require_approval?: boolean;
  reason?: string;
}

export interface ModelPolicyResponse {
  policy: WireModelPolicy;
}

/** What a promotion moves: an alias to the version, or the version to a stage. */
export type PromotionTarget = { alias: string; stage?: undefined } | { stage: string; alias?: undefined };

export type ApproveRequest = PromotionTarget & { reason?: string };

export type PromoteRequest = PromotionTarget & {
  reason?: string;
  /** With a stage: move the model's other versions in that stage to Archived. */
  archive_existing_versions?: boolean;
};

export interface WireGateResult {
  gate: string;
  passed: boolean;
  /** What was found when the gate failed ("metrics.auc is 0.87"). */
  detail: string;
}

export interface WireApproval {
  approver: string;
  reason: string;
  time: number;
}

export interface PromotionCheckResponse {
  /** Whether the target is protected (a protected alias, or the Production stage). */
  protected: boolean;
  gates: WireGateResult[];
  approvals: WireApproval[];
  /** Every gate passes (approvals are not counted). */
  allowed_without_approval: boolean;
}

export type AuditAction =
  | "create_model"
  | "rename_model"
  | "delete_model"
  | "create_version"
  | "delete_version"
  | "transition_stage"
  | "set_alias"
  | "delete_alias"
  | "approve"
  | "set_policy"
  | "refused";

export interface WireAuditEvent {
  /** Increasing; pass the last one seen as `after` to read on. */
  id: number;
  model: string;
  version: string | null;
  action: AuditAction;
  from: string | null;
  to: string | null;
  actor: string;
  reason: string;
  time: number;
}

export interface AuditLogRequest {
  /** One model's events; all models' when left out. */
  name?: string;
  /** Events with an id greater than this. */
  after?: number;
  /** At most this many events (server default 1000, at most 10 000). */
  limit?: number;
}

export interface AuditLogResponse {
  events: WireAuditEvent[];
}

/** The node types the server writes today (clients should expect new ones). */
export type LineageNodeType = "experiment" | "run" | "model_version" | "dataset" | "feature_service" | "deployment";

export interface WireLineageNodeRef {
  /** A LineageNodeType, or a type added by a newer server. */
  type: string;
  /** run id, `<model name>/<version>`, dataset URI, feature service name, ... */
  id: string;
}

export interface WireLineageNode extends WireLineageNodeRef {
  /** False when an edge names a run, experiment or version the stores no longer have. */
  found: boolean;
  /**
   * What the server knows about the node, by type: model_version `{name, version, status,
   * status_message?, stage, aliases, source, run_id, creation_timestamp}`; run `{run_id, run_name,
   * experiment_id, user_id, status, start_time, end_time, artifact_uri, params: [{key, value}],
   * metrics: [{key, value, step, timestamp}], code_version, source_name}`; experiment
   * `{experiment_id, name, lifecycle_stage}`; dataset `{uri, version, versions}`; feature_service
   * `{name, features}`; deployment `{name}`.
   */
  details: Record<string, unknown>;
}

export interface WireLineageEdge {
  src: WireLineageNodeRef;
  /** produced (run → version), contains (experiment → run), trained (dataset → version), features (feature service → version), ... */
  relation: string;
  dst: WireLineageNodeRef;
  attributes: Record<string, unknown>;
  created_time: number;
}

export interface LineageGraphResponse {
  root: WireLineageNodeRef;
  /** The root first. */
  nodes: WireLineageNode[];
  edges: WireLineageEdge[];
  /** True when the server stopped walking at its node limit. */
  truncated: boolean;
}
