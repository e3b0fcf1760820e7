/**
 * The JSON shapes of the model registry, in their snake_case field names: MLflow's
 * registered-models/* and model-versions/* endpoints (model_registry.proto), and Flywheel's own
 * `/api/v1/` endpoints for models:/ URIs, governance (policies, gates, approvals, audit log) and
 * lineage. Re-exported by wire-types.ts.
 */
import type { WireTag } from "./wire-common.js";

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
