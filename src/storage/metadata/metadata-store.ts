/**
 * The MetadataStore port: durable storage of experiments, runs, params, metrics and tags.
 * Validation lives in the tracking service; a backend implements only the storage step.
 */
import type { FeatureRegistryStore } from "./feature-registry-store.js";
import type { GovernanceStore } from "./governance-store.js";
import type { LineageStore } from "./lineage-store.js";
import type { LoggedModelStore } from "./logged-model-store.js";
import type { MonitoringStore } from "./monitoring-store.js";
import type { RegistryStore } from "./registry-store.js";
import type { SearchFilter, OrderByClause } from "./search-types.js";

export type LifecycleStage = "active" | "deleted";
export type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";
export type RunStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";
export const RUN_STATUSES: readonly RunStatus[] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

export type { Page, Tag } from "./common.js";
import type { Page, Tag } from "./common.js";
export type Param = Tag;

export interface Metric {
  key: string;
  /** NaN and ±Infinity are legal values. */
  value: number;
  timestamp: number;
  step: number;
}

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStage;
  creationTime: number;
  lastUpdateTime: number;
  tags: Tag[];
}

export interface RunInfo {
  runId: string;
  runName: string;
  experimentId: string;
  userId: string;
  status: RunStatus;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: LifecycleStage;
}

/** A dataset as MLflow records it: stored once per experiment, keyed by (name, digest). */
export interface Dataset {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema: string | null;
  profile: string | null;
}

/** A dataset used by a run, with the tags given when the link was first logged. */
export interface DatasetInput {
  dataset: Dataset;
  tags: Tag[];
}

export interface Run {
  info: RunInfo;
  /** Latest value of each metric (highest step, then timestamp, then value). */
  metrics: Metric[];
  params: Param[];
  tags: Tag[];
  /** Datasets logged to the run (runs/log-inputs), in the order they were first linked. */
  inputs: DatasetInput[];
  /** Logged models the run used (runs/log-inputs `models`), in the order they were first linked. */
  modelInputs: string[];
  /** Logged models the run produced (runs/outputs), with the step each was logged at. */
  modelOutputs: { modelId: string; step: number }[];
}

export interface NewExperiment {
  name: string;
  /** Given the new id, returns the artifact location (used when none was requested). */
  artifactLocation: string | ((experimentId: string) => string);
  tags: Tag[];
  now: number;
}

export interface NewRun {
  runId: string;
  experimentId: string;
  runName: string;
  userId: string;
  startTime: number;
  artifactUri: string;
  tags: Tag[];
}

export interface RunUpdate {
  status?: RunStatus;
  endTime?: number | null;
  runName?: string;
}

export interface Batch {
  metrics: Metric[];
  params: Param[];
  tags: Tag[];
}

export interface ExperimentQuery {
  viewType: ViewType;
  filter: SearchFilter;
  orderBy: OrderByClause[];
  maxResults: number;
  offset: number;
}

export interface RunQuery {
  experimentIds: string[];
  viewType: ViewType;
  filter: SearchFilter;
  orderBy: OrderByClause[];
  maxResults: number;
  offset: number;
}

export interface MetadataStore {
  readonly backend: "sqlite" | "postgresql";
  /** The model registry's tables live in the same database. */
  readonly registry: RegistryStore;
  readonly lineage: LineageStore;
  readonly governance: GovernanceStore;
  /** The feature store's versioned definitions and materialization records. */
  readonly features: FeatureRegistryStore;
  /** Monitors, their runs, time series, events and reference documents. */
  readonly monitoring: MonitoringStore;
  /** MLflow 3's logged models. */
  readonly loggedModels: LoggedModelStore;

  /** Checks the connection; throws FW_STORAGE_UNAVAILABLE when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;

  createExperiment(input: NewExperiment): Promise<Experiment>;
  getExperiment(experimentId: string): Promise<Experiment | undefined>;
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  searchExperiments(query: ExperimentQuery): Promise<Page<Experiment>>;
  renameExperiment(experimentId: string, newName: string, now: number): Promise<void>;
  /** Sets the experiment's stage and, with it, the stage of all its runs. */
  setExperimentLifecycle(experimentId: string, stage: LifecycleStage, now: number): Promise<void>;
  setExperimentTag(experimentId: string, tag: Tag, now: number): Promise<void>;
  /** Returns false when the experiment had no such tag. */
  deleteExperimentTag(experimentId: string, key: string, now: number): Promise<boolean>;

  createRun(input: NewRun): Promise<Run>;
  getRun(runId: string): Promise<Run | undefined>;
  getRunInfo(runId: string): Promise<RunInfo | undefined>;
  updateRun(runId: string, update: RunUpdate): Promise<RunInfo>;
  setRunLifecycle(runId: string, stage: LifecycleStage, now: number): Promise<void>;
  /**
   * Writes a batch atomically: metrics are appended (an identical point is not duplicated),
   * params are inserted (a different value for an existing key throws FW_TRACKING_PARAM_CHANGED
   * and nothing is written), tags overwrite.
   */
  logBatch(runId: string, batch: Batch): Promise<void>;
  /**
   * Links datasets to a run, atomically. A dataset is stored once per experiment by (name,
   * digest): an existing one is reused as stored. A (run, dataset) link is stored once: logging
   * it again changes nothing, its tags included. `inputs` has no two entries with the same
   * (name, digest).
   */
  logInputs(runId: string, experimentId: string, inputs: DatasetInput[]): Promise<void>;
  /** Returns false when the run had no such tag. */
  deleteRunTag(runId: string, key: string): Promise<boolean>;
  getMetricHistory(runId: string, key: string, offset: number, limit: number | undefined): Promise<Page<Metric>>;
  searchRuns(query: RunQuery): Promise<Page<Run>>;
}
