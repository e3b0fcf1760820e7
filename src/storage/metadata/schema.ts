/** Table types of the metadata database, shared by the SQLite and PostgreSQL backends. */
import type { Generated } from "kysely";

export interface ExperimentsTable {
  experiment_id: Generated<number>;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
}

export interface ExperimentTagsTable {
  experiment_id: number;
  key: string;
  value: string;
}

export interface RunsTable {
  run_uuid: string;
  name: string;
  experiment_id: number;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  deleted_time: number | null;
  lifecycle_stage: string;
  artifact_uri: string;
}

export interface KeyValueTable {
  run_uuid: string;
  key: string;
  value: string;
}

export interface MetricsTable {
  run_uuid: string;
  key: string;
  /** 0 when is_nan is 1, since SQL databases differ in how they keep NaN. */
  value: number;
  timestamp: number;
  step: number;
  is_nan: number;
}

/** A dataset logged with runs/log-inputs: one row per (experiment, name, digest). */
export interface DatasetsTable {
  dataset_uuid: string;
  experiment_id: number;
  name: string;
  digest: string;
  dataset_source_type: string;
  dataset_source: string;
  dataset_schema: string | null;
  dataset_profile: string | null;
}

/** The link between a run and a dataset it used: one row per (run, dataset). */
export interface RunInputsTable {
  input_id: Generated<number>;
  run_uuid: string;
  dataset_uuid: string;
}

export interface RunInputTagsTable {
  input_id: number;
  key: string;
  value: string;
}

export interface RegisteredModelsTable {
  model_id: Generated<number>;
  name: string;
  creation_time: number;
  last_updated_time: number;
  description: string;
  user_id: string;
  last_version: Generated<number>;
  revision: Generated<number>;
}

export interface RegisteredModelTagsTable {
  model_id: number;
  key: string;
  value: string;
}

export interface ModelVersionsTable {
  model_id: number;
  version: number;
  creation_time: number;
  last_updated_time: number;
  description: string;
  user_id: string;
  current_stage: string;
  source: string;
  run_id: string | null;
  run_link: string;
  status: string;
  status_message: string;
  /** The MLflow 3 logged model the version was made from, if any. */
  logged_model_id: string | null;
}

export interface ModelVersionTagsTable {
  model_id: number;
  version: number;
  key: string;
  value: string;
}

export interface RegisteredModelAliasesTable {
  model_id: number;
  alias: string;
  version: number;
}

export interface ModelPoliciesTable {
  model_id: number;
  protected_aliases: string;
  gates: string;
  require_approval: number;
  updated_time: number;
  updated_by: string;
}

export interface ModelApprovalsTable {
  approval_id: Generated<number>;
  model_id: number;
  version: number;
  action: string;
  approver: string;
  reason: string;
  created_time: number;
}

export interface RegistryAuditLogTable {
  event_id: Generated<number>;
  model_name: string;
  version: number | null;
  action: string;
  from_value: string | null;
  to_value: string | null;
  actor: string;
  reason: string;
  created_time: number;
}

export interface LineageEdgesTable {
  src_type: string;
  src_id: string;
  relation: string;
  dst_type: string;
  dst_id: string;
  attributes: string;
  created_time: number;
}

export interface FeatureRegistryVersionsTable {
  project: string;
  version: number;
  snapshot: string;
  changes: string;
  applied_by: string;
  applied_time: number;
}

export interface FeatureMaterializationsTable {
  id: Generated<number>;
  project: string;
  view_name: string;
  start_ts: number;
  end_ts: number;
  row_count: number;
  created_time: number;
}

export interface FeatureStreamOffsetsTable {
  project: string;
  consumer: string;
  sequence: number;
  updated_time: number;
}

export interface MonitorsTable {
  name: string;
  spec: string;
  created_time: number;
  updated_time: number;
  next_run_time: number | null;
  last_run_time: number | null;
  last_status: string | null;
}

export interface MonitorRunsTable {
  id: Generated<number>;
  monitor: string;
  run_trigger: string;
  started_time: number;
  finished_time: number;
  window_start: number;
  window_end: number;
  model: string;
  version: string;
  status: string;
  result: string;
}

export interface MonitorPointsTable {
  monitor: string;
  check_name: string;
  metric: string;
  series: string;
  window_start: number;
  window_end: number;
  value: number;
  row_count: number | null;
  run_id: number;
  computed_time: number;
}

export interface MonitorEventsTable {
  id: Generated<number>;
  monitor: string;
  run_id: number | null;
  kind: string;
  event_time: number;
  payload: string;
  delivery: string;
}

export interface MonitorReferencesTable {
  model: string;
  version: string;
  fingerprint: string;
  artifact_key: string;
  row_count: number;
  created_time: number;
}

/** MLflow 3's LoggedModel. */
export interface LoggedModelsTable {
  model_id: string;
  experiment_id: number;
  name: string;
  artifact_location: string;
  creation_timestamp_ms: number;
  last_updated_timestamp_ms: number;
  status: string;
  status_message: string | null;
  lifecycle_stage: string;
  model_type: string | null;
  source_run_id: string | null;
}

export interface LoggedModelKeyValueTable {
  model_id: string;
  key: string;
  value: string;
}

export interface LoggedModelMetricsTable {
  model_id: string;
  key: string;
  /** 0 when is_nan is 1. */
  value: number;
  is_nan: number;
  timestamp: number;
  step: number;
  run_id: string;
  /** '' when the metric names no dataset. */
  dataset_name: string;
  dataset_digest: string;
}

/** A run's link to a logged model: an input (runs/log-inputs `models`) or an output (runs/outputs). */
export interface RunModelLinksTable {
  run_uuid: string;
  model_id: string;
  direction: "input" | "output";
  step: number;
  /** Order of first logging. */
  seq: number;
}

export interface Database {
  experiments: ExperimentsTable;
  experiment_tags: ExperimentTagsTable;
  runs: RunsTable;
  params: KeyValueTable;
  tags: KeyValueTable;
  metrics: MetricsTable;
  latest_metrics: MetricsTable;
  datasets: DatasetsTable;
  run_inputs: RunInputsTable;
  run_input_tags: RunInputTagsTable;
  registered_models: RegisteredModelsTable;
  registered_model_tags: RegisteredModelTagsTable;
  model_versions: ModelVersionsTable;
  model_version_tags: ModelVersionTagsTable;
  registered_model_aliases: RegisteredModelAliasesTable;
  model_policies: ModelPoliciesTable;
  model_approvals: ModelApprovalsTable;
  registry_audit_log: RegistryAuditLogTable;
  lineage_edges: LineageEdgesTable;
  feature_registry_versions: FeatureRegistryVersionsTable;
  feature_materializations: FeatureMaterializationsTable;
  feature_stream_offsets: FeatureStreamOffsetsTable;
  monitors: MonitorsTable;
  monitor_runs: MonitorRunsTable;
  monitor_points: MonitorPointsTable;
  monitor_events: MonitorEventsTable;
  monitor_references: MonitorReferencesTable;
  logged_models: LoggedModelsTable;
  logged_model_tags: LoggedModelKeyValueTable;
  logged_model_params: LoggedModelKeyValueTable;
  logged_model_metrics: LoggedModelMetricsTable;
  run_model_links: RunModelLinksTable;
}
