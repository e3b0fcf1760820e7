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

export interface Database {
  experiments: ExperimentsTable;
  experiment_tags: ExperimentTagsTable;
  runs: RunsTable;
  params: KeyValueTable;
  tags: KeyValueTable;
  metrics: MetricsTable;
  latest_metrics: MetricsTable;
}
