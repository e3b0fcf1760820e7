/**
 * MLflow 3's logged models (LoggedModel): a model logged in an experiment with its own artifact
 * location (`<experiment artifact location>/models/<model_id>/artifacts`), a status that goes from
 * PENDING to READY (or UPLOAD_FAILED) when its files are uploaded, tags, params, and the metrics
 * runs log against it. Runs link to models as outputs (runs/outputs) and inputs (runs/log-inputs).
 * MLflow 3 clients create one for every `log_model`, so without these calls they cannot log a model.
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../core/clock.js";
import { FlywheelError, invalidField } from "../core/errors.js";
import type { ArtifactEntry, ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { joinKey, safeRelativePath } from "../storage/artifacts/safe-path.js";
import { LOGGED_MODEL_STATUSES, type LoggedModel, type LoggedModelMetric, type LoggedModelStatus } from "../storage/metadata/logged-model-store.js";
import type { MetadataStore, Metric, Param, RunInfo, Tag } from "../storage/metadata/metadata-store.js";
import type { Comparison } from "../storage/metadata/search-types.js";
import { compareValue } from "./compare-value.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { randomRunName } from "./run-names.js";
import { parseFilter } from "./search-grammar.js";
import { artifactKeyOfUri } from "./tracking-service.js";
import { validateMaxResults, validateParam, validateTag } from "./validation.js";

export function newLoggedModelId(): string {
  return `m-${randomBytes(16).toString("hex")}`;
}

/** Characters MLflow refuses in a logged model's name. */
const BAD_NAME_CHARS = ["/", ":", ".", "%", '"', "'"];
const NAME_LENGTH = 500;
const PARAMS_PER_REQUEST = 100;
/** MLflow sets no limit; this keeps one request within what a batch may hold. */
const TAGS_PER_REQUEST = 1000;
const DEFAULT_SEARCH_MAX = 50;
/** MLflow's dataset limits, which the columns a model's metrics are stored in follow. */
const DATASET_NAME_LENGTH = 500;
const DATASET_DIGEST_LENGTH = 36;

/** The attributes a search can filter and sort on, with their aliases: the name the store compares. */
const ATTRIBUTES: Record<string, string> = {
  name: "name",
  model_id: "model_id",
  model_type: "model_type",
  status: "status",
  source_run_id: "source_run_id",
  creation_timestamp: "creation_timestamp",
  creation_time: "creation_timestamp",
  last_updated_timestamp: "last_updated_timestamp",
  last_updated_time: "last_updated_timestamp",
};
/** Where each attribute is on a LoggedModel. */
const FIELDS: Record<string, keyof LoggedModel> = {
  name: "name",
  model_id: "modelId",
  model_type: "modelType",
  status: "status",
  source_run_id: "sourceRunId",
  creation_timestamp: "creationTimestamp",
  last_updated_timestamp: "lastUpdatedTimestamp",
};

type Value = string | number | null | undefined;

export interface CreateLoggedModelInput {
  experimentId: string;
  name?: string | undefined;
  modelType?: string | undefined;
  sourceRunId?: string | undefined;
  params?: Param[];
  tags?: Tag[];
}

/** A dataset the metrics of a search are restricted to (its digest optional). */
export interface DatasetRef {
  name: string;
  digest?: string | undefined;
}

export interface LoggedModelOrder {
  field: string;
  ascending: boolean;
  dataset?: DatasetRef;
}

export interface SearchLoggedModelsInput {
  experimentIds: string[];
  filter?: string | undefined;
  datasets?: DatasetRef[];
  orderBy?: LoggedModelOrder[];
  maxResults?: number | undefined;
  pageToken?: string | undefined;
}

export type ModelMetricInput = Metric & { modelId: string; datasetName?: string | null; datasetDigest?: string | null };

function notFound(modelId: string): FlywheelError {
  return new FlywheelError("FW_TRACKING_LOGGED_MODEL_NOT_FOUND", `Logged model with ID '${modelId}' not found.`);
}

const inDataset = (m: LoggedModelMetric, datasets: readonly DatasetRef[] | undefined): boolean =>
  datasets === undefined || datasets.length === 0 || datasets.some((d) => m.datasetName === d.name && (d.digest === undefined || d.digest === "" || m.datasetDigest === d.digest));

/** The value a search compares for `metrics.<key>`: the latest point (highest step, then timestamp) among the datasets asked for. */
function metricValue(model: LoggedModel, key: string, datasets: readonly DatasetRef[] | undefined): number | undefined {
  let best: LoggedModelMetric | undefined;
  for (const m of model.metrics) {
    if (m.key !== key || !inDataset(m, datasets)) continue;
    if (best === undefined || m.step > best.step || (m.step === best.step && m.timestamp >= best.timestamp)) best = m;
  }
  return best?.value;
}

/** The attribute's name as the store compares it. */
function attributeOf(key: string, where: string): string {
  const attr = ATTRIBUTES[key];
  if (attr === undefined) {
    throw new FlywheelError("FW_SEARCH_INVALID_FILTER", `Invalid ${where} '${key}': logged models can be searched by ${Object.keys(ATTRIBUTES).join(", ")}, metrics.<key>, params.<key> and tags.<key>`);
  }
  return attr;
}

/** How a filter or order_by term reads its value from a model. */
function valueOf(type: Comparison["type"], key: string, datasets: readonly DatasetRef[] | undefined): (m: LoggedModel) => Value {
  switch (type) {
    case "metric":
      return (m) => metricValue(m, key, datasets);
    case "param":
      return (m) => m.params.find((p) => p.key === key)?.value;
    case "tag":
      return (m) => m.tags.find((t) => t.key === key)?.value;
    case "dataset":
    case "attribute": {
      const field = FIELDS[attributeOf(key, "filter attribute")] as keyof LoggedModel;
      return (m) => m[field] as Value;
    }
  }
}

export class LoggedModelService {
  constructor(
    private readonly store: MetadataStore,
    private readonly artifacts: ArtifactStore,
    private readonly clock: Clock,
  ) {}

  async create(input: CreateLoggedModelInput): Promise<LoggedModel> {
    if (input.experimentId === "") throw invalidField("experiment_id", "missing value for required parameter");
    const name = input.name === undefined || input.name === "" ? randomRunName() : input.name;
    validateName(name);
    if (input.modelType !== undefined && input.modelType.length > NAME_LENGTH) throw invalidField("model_type", `must be at most ${NAME_LENGTH} characters`);
    const params = input.params ?? [];
    const tags = input.tags ?? [];
    checkParams(params);
    checkTags(tags);
    const exp = await this.store.getExperiment(input.experimentId);
    if (exp === undefined) throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_FOUND", `No Experiment with id=${input.experimentId} exists`);
    if (exp.lifecycleStage !== "active") {
      throw new FlywheelError("FW_TRACKING_EXPERIMENT_NOT_ACTIVE", `Cannot create a logged model in experiment ${exp.experimentId}: it is deleted.`);
    }
    const sourceRunId = input.sourceRunId === undefined || input.sourceRunId === "" ? null : input.sourceRunId;
    if (sourceRunId !== null && (await this.store.getRunInfo(sourceRunId)) === undefined) {
      throw new FlywheelError("FW_TRACKING_RUN_NOT_FOUND", `Run with id=${sourceRunId} not found (the logged model's source_run_id)`);
    }
    const modelId = newLoggedModelId();
    return this.store.loggedModels.create({
      modelId,
      experimentId: exp.experimentId,
      name,
      artifactLocation: `${exp.artifactLocation}/models/${modelId}/artifacts`,
      modelType: input.modelType === undefined || input.modelType === "" ? null : input.modelType,
      sourceRunId,
      tags,
      params,
      now: this.clock.now(),
    });
  }

  /** The model; a deleted one only with `allowDeleted`. */
  async get(modelId: string, allowDeleted = false): Promise<LoggedModel> {
    // An id no model can have is not looked up (PostgreSQL refuses a NUL in a string).
    if (modelId.length > 64 || modelId.includes("\u0000")) throw notFound(modelId.slice(0, 100));
    const model = await this.store.loggedModels.get(modelId);
    if (model === undefined || (model.lifecycleStage !== "active" && !allowDeleted)) throw notFound(modelId);
    return model;
  }

  /** Sets the model's status once its files are uploaded (READY) or failed to (UPLOAD_FAILED). */
  async finalize(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    if (!LOGGED_MODEL_STATUSES.includes(status)) throw invalidField("status", `must be one of ${LOGGED_MODEL_STATUSES.join(", ")}`);
    await this.get(modelId);
    await this.store.loggedModels.update(modelId, { status }, this.clock.now());
    return this.get(modelId);
  }

  /** A soft delete, as MLflow's: the model is no longer found or searched. */
  async delete(modelId: string): Promise<void> {
    await this.get(modelId);
    await this.store.loggedModels.update(modelId, { lifecycleStage: "deleted" }, this.clock.now());
  }

  async setTags(modelId: string, tags: Tag[]): Promise<void> {
    checkTags(tags);
    await this.get(modelId);
    if (tags.length > 0) await this.store.loggedModels.setTags(modelId, tags, this.clock.now());
  }

  async deleteTag(modelId: string, key: string): Promise<void> {
    await this.get(modelId);
    if (!(await this.store.loggedModels.deleteTag(modelId, key, this.clock.now()))) {
      throw new FlywheelError("FW_TRACKING_TAG_NOT_FOUND", `No tag with key '${key}' found for logged model with ID '${modelId}'.`);
    }
  }

  async logParams(modelId: string, params: Param[]): Promise<void> {
    checkParams(params);
    await this.get(modelId);
    if (params.length > 0) await this.store.loggedModels.logParams(modelId, params, this.clock.now());
  }

  /**
   * Checks metric points a run logs against models (log-metric or log-batch with `model_id`) before
   * the run's own metrics are written: the dataset fields fit MLflow's limits, every model exists.
   */
  async checkMetricModels(metrics: readonly ModelMetricInput[]): Promise<void> {
    metrics.forEach((m, i) => {
      if ((m.datasetName ?? "").length > DATASET_NAME_LENGTH) throw invalidField(`metrics[${i}].dataset_name`, `must be at most ${DATASET_NAME_LENGTH} characters`);
      if ((m.datasetDigest ?? "").length > DATASET_DIGEST_LENGTH) throw invalidField(`metrics[${i}].dataset_digest`, `must be at most ${DATASET_DIGEST_LENGTH} characters`);
    });
    await this.checkModels(metrics.map((m) => m.modelId));
  }

  /** 404 for the first id that names no (active) logged model. */
  async checkModels(modelIds: readonly string[]): Promise<void> {
    for (const id of new Set(modelIds)) await this.get(id);
  }

  /**
   * Records metric points a run logged against models, after checkMetricModels and after the run's
   * batch (whose validation covers the points themselves) was written.
   */
  async logMetrics(runId: string, metrics: readonly ModelMetricInput[]): Promise<void> {
    if (metrics.length === 0) return;
    await this.store.loggedModels.logMetrics(
      metrics.map((m) => ({
        modelId: m.modelId,
        key: m.key,
        value: m.value,
        timestamp: m.timestamp,
        step: m.step,
        runId,
        datasetName: m.datasetName === undefined || m.datasetName === "" ? null : m.datasetName,
        datasetDigest: m.datasetDigest === undefined || m.datasetDigest === "" ? null : m.datasetDigest,
      })),
    );
  }

  /** Links a run to the models it produced (runs/outputs). */
  async logOutputs(run: RunInfo, models: readonly { modelId: string; step: number }[]): Promise<void> {
    if (models.length === 0) throw invalidField("models", "missing value for required parameter");
    await this.checkModels(models.map((m) => m.modelId));
    await this.store.loggedModels.linkRun(
      run.runId,
      models.map((m) => ({ modelId: m.modelId, direction: "output" as const, step: m.step })),
    );
  }

  /** Links a run to the models it used (runs/log-inputs `models`), once checkModels has found them all. */
  async logInputs(run: RunInfo, modelIds: readonly string[]): Promise<void> {
    await this.store.loggedModels.linkRun(
      run.runId,
      modelIds.map((modelId) => ({ modelId, direction: "input" as const, step: 0 })),
    );
  }

  async search(input: SearchLoggedModelsInput): Promise<{ models: LoggedModel[]; nextPageToken?: string }> {
    if (input.experimentIds.length === 0) throw invalidField("experiment_ids", "missing value for required parameter");
    validateMaxResults(input.maxResults);
    const filter = parseFilter(input.filter, "logged_model");
    const orderBy = (input.orderBy ?? []).map((o) => this.orderOf(o));
    const max = input.maxResults ?? DEFAULT_SEARCH_MAX;
    const query = { e: input.experimentIds, f: input.filter ?? "", d: input.datasets ?? [], o: input.orderBy ?? [] };
    const offset = decodePageToken(input.pageToken, query);

    // Comparisons on the model's own columns narrow the rows in the database; every comparison is
    // then checked here, so LIKE keeps one meaning whatever the database's collation.
    const columns = filter.filter((c) => c.type === "attribute").map((c) => ({ ...c, key: attributeOf(c.key, "filter attribute") }));
    const all = await this.store.loggedModels.list(input.experimentIds, "active", columns);
    // Datasets narrow the metrics that filters compare (as MLflow's `datasets` does), not the models.
    const checks = filter.map((c) => ({ c, value: valueOf(c.type, c.key, input.datasets) }));
    const found = all.filter((m) => checks.every(({ c, value }) => compareValue(value(m), c)));
    found.sort((a, b) => {
      for (const o of orderBy) {
        const x = o.value(a);
        const y = o.value(b);
        if (x === y) continue;
        // Models without the value come last, whichever the direction.
        if (x === undefined || x === null) return 1;
        if (y === undefined || y === null) return -1;
        const d = x < y ? -1 : 1;
        return o.ascending ? d : -d;
      }
      return b.creationTimestamp - a.creationTimestamp || (a.modelId < b.modelId ? -1 : a.modelId > b.modelId ? 1 : 0);
    });
    const models = found.slice(offset, offset + max);
    return offset + max < found.length ? { models, nextPageToken: encodePageToken(offset + max, query) } : { models };
  }

  private orderOf(o: LoggedModelOrder): { ascending: boolean; value: (m: LoggedModel) => Value } {
    if (o.field.startsWith("metrics.")) {
      const key = o.field.slice("metrics.".length).replace(/^`(.*)`$/, "$1");
      const datasets = o.dataset === undefined || o.dataset.name === "" ? undefined : [o.dataset];
      return { ascending: o.ascending, value: valueOf("metric", key, datasets) };
    }
    return { ascending: o.ascending, value: valueOf("attribute", attributeOf(o.field.replace(/^attributes?\./, ""), "order_by field"), undefined) };
  }

  /** Lists the model's artifacts under `path`, with paths relative to its artifact root. */
  async listArtifacts(modelId: string, path: string | undefined): Promise<{ rootUri: string; files: ArtifactEntry[] }> {
    const model = await this.get(modelId);
    const root = artifactKeyOfUri(model.artifactLocation);
    const rel = safeRelativePath(path ?? "");
    const entries = await this.artifacts.list(joinKey(root, rel));
    const strip = root.length + 1;
    return { rootUri: model.artifactLocation, files: entries.map((e) => ({ ...e, path: e.path.slice(strip) })) };
  }

  /** The artifact-store key of one file of the model. */
  async artifactKey(modelId: string, path: string): Promise<string> {
    const model = await this.get(modelId);
    const rel = safeRelativePath(path);
    if (rel === "") throw invalidField("artifact_file_path", "must name a file inside the model's artifacts");
    return joinKey(artifactKeyOfUri(model.artifactLocation), rel);
  }
}

function validateName(name: string): void {
  if (name.length > NAME_LENGTH) throw invalidField("name", `must be at most ${NAME_LENGTH} characters`);
  const bad = BAD_NAME_CHARS.find((c) => name.includes(c));
  if (bad !== undefined) throw invalidField("name", `must not contain ${BAD_NAME_CHARS.map((c) => `'${c}'`).join(", ")} (found '${bad}')`);
}

function checkParams(params: Param[]): void {
  if (params.length > PARAMS_PER_REQUEST) throw invalidField("params", `at most ${PARAMS_PER_REQUEST} per request, got ${params.length}`);
  params.forEach((p, i) => validateParam(p, `params[${i}]`));
}

function checkTags(tags: Tag[]): void {
  if (tags.length > TAGS_PER_REQUEST) throw invalidField("tags", `at most ${TAGS_PER_REQUEST} per request, got ${tags.length}`);
  tags.forEach((t, i) => validateTag(t, `tags[${i}]`));
}
