/**
 * A typed client for MLflow's REST API 2.0 as served by `flywheel server` (and by MLflow itself):
 * JSON endpoints under `<baseUrl>/api/2.0/mlflow/`, and the artifact proxy under
 * `<baseUrl>/api/2.0/mlflow-artifacts/artifacts/`. `client.registry` (registry.ts) adds the model
 * registry, with Flywheel's own endpoints under `<baseUrl>/api/v1/`.
 */
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { FlywheelConnectionError } from "./errors.js";
import { RegistryApi } from "./registry.js";
import { Transport, artifactPathSegments, encodeArtifactPath, isTimeout, normalizeBaseUrl, requestHeaders, toWireJson } from "./transport.js";
import type { HttpMethod, QueryParams } from "./transport.js";
import {
  asList,
  asString,
  normalizeExperiment,
  normalizeFileInfo,
  normalizeMetric,
  normalizeRun,
  normalizeRunInfo,
  pageToken,
} from "./normalize.js";
import type {
  CreateExperimentRequest,
  CreateExperimentResponse,
  CreateRunRequest,
  CreateRunResponse,
  DeleteExperimentTagRequest,
  DeleteTagRequest,
  GetExperimentResponse,
  GetMetricHistoryRequest,
  GetMetricHistoryResponse,
  GetRunResponse,
  ListArtifactDirResponse,
  ListArtifactsRequest,
  ListArtifactsResponse,
  LogBatchRequest,
  LogInputsRequest,
  LogMetricRequest,
  LogParamRequest,
  SearchExperimentsRequest,
  SearchExperimentsResponse,
  SearchRunsRequest,
  SearchRunsResponse,
  SetExperimentTagRequest,
  SetTagRequest,
  UpdateExperimentRequest,
  UpdateRunRequest,
  UpdateRunResponse,
  WireExperiment,
  WireMetric,
  WireRun,
} from "./wire-types.js";

// The URL, path, user and JSON helpers live with the transport; they stay importable from here.
export { USER_HEADER, artifactPathSegments, encodeArtifactPath, normalizeBaseUrl, normalizeUser, toWireJson } from "./transport.js";

export interface FlywheelClientOptions {
  /** Server root, e.g. `http://127.0.0.1:5000` (a path prefix is kept: `https://host/mlflow`). */
  baseUrl: string;
  /** Sent with every request, e.g. `{ Authorization: "Bearer ..." }`. */
  headers?: Record<string, string>;
  /** Timeout of each JSON API request in milliseconds (default 30 000; 0 disables it). */
  timeoutMs?: number;
  /** Timeout of each artifact upload/download in milliseconds (default: none). */
  artifactTimeoutMs?: number;
  /**
   * Who is asking, sent as `X-Flywheel-User` with every request: the registry records it as the
   * actor of promotions, approvals and the audit log. Default: env FLYWHEEL_USER; "" sends none.
   */
  user?: string;
}

export type ArtifactBody = Buffer | Uint8Array | string | Readable;

const ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts/artifacts";
const DEFAULT_TIMEOUT_MS = 30_000;

/** Reads a stream as bytes, remembering a read error so it is not mistaken for a network failure. */
async function* asBytes(stream: Readable, failure: { error?: unknown }): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream as AsyncIterable<unknown>) {
      yield typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Uint8Array);
    }
  } catch (e) {
    failure.error = e;
    throw e;
  }
}

async function* paginate<P extends { next_page_token?: string }>(
  first: string | undefined,
  fetchPage: (token: string | undefined) => Promise<P>,
): AsyncGenerator<P> {
  let token = first;
  for (;;) {
    const page = await fetchPage(token);
    yield page;
    const next = page.next_page_token;
    if (next === undefined) return;
    if (next === token) throw new Error(`The server returned the same page token twice ('${next}')`);
    token = next;
  }
}

/** experiments/* endpoints. */
export class ExperimentsApi {
  constructor(private readonly t: Transport) {}

  async create(req: CreateExperimentRequest): Promise<CreateExperimentResponse> {
    const body = await this.t.json("POST", "experiments/create", req);
    return { experiment_id: asString(body.experiment_id) };
  }

  async get(experimentId: string): Promise<GetExperimentResponse> {
    const body = await this.t.json("GET", "experiments/get", { experiment_id: experimentId });
    return { experiment: normalizeExperiment(body.experiment) };
  }

  async getByName(name: string): Promise<GetExperimentResponse> {
    const body = await this.t.json("GET", "experiments/get-by-name", { experiment_name: name });
    return { experiment: normalizeExperiment(body.experiment) };
  }

  async search(req: SearchExperimentsRequest = {}): Promise<SearchExperimentsResponse> {
    const body = await this.t.json("POST", "experiments/search", req);
    const out: SearchExperimentsResponse = { experiments: asList(body.experiments).map(normalizeExperiment) };
    const next = pageToken(body.next_page_token);
    if (next !== undefined) out.next_page_token = next;
    return out;
  }

  /** Every page of a search, starting at `req.page_token`; `req.max_results` is the page size. */
  searchPages(req: SearchExperimentsRequest = {}): AsyncGenerator<SearchExperimentsResponse> {
    return paginate(req.page_token, (page_token) => this.search({ ...req, page_token }));
  }

  /** Every experiment matching the search, across pages. */
  async *searchAll(req: SearchExperimentsRequest = {}): AsyncGenerator<WireExperiment> {
    for await (const page of this.searchPages(req)) yield* page.experiments;
  }

  async update(req: UpdateExperimentRequest): Promise<void> {
    await this.t.json("POST", "experiments/update", req);
  }

  async delete(experimentId: string): Promise<void> {
    await this.t.json("POST", "experiments/delete", { experiment_id: experimentId });
  }

  async restore(experimentId: string): Promise<void> {
    await this.t.json("POST", "experiments/restore", { experiment_id: experimentId });
  }

  async setExperimentTag(req: SetExperimentTagRequest): Promise<void> {
    await this.t.json("POST", "experiments/set-experiment-tag", req);
  }

  async deleteExperimentTag(req: DeleteExperimentTagRequest): Promise<void> {
    await this.t.json("POST", "experiments/delete-experiment-tag", req);
  }
}

/** runs/* endpoints. */
export class RunsApi {
  constructor(private readonly t: Transport) {}

  async create(req: CreateRunRequest): Promise<CreateRunResponse> {
    const body = await this.t.json("POST", "runs/create", req);
    return { run: normalizeRun(body.run) };
  }

  async get(runId: string): Promise<GetRunResponse> {
    const body = await this.t.json("GET", "runs/get", { run_id: runId });
    return { run: normalizeRun(body.run) };
  }

  async update(req: UpdateRunRequest): Promise<UpdateRunResponse> {
    const body = await this.t.json("POST", "runs/update", req);
    return { run_info: normalizeRunInfo(body.run_info) };
  }

  async delete(runId: string): Promise<void> {
    await this.t.json("POST", "runs/delete", { run_id: runId });
  }

  async restore(runId: string): Promise<void> {
    await this.t.json("POST", "runs/restore", { run_id: runId });
  }

  async logMetric(req: LogMetricRequest): Promise<void> {
    await this.t.json("POST", "runs/log-metric", { step: 0, ...req });
  }

  async logParam(req: LogParamRequest): Promise<void> {
    await this.t.json("POST", "runs/log-parameter", req);
  }

  async setTag(req: SetTagRequest): Promise<void> {
    await this.t.json("POST", "runs/set-tag", req);
  }

  async deleteTag(req: DeleteTagRequest): Promise<void> {
    await this.t.json("POST", "runs/delete-tag", req);
  }

  /** One runs/log-batch request; MLflow limits it to 1000 metrics, 100 params, 100 tags, 1000 items. */
  async logBatch(req: LogBatchRequest): Promise<void> {
    await this.t.json("POST", "runs/log-batch", {
      run_id: req.run_id,
      metrics: req.metrics ?? [],
      params: req.params ?? [],
      tags: req.tags ?? [],
    });
  }

  /** Links datasets to the run (runs/log-inputs); MLflow takes at most 1000 in one request. */
  async logInputs(req: LogInputsRequest): Promise<void> {
    await this.t.json("POST", "runs/log-inputs", req);
  }

  async search(req: SearchRunsRequest): Promise<SearchRunsResponse> {
    const body = await this.t.json("POST", "runs/search", req);
    const out: SearchRunsResponse = { runs: asList(body.runs).map(normalizeRun) };
    const next = pageToken(body.next_page_token);
    if (next !== undefined) out.next_page_token = next;
    return out;
  }

  /** Every page of a search, starting at `req.page_token`; `req.max_results` is the page size. */
  searchPages(req: SearchRunsRequest): AsyncGenerator<SearchRunsResponse> {
    return paginate(req.page_token, (page_token) => this.search({ ...req, page_token }));
  }

  /** Every run matching the search, across pages. */
  async *searchAll(req: SearchRunsRequest): AsyncGenerator<WireRun> {
    for await (const page of this.searchPages(req)) yield* page.runs;
  }
}

export class FlywheelClient {
  /** The server root, without a trailing slash. */
  readonly baseUrl: string;
  readonly experiments: ExperimentsApi;
  readonly runs: RunsApi;
  /** The model registry: MLflow's registered-models/model-versions endpoints and Flywheel's governance. */
  readonly registry: RegistryApi;
  /** The user sent as `X-Flywheel-User`, if any. */
  readonly user: string | undefined;
  private readonly t: Transport;

  constructor(opts: FlywheelClientOptions) {
    this.baseUrl = normalizeBaseUrl(opts.baseUrl);
    const { headers, user } = requestHeaders(opts, process.env);
    this.user = user;
    this.t = new Transport(this.baseUrl, headers, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.artifactTimeoutMs ?? 0);
    this.experiments = new ExperimentsApi(this.t);
    this.runs = new RunsApi(this.t);
    this.registry = new RegistryApi(this.t, paginate);
  }

  /**
   * Calls any JSON endpoint under `/api/2.0/mlflow/` (e.g. `"registered-models/get"`): GET
   * sends `params` as the query string, POST as the JSON body. Returns the decoded body as is.
   */
  call(method: "GET" | "POST", endpoint: string, params: object = {}): Promise<Record<string, unknown>> {
    return this.t.json(method, endpoint.replace(/^\/+/, ""), params);
  }

  /** Calls any JSON endpoint by its path from the server root, e.g. `"/api/v1/features/registry"`. */
  request(method: HttpMethod, path: string, init: { query?: QueryParams; body?: object } = {}): Promise<Record<string, unknown>> {
    return this.t.request(method, path, init);
  }

  /**
   * POSTs JSON to `path` and returns the response unread, for endpoints that stream their answer
   * (NDJSON progress). A non-2xx answer throws FlywheelApiError as usual; no timeout applies.
   */
  async postStreaming(path: string, body: object, accept = "application/x-ndjson"): Promise<Response> {
    return this.t.send("POST", `${this.baseUrl}${path}`, {
      body: toWireJson(body),
      headers: { "Content-Type": "application/json", Accept: accept },
      timeoutMs: 0,
    });
  }

  /** metrics/get-history: one page of a metric's history. */
  async getMetricHistory(req: GetMetricHistoryRequest): Promise<GetMetricHistoryResponse> {
    const body = await this.t.json("GET", "metrics/get-history", req);
    const out: GetMetricHistoryResponse = { metrics: asList(body.metrics).map(normalizeMetric) };
    const next = pageToken(body.next_page_token);
    if (next !== undefined) out.next_page_token = next;
    return out;
  }

  /** Every point of a metric's history, across pages. */
  async *metricHistory(runId: string, metricKey: string, pageSize?: number): AsyncGenerator<WireMetric> {
    const pages = paginate(undefined, (page_token) =>
      this.getMetricHistory({ run_id: runId, metric_key: metricKey, max_results: pageSize, page_token }),
    );
    for await (const page of pages) yield* page.metrics;
  }

  /** artifacts/list: the files of a run's artifact directory (`path` relative to the run root). */
  async listArtifacts(req: ListArtifactsRequest): Promise<ListArtifactsResponse> {
    const body = await this.t.json("GET", "artifacts/list", req);
    const out: ListArtifactsResponse = {
      root_uri: asString(body.root_uri),
      files: asList(body.files).map(normalizeFileInfo),
    };
    const next = pageToken(body.next_page_token);
    if (next !== undefined) out.next_page_token = next;
    return out;
  }

  private artifactUrl(path: string): string {
    const encoded = encodeArtifactPath(path);
    if (encoded === "") throw new TypeError("An artifact path is required");
    return this.t.url(`${ARTIFACTS_PREFIX}/${encoded}`);
  }

  /**
   * Uploads one file through the artifact proxy (PUT, streamed). `path` is the proxy path, e.g.
   * `1/<run_id>/artifacts/model/model.json`.
   */
  async uploadArtifact(path: string, body: ArtifactBody, opts: { contentType?: string } = {}): Promise<void> {
    const url = this.artifactUrl(path);
    const bodyFailure: { error?: unknown } = {};
    const payload = body instanceof Readable ? asBytes(body, bodyFailure) : body;
    const res = await this.t.send("PUT", url, {
      body: payload,
      bodyFailure,
      headers: { "Content-Type": opts.contentType ?? "application/octet-stream" },
      timeoutMs: this.t.artifactTimeoutMs,
    });
    await this.t.readText("PUT", url, res, this.t.artifactTimeoutMs);
  }

  /** Downloads one file through the artifact proxy into memory. */
  async downloadArtifact(path: string): Promise<Buffer> {
    const url = this.artifactUrl(path);
    const res = await this.t.send("GET", url, { timeoutMs: this.t.artifactTimeoutMs, headers: { Accept: "*/*" } });
    try {
      return Buffer.from(await res.arrayBuffer());
    } catch (e) {
      throw new FlywheelConnectionError({
        message: `Download of ${url} failed: ${e instanceof Error ? e.message : String(e)}`,
        method: "GET",
        url,
        timedOut: isTimeout(e),
        cause: e,
      });
    }
  }

  /** Downloads one file through the artifact proxy as a stream (for large files). */
  async downloadArtifactStream(path: string): Promise<Readable> {
    const url = this.artifactUrl(path);
    const res = await this.t.send("GET", url, { timeoutMs: this.t.artifactTimeoutMs, headers: { Accept: "*/*" } });
    if (res.body === null) return Readable.from([]);
    return Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>);
  }

  /** Lists a directory of the artifact proxy (`path` omitted: the root). */
  async listArtifactDir(path?: string): Promise<ListArtifactDirResponse> {
    const clean = path === undefined ? "" : artifactPathSegments(path).join("/");
    const url = this.t.url(ARTIFACTS_PREFIX, clean === "" ? undefined : { path: clean });
    const res = await this.t.send("GET", url, {});
    const body = await this.t.decodeJson("GET", url, res);
    return { files: asList(body.files).map(normalizeFileInfo) };
  }

  /** Deletes a file or directory through the artifact proxy. */
  async deleteArtifact(path: string): Promise<void> {
    const url = this.artifactUrl(path);
    const res = await this.t.send("DELETE", url, {});
    await this.t.readText("DELETE", url, res, 0);
  }
}
