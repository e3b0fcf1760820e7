/**
 * One run of the tracking SDK: metrics, params and tags are buffered and sent with
 * runs/log-batch in the background; artifacts and models go through the artifact proxy.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { stringify as toYaml } from "yaml";
import { prepareModel } from "../models/log-model.js";
import type { LogModelOptions } from "../models/log-model.js";
import type { ModelPackage } from "../models/mlmodel.js";
import { artifactPathSegments, type FlywheelClient } from "./http-client.js";
import type { RunStatus, WireDataset, WireMetric, WireParam, WireRunInfo, WireTag } from "./wire-types.js";
import { LOG_BATCH_LIMITS } from "./wire-types.js";

/** The input tag MLflow keeps a dataset's role in ("training", "eval"). */
const DATASET_CONTEXT_TAG = "mlflow.data.context";

export interface MetricOptions {
  /** Integer step; default 0. */
  step?: number;
  /** Epoch milliseconds; default now. */
  timestamp?: number;
}

/** What `ActiveRun.logModel` logged. */
export interface LoggedModel {
  /** The package's directory in the run's artifacts, e.g. `model`. */
  artifactPath: string;
  /** `runs:/<run_id>/<artifactPath>`. */
  modelUri: string;
  /** `<run artifact_uri>/<artifactPath>`, the source a model version is registered from. */
  source: string;
  /** The MLmodel that was written. */
  mlmodel: ModelPackage;
}

export type TerminalStatus = Extract<RunStatus, "FINISHED" | "FAILED" | "KILLED">;
export type ParamValue = string | number | boolean;

const CONTENT_TYPES: Record<string, string> = {
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".csv": "text/csv; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".svg": "image/svg+xml",
};

function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The artifact-proxy path prefix of a run: `mlflow-artifacts:/1/<run>/artifacts` (or with an
 * authority, `mlflow-artifacts://host:5000/1/<run>/artifacts`) gives `1/<run>/artifacts`.
 */
export function artifactProxyPrefix(artifactUri: string): string {
  const m = /^mlflow-artifacts:(\/\/[^/]*)?(\/.*)?$/.exec(artifactUri);
  if (m === null) {
    throw new Error(
      `The run's artifact location '${artifactUri}' is not served by the artifact proxy (expected 'mlflow-artifacts:/...'); ` +
        "create the experiment without an explicit artifact location to log artifacts through the server",
    );
  }
  return artifactPathSegments(m[2] ?? "").join("/");
}

function joinArtifactPath(...parts: (string | undefined)[]): string {
  return parts
    .filter((p): p is string => p !== undefined && p !== "")
    .flatMap((p) => artifactPathSegments(p.replace(/\\/g, "/")))
    .join("/");
}

function checkKey(what: string, key: unknown): asserts key is string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`The ${what} key must be a non-empty string (got ${JSON.stringify(key)})`);
  }
}

/** A run being logged to. Metrics, params and tags are buffered and sent in order, one request at a time. */
export class ActiveRun {
  private runInfo: WireRunInfo;
  private readonly metrics: WireMetric[] = [];
  private readonly params: WireParam[] = [];
  private readonly tags = new Map<string, string>();
  /** Every param logged through this object, to catch a changed value before the server does. */
  private readonly loggedParams = new Map<string, string>();
  private pumping: Promise<void> | undefined;
  /** The first send failure not yet reported by flush()/end(). */
  private failure: unknown = undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private ending: Promise<void> | undefined;
  private prefix: string | undefined;

  constructor(
    readonly client: FlywheelClient,
    info: WireRunInfo,
    flushIntervalMs: number,
    private readonly onEnd: (run: ActiveRun) => void = () => undefined,
  ) {
    this.runInfo = info;
    if (flushIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.bufferedCount > 0) void this.kick();
      }, flushIntervalMs);
      this.timer.unref();
    }
  }

  get runId(): string {
    return this.runInfo.run_id;
  }

  get experimentId(): string {
    return this.runInfo.experiment_id;
  }

  get artifactUri(): string {
    return this.runInfo.artifact_uri;
  }

  /** The run's info as last returned by the server (updated by end()). */
  get info(): WireRunInfo {
    return this.runInfo;
  }

  /** True once end() has been called; logging is then refused. */
  get ended(): boolean {
    return this.closed;
  }

  /** Number of metrics, params and tags waiting to be sent. */
  get bufferedCount(): number {
    return this.metrics.length + this.params.length + this.tags.size;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`Run ${this.runId} has ended; start a new run to log more`);
  }

  /** Buffers one metric point. NaN and ±Infinity are allowed. */
  logMetric(key: string, value: number, opts: MetricOptions = {}): void {
    this.assertOpen();
    checkKey("metric", key);
    if (typeof value !== "number") {
      throw new TypeError(`Metric '${key}' must be a number (got ${typeof value})`);
    }
    const step = opts.step ?? 0;
    if (!Number.isSafeInteger(step)) throw new TypeError(`Metric '${key}': step must be an integer (got ${step})`);
    const timestamp = opts.timestamp ?? Date.now();
    if (!Number.isSafeInteger(timestamp)) {
      throw new TypeError(`Metric '${key}': timestamp must be integer epoch milliseconds (got ${timestamp})`);
    }
    this.metrics.push({ key, value, timestamp, step });
    if (this.metrics.length >= LOG_BATCH_LIMITS.metrics) void this.kick();
  }

  /** Buffers several metrics with the same step and timestamp. */
  logMetrics(values: Record<string, number>, opts: MetricOptions = {}): void {
    const timestamp = opts.timestamp ?? Date.now();
    for (const [key, value] of Object.entries(values)) this.logMetric(key, value, { ...opts, timestamp });
  }

  /** Buffers a param. Logging the same key again with the same value is a no-op; another value throws. */
  logParam(key: string, value: ParamValue): void {
    this.assertOpen();
    checkKey("param", key);
    const text = String(value);
    const previous = this.loggedParams.get(key);
    if (previous !== undefined) {
      if (previous === text) return;
      throw new Error(
        `Param '${key}' was already logged with value '${previous}' and cannot change to '${text}' within a run`,
      );
    }
    this.loggedParams.set(key, text);
    this.params.push({ key, value: text });
    if (this.params.length >= LOG_BATCH_LIMITS.params) void this.kick();
  }

  logParams(values: Record<string, ParamValue>): void {
    for (const [key, value] of Object.entries(values)) this.logParam(key, value);
  }

  /** Buffers a tag; a later value for the same key replaces an earlier one still in the buffer. */
  setTag(key: string, value: string): void {
    this.assertOpen();
    checkKey("tag", key);
    this.tags.delete(key);
    this.tags.set(key, String(value));
    if (this.tags.size >= LOG_BATCH_LIMITS.tags) void this.kick();
  }

  setTags(values: Record<string, string>): void {
    for (const [key, value] of Object.entries(values)) this.setTag(key, value);
  }

  /** Deletes a tag (after sending everything buffered, so an earlier setTag cannot revive it). */
  async deleteTag(key: string): Promise<void> {
    this.assertOpen();
    checkKey("tag", key);
    await this.flush();
    await this.client.runs.deleteTag({ run_id: this.runId, key });
  }

  /**
   * Links a dataset to the run now (runs/log-inputs), as MLflow's `log_input` does: `context`
   * ("training", "eval") becomes the input's `mlflow.data.context` tag, which `datasets.context`
   * search filters read. Logging the same (name, digest) again changes nothing.
   */
  async logInput(dataset: WireDataset, opts: { context?: string; tags?: Record<string, string> } = {}): Promise<void> {
    this.assertOpen();
    const tags: WireTag[] = Object.entries(opts.tags ?? {}).map(([key, value]) => ({ key, value: String(value) }));
    if (opts.context !== undefined) tags.push({ key: DATASET_CONTEXT_TAG, value: opts.context });
    await this.client.runs.logInputs({ run_id: this.runId, datasets: [tags.length === 0 ? { dataset } : { dataset, tags }] });
  }

  /** Takes at most one log-batch request's worth of buffered items, oldest first. */
  private takeBatch(): { metrics: WireMetric[]; params: WireParam[]; tags: WireTag[] } {
    const limits = LOG_BATCH_LIMITS;
    const params = this.params.splice(0, Math.min(limits.params, limits.total));
    const tags: WireTag[] = [];
    const tagRoom = Math.min(limits.tags, limits.total - params.length);
    for (const [key, value] of this.tags) {
      if (tags.length >= tagRoom) break;
      tags.push({ key, value });
    }
    for (const t of tags) this.tags.delete(t.key);
    const metricRoom = Math.min(limits.metrics, limits.total - params.length - tags.length);
    const metrics = this.metrics.splice(0, metricRoom);
    return { metrics, params, tags };
  }

  private async pump(): Promise<void> {
    while (this.bufferedCount > 0) {
      const batch = this.takeBatch();
      try {
        await this.client.runs.logBatch({ run_id: this.runId, ...batch });
      } catch (e) {
        this.failure ??= e;
        // Those params were not stored: let the caller log them again.
        for (const p of batch.params) if (this.loggedParams.get(p.key) === p.value) this.loggedParams.delete(p.key);
      }
    }
  }

  /** Starts sending the buffer unless a send is already running; never rejects. */
  private kick(): Promise<void> {
    if (this.pumping === undefined && this.bufferedCount > 0) {
      this.pumping = this.pump().finally(() => {
        this.pumping = undefined;
      });
    }
    return this.pumping ?? Promise.resolve();
  }

  /**
   * Sends everything buffered and waits for it. Throws the first failure of any send since the
   * last flush (including background sends); the other buffered items are still sent.
   */
  async flush(): Promise<void> {
    do {
      await this.kick();
    } while (this.bufferedCount > 0 || this.pumping !== undefined);
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) throw failure;
  }

  private proxyPath(relative: string): string {
    this.prefix ??= artifactProxyPrefix(this.artifactUri);
    const rel = joinArtifactPath(relative);
    if (rel === "") throw new TypeError("An artifact file path is required");
    return `${this.prefix}/${rel}`;
  }

  private async uploadFile(localFile: string, relative: string): Promise<void> {
    await this.client.uploadArtifact(this.proxyPath(relative), createReadStream(localFile), {
      contentType: contentTypeOf(localFile),
    });
  }

  private async uploadDir(localDir: string, relative: string): Promise<void> {
    const entries = await readdir(localDir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const local = join(localDir, entry.name);
      const dest = joinArtifactPath(relative, entry.name);
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(local)).isDirectory());
      if (isDir) await this.uploadDir(local, dest);
      else await this.uploadFile(local, dest);
    }
  }

  /**
   * Uploads a local file (or directory, recursively) into the run's artifacts, under the
   * directory `artifactPath` (default: the root), keeping its base name — like MLflow's log_artifact.
   */
  async logArtifact(localPath: string, artifactPath?: string): Promise<void> {
    this.assertOpen();
    const st = await stat(localPath);
    const dest = joinArtifactPath(artifactPath, basename(localPath));
    if (st.isDirectory()) await this.uploadDir(localPath, dest);
    else await this.uploadFile(localPath, dest);
  }

  /** Uploads the contents of a local directory under `artifactPath` (default: the root). */
  async logArtifacts(localDir: string, artifactPath?: string): Promise<void> {
    this.assertOpen();
    const st = await stat(localDir);
    if (!st.isDirectory()) throw new Error(`'${localDir}' is not a directory`);
    await this.uploadDir(localDir, joinArtifactPath(artifactPath));
  }

  /** Writes `text` as the artifact file `artifactFile` (a path relative to the run's artifact root). */
  async logText(text: string, artifactFile: string): Promise<void> {
    this.assertOpen();
    const known = contentTypeOf(artifactFile);
    await this.client.uploadArtifact(this.proxyPath(artifactFile), Buffer.from(text, "utf8"), {
      contentType: known.startsWith("text/") ? known : "text/plain; charset=utf-8",
    });
  }

  /** Writes `value` as JSON (or YAML when `artifactFile` ends in .yaml/.yml) to `artifactFile`. */
  async logDict(value: unknown, artifactFile: string): Promise<void> {
    this.assertOpen();
    const ext = extname(artifactFile).toLowerCase();
    const yaml = ext === ".yaml" || ext === ".yml";
    const text = yaml ? toYaml(value) : `${JSON.stringify(value, null, 2)}\n`;
    await this.client.uploadArtifact(this.proxyPath(artifactFile), Buffer.from(text, "utf8"), {
      contentType: yaml ? "application/yaml" : "application/json",
    });
  }

  /**
   * Logs an ONNX model as an MLflow model package (as `mlflow.onnx.log_model` does): uploads
   * `<artifactPath>/model.onnx`, `input_example.json` when given, then `MLmodel`, and records the
   * model on the run with `runs/log-model`. The model is loaded in ONNX Runtime first; one that
   * does not load, or disagrees with the given signature, is refused (LogModelError).
   *
   *   const { modelUri } = await run.logModel({ onnx: "model.onnx", metadata: { features: ["a", "b"] } });
   */
  async logModel(opts: LogModelOptions): Promise<LoggedModel> {
    this.assertOpen();
    const prepared = await prepareModel(opts, { runId: this.runId, artifactUri: this.artifactUri });
    for (const file of prepared.files) {
      await this.client.uploadArtifact(this.proxyPath(`${prepared.artifactPath}/${file.path}`), file.body, {
        contentType: file.contentType,
      });
    }
    await this.client.call("POST", "runs/log-model", { run_id: this.runId, model_json: prepared.modelJson });
    return {
      artifactPath: prepared.artifactPath,
      modelUri: prepared.modelUri,
      source: prepared.source,
      mlmodel: prepared.package,
    };
  }

  /**
   * Flushes, then marks the run terminated (runs/update with status and end_time). Calling it again
   * returns the same promise; after a failed status update it may be retried.
   */
  end(status: TerminalStatus = "FINISHED"): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.ending !== undefined) return this.ending;
    const ending = (async () => {
      let flushError: unknown = undefined;
      try {
        await this.flush();
      } catch (e) {
        flushError = e;
      }
      try {
        const res = await this.client.runs.update({ run_id: this.runId, status, end_time: Date.now() });
        this.runInfo = res.run_info.run_id === "" ? { ...this.runInfo, status } : res.run_info;
      } catch (e) {
        this.ending = undefined;
        throw flushError ?? e;
      } finally {
        this.onEnd(this);
      }
      if (flushError !== undefined) throw flushError;
    })();
    this.ending = ending;
    return ending;
  }
}

/** Starts runs against one tracking server; experiments are looked up (or created) by name. */
