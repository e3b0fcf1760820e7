/**
 * The LoggedModelStore port: MLflow 3's logged models (a model logged in an experiment, with its
 * own artifact location and status), their tags, params and the metrics logged against them.
 */
import type { Tag } from "./common.js";
import type { Comparison } from "./search-types.js";

type LifecycleStage = "active" | "deleted";
type Param = Tag;

export type LoggedModelStatus = "LOGGED_MODEL_PENDING" | "LOGGED_MODEL_READY" | "LOGGED_MODEL_UPLOAD_FAILED";
export const LOGGED_MODEL_STATUSES: readonly LoggedModelStatus[] = ["LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"];

/** A metric point logged against a model (log-metric or log-batch with `model_id`). */
export interface LoggedModelMetric {
  key: string;
  /** NaN and ±Infinity are legal values. */
  value: number;
  timestamp: number;
  step: number;
  runId: string;
  datasetName: string | null;
  datasetDigest: string | null;
}

export interface LoggedModel {
  modelId: string;
  experimentId: string;
  name: string;
  artifactLocation: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  status: LoggedModelStatus;
  statusMessage: string | null;
  lifecycleStage: LifecycleStage;
  modelType: string | null;
  sourceRunId: string | null;
  tags: Tag[];
  params: Param[];
  metrics: LoggedModelMetric[];
}

export interface NewLoggedModel {
  modelId: string;
  experimentId: string;
  name: string;
  artifactLocation: string;
  modelType: string | null;
  sourceRunId: string | null;
  tags: Tag[];
  params: Param[];
  now: number;
}

/** A run's link to a logged model. */
export interface RunModelLink {
  modelId: string;
  direction: "input" | "output";
  step: number;
}

export interface LoggedModelStore {
  create(input: NewLoggedModel): Promise<LoggedModel>;
  /** The model, deleted or not; undefined when no such id was ever created. */
  get(modelId: string): Promise<LoggedModel | undefined>;
  /** Sets the status (finalize) or the lifecycle stage (delete); returns false when there is no such model. */
  update(modelId: string, patch: { status?: LoggedModelStatus; statusMessage?: string | null; lifecycleStage?: LifecycleStage }, now: number): Promise<boolean>;
  /** Sets tags (overwriting a key's value), atomically. */
  setTags(modelId: string, tags: Tag[], now: number): Promise<void>;
  /** Returns false when the model had no such tag. */
  deleteTag(modelId: string, key: string, now: number): Promise<boolean>;
  /** Inserts params, atomically; a different value for a key already logged throws FW_TRACKING_PARAM_CHANGED and nothing is written. */
  logParams(modelId: string, params: Param[], now: number): Promise<void>;
  /** Appends metric points to models (an identical point is not duplicated). */
  logMetrics(points: (LoggedModelMetric & { modelId: string })[]): Promise<void>;
  /** Links a run to models as inputs or outputs; a link that exists already is left as it is. */
  linkRun(runId: string, links: RunModelLink[]): Promise<void>;
  /**
   * Every model of the experiments in the given stage, newest first, that passes `where`:
   * comparisons on the model's own columns (`name`, `model_id`, `model_type`, `status`,
   * `source_run_id`, `creation_timestamp`, `last_updated_timestamp`), evaluated by the database.
   */
  list(experimentIds: readonly string[], stage: LifecycleStage, where?: readonly Comparison[]): Promise<LoggedModel[]>;
}
