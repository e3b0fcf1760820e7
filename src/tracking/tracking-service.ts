/**
 * Experiment tracking: experiments, runs, params, metrics, tags and run artifacts, with MLflow's
 * rules. Validation happens here, once; the MetadataStore only stores.
 */
import type { Clock } from "../core/clock.js";
import { FlywheelError, invalidField } from "../core/errors.js";
import { newRunId } from "../core/ids.js";
import type { ArtifactEntry, ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { joinKey, safeRelativePath } from "../storage/artifacts/safe-path.js";
import type {
  Batch,
  DatasetInput,
  Experiment,
  MetadataStore,
  Metric,
  Run,
  RunInfo,
  RunStatus,
  Tag,
  ViewType,
} from "../storage/metadata/metadata-store.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { randomRunName } from "./run-names.js";
import { parseFilter, parseOrderBy } from "./search-grammar.js";
import {
  validateBatch,
  validateDatasetInputs,
  validateExperimentName,
  validateExperimentTag,
  validateKey,
  validateMaxResults,
  validateRunName,
  validateTag,
} from "./validation.js";

export const ARTIFACT_SCHEME = "mlflow-artifacts:";
export const DEFAULT_EXPERIMENT_ID = "0";
const RUN_NAME_TAG = "mlflow.runName";
const USER_TAG = "mlflow.user";
const MODEL_HISTORY_TAG = "mlflow.log-model.history";
const DEFAULT_SEARCH_MAX = 1000;

export interface SearchExperimentsInput {
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  viewType?: ViewType;
}

export interface SearchRunsInput {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  viewType?: ViewType;
}

export interface CreateRunInput {
  experimentId?: string;
  userId?: string;
  runName?: string;
  startTime?: number;
  tags?: Tag[];
}

/** The artifact-store key an `mlflow-artifacts:/...` URI points at. */
export function artifactKeyOfUri(uri: string): string {
  if (!uri.startsWith(ARTIFACT_SCHEME)) {
    throw new FlywheelError("FW_ARTIFACT_UNSUPPORTED_URI", `Artifact URI '${uri}' is not served by this server (expected ${ARTIFACT_SCHEME}/...)`);
  }
  // mlflow-artifacts:/path and mlflow-artifacts://host/path both name `path` on this server.
  const rest = uri.slice(ARTIFACT_SCHEME.length);
  const path = rest.startsWith("//") ? rest.slice(2).replace(/^[^/]*/, "") : rest;
  return safeRelativePath(path.replace(/^\/+/, ""));
}

export class TrackingService {
  constructor(
    private readonly store: MetadataStore,
    private readonly artifacts: ArtifactStore,
    private readonly clock: Clock,
  ) {}

  // ---- experiments -------------------------------------------------------------------------

  async createExperiment(name: string, artifactLocation: string | undefined, tags: Tag[] = []): Promise<string> {
    validateExperimentName(name);
    tags.forEach(validateExperimentTag);
    let location: string | ((id: string) => string) = (id) => `${ARTIFACT_SCHEME}/${id}`;
    if (artifactLocation !== undefined && artifactLocation !== "") {
      const key = artifactKeyOfUri(artifactLocation);
      if (key === "") throw invalidField("artifact_location", "must name a directory below the artifact root");
      location = `${ARTIFACT_SCHEME}/${key}`;
    }
    const existing = await this.store.getExperimentByName(name);
    if (existing !== undefined) {
      const state = existing.lifecycleStage === "deleted" ? " in deleted state. You can restore the experiment, or permanently delete it to reuse the name" : "";
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_EXISTS", `Experiment '${name}' already exists${state}.`);
    }
    const exp = await this.store.createExperiment({ name, artifactLocation: location, tags, now: this.clock.now() });
    return exp.experimentId;
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const exp = await this.store.getExperiment(experimentId);
    if (exp === undefined) {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_FOUND", `No Experiment with id=${experimentId} exists`);
    }
    return exp;
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    const exp = await this.store.getExperimentByName(name);
    if (exp === undefined) {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_FOUND", `Could not find experiment with name '${name}'`);
    }
    return exp;
  }

  async searchExperiments(input: SearchExperimentsInput): Promise<{ experiments: Experiment[]; nextPageToken?: string }> {
    validateMaxResults(input.maxResults);
    const filter = parseFilter(input.filter, "experiment");
    const orderBy = parseOrderBy(input.orderBy, "experiment");
    const viewType = input.viewType ?? "ACTIVE_ONLY";
    const fingerprint = { t: "experiments", f: input.filter ?? "", o: input.orderBy ?? [], v: viewType };
    const maxResults = input.maxResults ?? DEFAULT_SEARCH_MAX;
    const offset = decodePageToken(input.pageToken, fingerprint);
    const page = await this.store.searchExperiments({ viewType, filter, orderBy, maxResults, offset });
    return {
      experiments: page.items,
      ...(page.nextOffset !== undefined ? { nextPageToken: encodePageToken(page.nextOffset, fingerprint) } : {}),
    };
  }

  async renameExperiment(experimentId: string, newName: string): Promise<void> {
    validateExperimentName(newName, "new_name");
    const exp = await this.getExperiment(experimentId);
    if (exp.lifecycleStage !== "active") {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_ACTIVE", `Cannot rename a non-active experiment (id=${experimentId}).`);
    }
    if (exp.name === newName) return;
    const clash = await this.store.getExperimentByName(newName);
    if (clash !== undefined) throw new FlywheelError("FW_TRACKING_EXPERIMENT_EXISTS", `Experiment '${newName}' already exists.`);
    await this.store.renameExperiment(experimentId, newName, this.clock.now());
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    if (experimentId === DEFAULT_EXPERIMENT_ID) {
      throw invalidField("experiment_id", "the default experiment '0' cannot be deleted");
    }
    const exp = await this.getExperiment(experimentId);
    if (exp.lifecycleStage === "deleted") {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_ACTIVE", `Experiment ${experimentId} is already deleted.`);
    }
    await this.store.setExperimentLifecycle(experimentId, "deleted", this.clock.now());
  }

  async restoreExperiment(experimentId: string): Promise<void> {
    const exp = await this.getExperiment(experimentId);
    if (exp.lifecycleStage !== "deleted") {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_ACTIVE", `Cannot restore an active experiment (id=${experimentId}).`);
    }
    await this.store.setExperimentLifecycle(experimentId, "active", this.clock.now());
  }

  async setExperimentTag(experimentId: string, tag: Tag): Promise<void> {
    validateExperimentTag(tag);
    await this.activeExperiment(experimentId);
    await this.store.setExperimentTag(experimentId, tag, this.clock.now());
  }

  async deleteExperimentTag(experimentId: string, key: string): Promise<void> {
    await this.activeExperiment(experimentId);
    const deleted = await this.store.deleteExperimentTag(experimentId, key, this.clock.now());
    if (!deleted) {
      throw new FlywheelError("FW_TRACKING_TAG_NOT_FOUND", `No tag with name: ${key} in experiment with id ${experimentId}`);
    }
  }

  private async activeExperiment(experimentId: string): Promise<Experiment> {
    const exp = await this.getExperiment(experimentId);
    if (exp.lifecycleStage !== "active") {
      throw new FlywheelError(
        "FW_TRACKING_EXPERIMENT_NOT_ACTIVE",
        `The experiment ${experimentId} must be in the 'active' state. Current state is ${exp.lifecycleStage}.`,
      );
    }
    return exp;
  }

  // ---- runs ----------------------------------------------------------------------------------

  async createRun(input: CreateRunInput): Promise<Run> {
    const experimentId = input.experimentId ?? DEFAULT_EXPERIMENT_ID;
    const exp = await this.activeExperiment(experimentId);
    const tags = [...(input.tags ?? [])];
    tags.forEach((t) => validateTag(t));
    if (input.runName !== undefined) validateRunName(input.runName);
    const tagged = tags.find((t) => t.key === RUN_NAME_TAG)?.value;
    if (input.runName !== undefined && input.runName !== "" && tagged !== undefined && tagged !== input.runName) {
      throw invalidField("run_name", `run_name '${input.runName}' and tag ${RUN_NAME_TAG} '${tagged}' differ; set one or make them equal`);
    }
    const runName = input.runName !== undefined && input.runName !== "" ? input.runName : (tagged ?? randomRunName());
    if (tagged === undefined) tags.push({ key: RUN_NAME_TAG, value: runName });
    const runId = newRunId();
    return this.store.createRun({
      runId,
      experimentId,
      runName,
      userId: input.userId ?? tags.find((t) => t.key === USER_TAG)?.value ?? "",
      startTime: input.startTime ?? this.clock.now(),
      artifactUri: `${exp.artifactLocation}/${runId}/artifacts`,
      tags,
    });
  }

  async getRun(runId: string): Promise<Run> {
    const run = await this.store.getRun(runId);
    if (run === undefined) throw new FlywheelError("FW_TRACKING_RUN_NOT_FOUND", `Run with id=${runId} not found`);
    return run;
  }

  private async runInfo(runId: string): Promise<RunInfo> {
    const info = await this.store.getRunInfo(runId);
    if (info === undefined) throw new FlywheelError("FW_TRACKING_RUN_NOT_FOUND", `Run with id=${runId} not found`);
    return info;
  }

  /** The run's info; 404 when there is no such run, 400 when it is deleted. */
  activeRunInfo(runId: string): Promise<RunInfo> {
    return this.activeRun(runId);
  }

  private async activeRun(runId: string): Promise<RunInfo> {
    const info = await this.runInfo(runId);
    if (info.lifecycleStage !== "active") {
      throw new FlywheelError(
        "FW_TRACKING_RUN_NOT_ACTIVE",
        `The run ${runId} must be in the 'active' state. Current state is ${info.lifecycleStage}.`,
      );
    }
    return info;
  }

  async updateRun(runId: string, update: { status?: RunStatus; endTime?: number; runName?: string }): Promise<RunInfo> {
    await this.activeRun(runId);
    if (update.runName !== undefined) validateRunName(update.runName);
    return this.store.updateRun(runId, {
      ...(update.status !== undefined ? { status: update.status } : {}),
      ...(update.endTime !== undefined ? { endTime: update.endTime } : {}),
      ...(update.runName !== undefined && update.runName !== "" ? { runName: update.runName } : {}),
    });
  }

  async deleteRun(runId: string): Promise<void> {
    await this.runInfo(runId);
    await this.store.setRunLifecycle(runId, "deleted", this.clock.now());
  }

  async restoreRun(runId: string): Promise<void> {
    const info = await this.runInfo(runId);
    const exp = await this.getExperiment(info.experimentId);
    if (exp.lifecycleStage !== "active") {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_ACTIVE", `Cannot restore run ${runId}: its experiment ${exp.experimentId} is deleted.`);
    }
    await this.store.setRunLifecycle(runId, "active", this.clock.now());
  }

  async logBatch(runId: string, batch: Batch): Promise<void> {
    validateBatch(batch);
    await this.activeRun(runId);
    if (batch.metrics.length + batch.params.length + batch.tags.length === 0) return;
    await this.store.logBatch(runId, batch);
  }

  logMetric(runId: string, metric: Metric): Promise<void> {
    return this.logBatch(runId, { metrics: [metric], params: [], tags: [] });
  }

  logParam(runId: string, param: Tag): Promise<void> {
    return this.logBatch(runId, { metrics: [], params: [param], tags: [] });
  }

  setTag(runId: string, tag: Tag): Promise<void> {
    return this.logBatch(runId, { metrics: [], params: [], tags: [tag] });
  }

  /**
   * Records a logged model's MLmodel document on the run, as MLflow's `runs/log-model` does:
   * appended to the JSON list in the `mlflow.log-model.history` tag.
   */
  async logModel(runId: string, modelJson: string): Promise<void> {
    let model: unknown;
    try {
      model = JSON.parse(modelJson);
    } catch {
      throw invalidField("model_json", "must be a JSON document");
    }
    if (typeof model !== "object" || model === null || Array.isArray(model)) throw invalidField("model_json", "must be a JSON object");
    await this.activeRun(runId);
    const run = await this.getRun(runId);
    const prior = run.tags.find((t) => t.key === MODEL_HISTORY_TAG)?.value;
    let history: unknown[] = [];
    if (prior !== undefined) {
      try {
        const parsed: unknown = JSON.parse(prior);
        if (Array.isArray(parsed)) history = parsed;
      } catch {
        history = [];
      }
    }
    history.push(model);
    // Written without the tag-length check: MLflow keeps the whole history in this one tag.
    await this.store.logBatch(runId, { metrics: [], params: [], tags: [{ key: MODEL_HISTORY_TAG, value: JSON.stringify(history) }] });
  }

  /**
   * Logs datasets as inputs of a run, as MLflow's runs/log-inputs does: the request is validated
   * first, then the run must exist (404) and be active (400). Entries with the same (name, digest)
   * collapse to the first one. The store keeps one dataset per (experiment, name, digest) and one
   * link per (run, dataset); re-logging a linked dataset leaves it and its tags as they were.
   */
  async logInputs(runId: string, inputs: DatasetInput[]): Promise<void> {
    validateDatasetInputs(inputs);
    const info = await this.activeRun(runId);
    const first = new Map<string, DatasetInput>();
    for (const input of inputs) {
      const key = `${input.dataset.name}\u0000${input.dataset.digest}`;
      if (!first.has(key)) first.set(key, input);
    }
    if (first.size === 0) return;
    await this.store.logInputs(runId, info.experimentId, [...first.values()]);
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    validateKey("tag", key);
    await this.activeRun(runId);
    if (!(await this.store.deleteRunTag(runId, key))) {
      throw new FlywheelError("FW_TRACKING_TAG_NOT_FOUND", `No tag with name: ${key} in run with id ${runId}`);
    }
  }

  async searchRuns(input: SearchRunsInput): Promise<{ runs: Run[]; nextPageToken?: string }> {
    validateMaxResults(input.maxResults);
    const filter = parseFilter(input.filter, "run");
    const orderBy = parseOrderBy(input.orderBy, "run");
    for (const id of input.experimentIds) {
      if (!/^\d+$/.test(id)) throw invalidField("experiment_ids", `'${id}' is not an experiment id`);
    }
    const viewType = input.viewType ?? "ACTIVE_ONLY";
    const fingerprint = { t: "runs", e: input.experimentIds, f: input.filter ?? "", o: input.orderBy ?? [], v: viewType };
    const maxResults = input.maxResults ?? DEFAULT_SEARCH_MAX;
    const offset = decodePageToken(input.pageToken, fingerprint);
    const page = await this.store.searchRuns({ experimentIds: input.experimentIds, viewType, filter, orderBy, maxResults, offset });
    return {
      runs: page.items,
      ...(page.nextOffset !== undefined ? { nextPageToken: encodePageToken(page.nextOffset, fingerprint) } : {}),
    };
  }

  async getMetricHistory(
    runId: string,
    key: string,
    maxResults: number | undefined,
    pageToken: string | undefined,
  ): Promise<{ metrics: Metric[]; nextPageToken?: string }> {
    validateMaxResults(maxResults);
    await this.runInfo(runId);
    const fingerprint = { t: "history", r: runId, k: key };
    const offset = decodePageToken(pageToken, fingerprint);
    const page = await this.store.getMetricHistory(runId, key, offset, maxResults);
    return {
      metrics: page.items,
      ...(page.nextOffset !== undefined ? { nextPageToken: encodePageToken(page.nextOffset, fingerprint) } : {}),
    };
  }

  /** Lists a run's artifacts under `path`, with paths relative to the run's artifact root. */
  async listRunArtifacts(runId: string, path: string | undefined): Promise<{ rootUri: string; files: ArtifactEntry[] }> {
    const info = await this.runInfo(runId);
    const rel = safeRelativePath(path ?? "");
    const root = artifactKeyOfUri(info.artifactUri);
    const entries = await this.artifacts.list(joinKey(root, rel));
    const strip = root === "" ? 0 : root.length + 1;
    return { rootUri: info.artifactUri, files: entries.map((e) => ({ ...e, path: e.path.slice(strip) })) };
  }
}
