/** Conversions between database rows and the store's domain objects. */
import type { Experiment, LifecycleStage, Metric, RunInfo, RunStatus, Tag } from "../metadata-store.js";
import type { ExperimentsTable, MetricsTable, RunsTable } from "../schema.js";

export type ExperimentRow = Omit<ExperimentsTable, "experiment_id"> & { experiment_id: number };

export function toExperiment(row: ExperimentRow, tags: Tag[]): Experiment {
  return {
    experimentId: String(row.experiment_id),
    name: row.name,
    artifactLocation: row.artifact_location,
    lifecycleStage: row.lifecycle_stage as LifecycleStage,
    creationTime: Number(row.creation_time),
    lastUpdateTime: Number(row.last_update_time),
    tags,
  };
}

export function toRunInfo(row: RunsTable): RunInfo {
  return {
    runId: row.run_uuid,
    runName: row.name,
    experimentId: String(row.experiment_id),
    userId: row.user_id,
    status: row.status as RunStatus,
    startTime: Number(row.start_time),
    endTime: row.end_time === null ? null : Number(row.end_time),
    artifactUri: row.artifact_uri,
    lifecycleStage: row.lifecycle_stage as LifecycleStage,
  };
}

export function toMetric(row: Pick<MetricsTable, "key" | "value" | "timestamp" | "step" | "is_nan">): Metric {
  return {
    key: row.key,
    value: Number(row.is_nan) === 1 ? Number.NaN : Number(row.value),
    timestamp: Number(row.timestamp),
    step: Number(row.step),
  };
}

export function metricRow(runId: string, m: Metric): MetricsTable {
  const isNan = Number.isNaN(m.value);
  return { run_uuid: runId, key: m.key, value: isNan ? 0 : m.value, timestamp: m.timestamp, step: m.step, is_nan: isNan ? 1 : 0 };
}

/**
 * The point MLflow reports as a metric's latest value: highest step, then timestamp, then value
 * (NaN counting as 0, as it is stored).
 */
export function isLater(a: MetricsTable, b: MetricsTable): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return a.value > b.value;
}

/** Groups `{owner, key, value}` rows by owner. */
export function groupBy<R, K>(rows: R[], keyOf: (r: R) => K): Map<K, R[]> {
  const out = new Map<K, R[]>();
  for (const r of rows) {
    const k = keyOf(r);
    const list = out.get(k);
    if (list === undefined) out.set(k, [r]);
    else list.push(r);
  }
  return out;
}
