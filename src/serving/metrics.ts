/**
 * Prometheus metrics for the model server, in the text exposition format at `GET /metrics`:
 * inference requests by model, version, protocol and status; end-to-end and ONNX Runtime
 * latencies; sessions held; the batch queue depth; the inference log's backlog, writes and drops;
 * and the process metrics prom-client collects, all prefixed
 * `flywheel_`. Each app owns its registry (never prom-client's global one), so several servers in
 * one process keep separate counts.
 *
 * Label values stay bounded: a model label is a registered model's name, and only once the
 * registry knows it; anything else a client put in a path is counted as "unknown".
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { InferenceLogEvents } from "./inference-log/inference-log.js";
import { HotCounter, HotHistogram } from "./hot-metrics.js";

export type InferenceProtocol = "v2" | "v1" | "predict";

/** Seconds; inference on the small tabular models served here takes well under a millisecond to a few. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Batch sizes (requests or rows per run) up to the largest `max_batch_size` worth a bucket. */
const BATCH_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** The model label of a request whose model is not (or not yet known to be) registered. */
export const UNKNOWN_MODEL = "unknown";

/** Model names longer than this are never looked up: no registered name is that long. */
const MAX_NAME_LOOKUP = 1024;

export interface InferenceObservation {
  model: string;
  version: string;
  protocol: InferenceProtocol;
  status: number;
  seconds: number;
}

/** The sum of `read` over `items`. */
function total<T>(items: Iterable<T>, read: (item: T) => number): number {
  let n = 0;
  for (const item of items) n += read(item);
  return n;
}

/** What the metrics read of an inference log when scraped. */
interface TrackedLog {
  readonly backlog: number;
  /** Requests waiting for room now, and that have waited so far. */
  readonly waiting: number;
  readonly waited: number;
}

export class ServingMetrics {
  readonly registry = new Registry();
  // Counted on every request: label sets found without hashing (hot-metrics.ts).
  private readonly requests: HotCounter;
  private readonly requestDuration: HotHistogram;
  private readonly runtimeDuration: HotHistogram;
  private readonly lookupDuration: HotHistogram;
  private readonly routed: HotCounter;
  private readonly batchRequests: HotHistogram;
  private readonly batchRows: HotHistogram;
  private readonly shadowRuns: Counter<"model" | "target" | "outcome">;
  private readonly sessionCounts = new Set<() => number>();
  private readonly logs = new Set<TrackedLog>();
  private readonly batchQueues = new Set<() => number>();
  private readonly logWritten: Counter;
  private readonly logDropped: Counter<"reason">;
  private readonly logPublished: Counter;
  private readonly labelsWritten: Counter;
  private readonly rollFailures: Counter;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const registry = this.registry;
    this.requests = new HotCounter(
      "flywheel_inference_requests_total",
      "Inference requests (V2 infer and V1 predict) answered, by model, version, protocol and HTTP status",
      ["model", "version", "protocol", "status"],
      registry,
    );
    this.requestDuration = new HotHistogram(
      "flywheel_inference_request_duration_seconds",
      "Inference request latency from the request's arrival to its answer, in seconds",
      ["model", "protocol"],
      LATENCY_BUCKETS,
      registry,
    );
    this.runtimeDuration = new HotHistogram("flywheel_inference_runtime_duration_seconds", "Time spent in ONNX Runtime session runs, in seconds", ["model"], LATENCY_BUCKETS, registry);
    this.lookupDuration = new HotHistogram(
      "flywheel_feature_lookup_duration_seconds",
      "Time spent reading a prediction request's missing features from the online store, in seconds",
      ["model"],
      LATENCY_BUCKETS,
      registry,
    );
    this.batchRequests = new HotHistogram(
      "flywheel_batch_size_requests",
      "Requests served by one ONNX Runtime run of an adaptive batcher (1: the request ran alone), by model",
      ["model"],
      BATCH_BUCKETS,
      registry,
    );
    this.batchRows = new HotHistogram("flywheel_batch_size_rows", "Rows in one ONNX Runtime run of an adaptive batcher, by model", ["model"], BATCH_BUCKETS, registry);
    this.routed = new HotCounter("flywheel_traffic_routed_requests_total", "Requests routed by a model's traffic policy, by model and route (version or @alias)", ["model", "route"], registry);
    this.shadowRuns = new Counter({
      name: "flywheel_shadow_requests_total",
      help: "Copies of routed requests run on shadow targets, by model, target and outcome (ok or error)",
      labelNames: ["model", "target", "outcome"],
      registers,
    });
    const sessionCounts = this.sessionCounts;
    new Gauge({
      name: "flywheel_models_loaded",
      help: "Model versions held in ONNX Runtime sessions (loaded or loading)",
      registers,
      collect() {
        this.set(total(sessionCounts, (count) => count()));
      },
    });
    const logs = this.logs;
    new Gauge({
      name: "flywheel_inference_log_backlog_records",
      help: "Inference-log rows waiting in memory to be written (and published to the stream, when one is configured)",
      registers,
      collect() {
        this.set(total(logs, (l) => l.backlog));
      },
    });
    new Gauge({
      name: "flywheel_inference_log_waiting_requests",
      help: "Requests waiting for room in a full inference log before they are answered (overflow policy backpressure)",
      registers,
      collect() {
        this.set(total(logs, (l) => l.waiting));
      },
    });
    new Counter({
      name: "flywheel_inference_log_backpressure_waits_total",
      help: "Requests that found the inference log full and waited for room (overflow policy backpressure)",
      registers,
      collect() {
        this.reset();
        this.inc(total(logs, (l) => l.waited));
      },
    });
    this.logWritten = new Counter({ name: "flywheel_inference_log_records_written_total", help: "Inference-log rows written to local segments (they survive a process crash, and are fsync'd within a second)", registers });
    this.logDropped = new Counter({
      name: "flywheel_inference_log_records_dropped_total",
      help: "Inference-log rows dropped, by reason: queue_full, encode_error, write_error, closed (local log) or stream (not published)",
      labelNames: ["reason"],
      registers,
    });
    this.logPublished = new Counter({ name: "flywheel_inference_log_records_published_total", help: "Inference-log rows published to the stream bus", registers });
    this.labelsWritten = new Counter({ name: "flywheel_labels_written_total", help: "Ground-truth labels stored (POST /api/v1/labels)", registers });
    this.rollFailures = new Counter({
      name: "flywheel_inference_log_roll_failures_total",
      help: "Sealed inference-log segments that failed to roll into Parquet (each is kept and rolled again later)",
      registers,
    });
    const batchQueues = this.batchQueues;
    new Gauge({
      name: "flywheel_batch_queue_depth",
      help: "Requests waiting in adaptive batchers for companions",
      registers,
      collect() {
        this.set(total(batchQueues, (depth) => depth()));
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "flywheel_" });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  async exposition(): Promise<string> {
    return this.registry.metrics();
  }

  observeRequest(o: InferenceObservation): void {
    this.requests.inc([o.model, o.version, o.protocol, String(o.status)]);
    this.requestDuration.observe([o.model, o.protocol], o.seconds);
  }

  observeRuntime(model: string, seconds: number): void {
    this.runtimeDuration.observe([model], seconds);
  }

  /** One run of an adaptive batcher: the requests it served and the rows it took. */
  observeBatch(model: string, requests: number, rows: number): void {
    this.batchRequests.observe([model], requests);
    this.batchRows.observe([model], rows);
  }

  observeRoute(model: string, route: string): void {
    this.routed.inc([model, route]);
  }

  observeShadow(model: string, target: string, ok: boolean): void {
    this.shadowRuns.inc({ model, target, outcome: ok ? "ok" : "error" });
  }

  observeFeatureLookup(model: string, seconds: number): void {
    this.lookupDuration.observe([model], seconds);
  }

  /** Counts an inference log's backlog, writes and drops until the returned function is called. */
  trackInferenceLog(log: TrackedLog & { subscribe(events: InferenceLogEvents): () => void }): () => void {
    this.logs.add(log);
    const unsubscribe = log.subscribe({
      written: (n) => this.logWritten.inc(n),
      dropped: (n, reason) => this.logDropped.inc({ reason }, n),
      labelsWritten: (n) => this.labelsWritten.inc(n),
      published: (n) => this.logPublished.inc(n),
      rollFailed: (n) => this.rollFailures.inc(n),
    });
    return () => {
      this.logs.delete(log);
      unsubscribe();
    };
  }

  /** Counts `depth()` into `flywheel_batch_queue_depth` until the returned function is called. */
  trackBatchQueue(depth: () => number): () => void {
    this.batchQueues.add(depth);
    return () => {
      this.batchQueues.delete(depth);
    };
  }

  /** Counts `count()` into `flywheel_models_loaded` until the returned function is called. */
  trackSessions(count: () => number): () => void {
    this.sessionCounts.add(count);
    return () => {
      this.sessionCounts.delete(count);
    };
  }
}

/** The registry lookup the model label needs: a model that exists has a revision token. */
export interface ModelNames {
  modelRevision(name: string): Promise<string | undefined>;
}

const V2_INFER_ROUTES = new Set(["/v2/models/:model/infer", "/v2/models/:model/versions/:version/infer"]);
const V1_ROUTE = "/v1/models/*";

/** The protocol of an inference request (V2 infer or V1 predict), and the model name its path gives. */
export function inferenceTarget(req: FastifyRequest): { protocol: InferenceProtocol; name: string | undefined } | undefined {
  if (req.method !== "POST") return undefined;
  const url = req.routeOptions.url;
  const params = (req.params ?? {}) as Record<string, unknown>;
  if (url !== undefined && V2_INFER_ROUTES.has(url)) {
    return { protocol: "v2", name: registeredNameOf(params.model) };
  }
  if (url === V1_ROUTE) {
    const tail = params["*"];
    if (typeof tail !== "string" || !tail.endsWith(":predict")) return { protocol: "v1", name: undefined };
    return { protocol: "v1", name: registeredNameOf(tail.slice(0, -":predict".length).split("/")[0]) };
  }
  return undefined;
}

/** An answered inference request, as the metrics count it. */
export interface AnsweredInference {
  protocol: InferenceProtocol;
  /** The registered name the request's path gives (undefined when it cannot be one). */
  name: string | undefined;
  /** The model and version that answered; undefined when the request failed before a model ran. */
  served: { model: string; version: string } | undefined;
  status: number;
  seconds: number;
}

/**
 * Counts and times an answered inference request. A failed request is labelled with the name it
 * asked for only when the registry has a model of that name (else "unknown", so label values stay
 * bounded): that needs a registry read, and the returned promise settles once it is counted;
 * otherwise it is counted at once and undefined is returned.
 */
export function observeInference(metrics: ServingMetrics, names: ModelNames, a: AnsweredInference): Promise<void> | undefined {
  const observe = (model: string) => metrics.observeRequest({ model, version: a.served?.version ?? "", protocol: a.protocol, status: a.status, seconds: a.seconds });
  if (a.served !== undefined || a.name === undefined) {
    observe(a.served?.model ?? UNKNOWN_MODEL);
    return undefined;
  }
  const name = a.name;
  return names
    .modelRevision(name)
    .catch(() => undefined)
    .then((token) => observe(token === undefined ? UNKNOWN_MODEL : name));
}

/** `name` of `name` or `name@alias`; undefined when it cannot be a registered name. */
export function registeredNameOf(model: unknown): string | undefined {
  if (typeof model !== "string") return undefined;
  const at = model.lastIndexOf("@");
  const name = at === -1 ? model : model.slice(0, at);
  return name === "" || name.length > MAX_NAME_LOOKUP ? undefined : name;
}

/**
 * Counts and times the inference requests of `app` (a plugin scope holding the V2 infer and V1
 * predict routes). Handlers call the returned `served` with the model and version they answered
 * for; a request that failed is labelled with its model's name when the registry has that model.
 */
export function meterInferenceRequests(app: FastifyInstance, metrics: ServingMetrics, names: ModelNames): (req: FastifyRequest, model: string, version: string) => void {
  const servedBy = new WeakMap<FastifyRequest, { model: string; version: string }>();
  // A callback hook: an answered request is counted at once, without a promise; only a failed
  // one waits for the registry to say whether its model label may be the name it asked for.
  app.addHook("onResponse", (req, reply, done) => {
    const target = inferenceTarget(req);
    if (target === undefined) {
      done();
      return;
    }
    const pending = observeInference(metrics, names, { protocol: target.protocol, name: target.name, served: servedBy.get(req), status: reply.statusCode, seconds: reply.elapsedTime / 1000 });
    if (pending === undefined) done();
    else pending.then(() => done(), done);
  });
  return (req, model, version) => {
    servedBy.set(req, { model, version });
  };
}
