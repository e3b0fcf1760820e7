/**
 * The model server's HTTP APIs, at the root: the Open Inference Protocol REST API under `/v2`
 * (with the binary tensor data extension) and the V1 `instances`/`predictions` API under `/v1`.
 * Errors are `{"error": "..."}` (400 for a request the model cannot take, 404 for an unknown
 * model, version or alias), as the protocol asks, not the `{error_code, message}` body of the
 * other APIs.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { FlywheelError } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import { VERSION } from "../../core/version.js";
import type { RegistryService } from "../../registry/registry-service.js";
import { BINARY_EXTENSION, HEADER_LENGTH_HEADER, binaryChoice, binaryInputParts, splitBody } from "../../serving/binary-tensors.js";
import { ServingError } from "../../serving/errors.js";
import { InferenceService, attachInferenceService, type InferenceLogSink, type InferRequest, type LogContext, type RequestedOutput, type RoutingContext } from "../../serving/inference-service.js";
import type { LogProtocol } from "../../serving/inference-log/log-record.js";
import { meterInferenceRequests, observeInference, registeredNameOf, type ServingMetrics } from "../../serving/metrics.js";
import { ModelCache } from "../../serving/model-cache.js";
import { modelRefOf } from "../../serving/model-ref.js";
import type { RequestTensor } from "../../serving/tensors.js";
import type { ArtifactStore } from "../../storage/artifacts/artifact-store.js";
import { readBody, type FastPaths } from "../fast-paths.js";
import { route, routeInput, type ApiRegistry } from "../route.js";
import { fastInferInput, inferInput, modelInput, type InferInput } from "./infer-input.js";

export interface InferencePluginDeps {
  registry: RegistryService;
  artifacts: ArtifactStore;
  /** ONNX Runtime threads per operator in each session; default 1. */
  intraOpNumThreads?: number;
  /** Run ONNX Runtime on a second thread too, for concurrent traffic (see runtime-thread.ts); default false. */
  runtimeThread?: boolean;
  /** Where inference requests and runtime calls are counted and timed (none: not measured). */
  metrics?: ServingMetrics;
  /** Where served requests are logged; with it every answer carries its request id. */
  inferenceLog?: InferenceLogSink;
  /**
   * The bare HTTP server's fast paths: when given, the common V2 JSON inference request is
   * answered there, without Fastify's request pipeline, exactly as the route would answer it.
   */
  fastPaths?: FastPaths;
}

/** The request id a V1 client may set, and the one a logged V1 answer carries (V2 has the body's `id`). */
export const REQUEST_ID_HEADER = "x-request-id";
const MAX_REQUEST_ID = 256;

/** The log context of a request: its id (the V2 body's, the header's, or a new UUID) and arrival time (`performance.now()`). */
function logContextOf(headers: IncomingHttpHeaders, started: number, protocol: LogProtocol, bodyId: string | undefined): LogContext {
  let requestId = bodyId;
  if (requestId === undefined) {
    const header = headers[REQUEST_ID_HEADER];
    if (typeof header === "string") {
      if (header.length === 0 || header.length > MAX_REQUEST_ID) throw new ServingError(400, `the ${REQUEST_ID_HEADER} header must be 1 to ${MAX_REQUEST_ID} characters`);
      requestId = header;
    }
  }
  return { requestId: requestId ?? randomUUID(), protocol, started };
}

/** When Fastify's request arrived, on the `performance.now()` clock. */
const arrivalOf = (reply: FastifyReply) => performance.now() - reply.elapsedTime;

const TAG = "Inference";

/** The status and message an error is answered with. */
function answerOf(e: unknown): { status: number; message: string } {
  if (e instanceof ServingError) return { status: e.status, message: e.message };
  if (e instanceof FlywheelError) return { status: e.status, message: e.message };
  const fe = e as Partial<FastifyError>;
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    // A body over the limit is 413 (Payload Too Large), as HTTP has it; other client errors are 400.
    return { status: fe.statusCode === 404 || fe.statusCode === 413 ? fe.statusCode : 400, message: fe.message ?? "bad request" };
  }
  return { status: 500, message: `internal error: ${e instanceof Error ? e.message : String(e)}` };
}

/** The bytes after the JSON header of requests that have an `Inference-Header-Content-Length`. */
const binaryParts = new WeakMap<FastifyRequest, Buffer>();

function parseJson(bytes: Buffer): unknown {
  const text = bytes.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ServingError(400, `malformed JSON request body: ${(e as Error).message}`);
  }
}

/**
 * Bodies are read as bytes. With an `Inference-Header-Content-Length` header the body is that
 * many bytes of JSON followed by binary tensor data, whatever its Content-Type; without one,
 * any Content-Type (or none) is read as JSON, as curl and most protocol clients send it.
 */
function inferenceBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const parse = (req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    let parsed: unknown;
    try {
      const split = splitBody(body, req.headers[HEADER_LENGTH_HEADER]);
      if (split !== undefined) binaryParts.set(req, split.binary);
      parsed = parseJson(split?.json ?? body);
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    done(null, parsed);
  };
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, parse);
  app.addContentTypeParser("*", { parseAs: "buffer" }, parse);
  // A header length on a request whose (empty) body was never parsed is checked against nothing.
  // A callback hook: most requests have no such header, and should not pay for a promise.
  app.addHook("preValidation", (req, _reply, done) => {
    const header = req.headers[HEADER_LENGTH_HEADER];
    if (req.method === "POST" && header !== undefined && !binaryParts.has(req)) {
      try {
        binaryParts.set(req, (splitBody(Buffer.alloc(0), header) as { binary: Buffer }).binary);
      } catch (e) {
        done(e as Error);
        return;
      }
    }
    done();
  });
}

function notFound(req: FastifyRequest): ServingError {
  return new ServingError(404, `no inference endpoint for ${req.method} ${req.raw.url?.split("?")[0] ?? ""}`);
}

/** `/v1/models/<m>[/versions/<v>][:predict]` after the prefix, decoded; undefined when it is not that shape. */
function parseV1Tail(req: FastifyRequest, predict: boolean): { model: string; version?: string } | undefined {
  const path = (req.raw.url ?? "").split("?")[0] ?? "";
  let tail: string;
  try {
    tail = decodeURIComponent(path.slice("/v1/models/".length));
  } catch {
    throw new ServingError(400, `the path '${path}' is not valid percent-encoding`);
  }
  if (predict) {
    if (!tail.endsWith(":predict")) return undefined;
    tail = tail.slice(0, -":predict".length);
  }
  const parts = tail.split("/");
  if (parts.length === 1 && parts[0] !== "") return { model: parts[0] as string };
  if (parts.length === 3 && parts[1] === "versions" && parts[0] !== "") return { model: parts[0] as string, version: parts[2] as string };
  return undefined;
}

/** The response header naming the traffic route a request took (`"3"` or `"@champion"`). */
export const ROUTE_HEADER = "x-flywheel-route";

/** Sticky routing reads the request's headers. */
function routingOf(req: { headers: IncomingHttpHeaders }): RoutingContext {
  return {
    header(name) {
      const v = req.headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}

/** A V2 inference answer: the JSON response, or (binary outputs) the JSON header and the tensor bytes. */
interface V2Answer {
  payload: object | Buffer;
  headers: Record<string, string>;
  model: string;
  version: string;
}

/** How the V2 infer route reads its input (the fast path reads it the same way). */
const V2_INFER_INPUT = { input: inferInput, fastInput: fastInferInput };

/** Recent answers of `v2InferPath` (a server sees a handful of model URLs over and over). */
const inferPaths = new Map<string, Readonly<{ model: string; version?: string }> | undefined>();

/** `/v2/models/<m>/infer` or `/v2/models/<m>/versions/<v>/infer` (no query string), decoded; undefined otherwise. */
export function v2InferPath(url: string): Readonly<{ model: string; version?: string }> | undefined {
  const known = inferPaths.get(url);
  if (known !== undefined || inferPaths.has(url)) return known;
  const target = parseV2InferPath(url);
  if (url.length > 256) return target;
  if (inferPaths.size >= 1000) inferPaths.clear();
  inferPaths.set(url, target === undefined ? undefined : Object.freeze(target));
  return target;
}

function parseV2InferPath(url: string): { model: string; version?: string } | undefined {
  const prefix = "/v2/models/";
  const suffix = "/infer";
  if (!url.startsWith(prefix) || !url.endsWith(suffix) || url.length > 4096 || url.includes("?")) return undefined;
  const parts = url.slice(prefix.length, url.length - suffix.length).split("/");
  if (!(parts.length === 1 || (parts.length === 3 && parts[1] === "versions")) || parts.some((p) => p === "")) return undefined;
  try {
    const model = decodeURIComponent(parts[0] as string);
    return parts.length === 1 ? { model } : { model, version: decodeURIComponent(parts[2] as string) };
  } catch {
    return undefined;
  }
}

export function inferencePlugin(deps: InferencePluginDeps, docs?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const cache = new ModelCache(deps.registry, deps.artifacts, { intraOpNumThreads: deps.intraOpNumThreads ?? 1, runtimeThread: deps.runtimeThread === true, logger: app.log as Logger });
    const service = new InferenceService(cache);
    service.inferenceLog = deps.inferenceLog;
    const logged = deps.inferenceLog !== undefined;
    attachInferenceService(app.server, service);
    app.addHook("onClose", async () => cache.close());
    const metrics = deps.metrics;
    let served: (req: FastifyRequest, model: string, version: string) => void = () => undefined;
    if (metrics !== undefined) {
      cache.onRun = (model, seconds) => metrics.observeRuntime(model, seconds);
      const untrack = metrics.trackSessions(() => cache.size);
      app.addHook("onClose", async () => untrack());
      served = meterInferenceRequests(app, metrics, deps.registry);
      const untrackBatches = metrics.trackBatchQueue(() => service.batchStats.waiting);
      app.addHook("onClose", async () => untrackBatches());
      service.onShadow = (o) => metrics.observeShadow(o.model, o.target, o.ok);
      service.onBatch = (model, requests, rows) => metrics.observeBatch(model, requests, rows);
    }
    inferenceBodies(app);
    app.setErrorHandler((error, req, reply) => {
      const { status, message } = answerOf(error);
      if (status >= 500) req.log.error({ err: error, url: req.raw.url }, "inference request failed");
      void reply.code(status).send({ error: message });
    });

    /** Runs a parsed V2 inference request; `binary` is the bytes after its JSON header, if any. */
    const inferV2 = async (input: InferInput, binary: Buffer | undefined, headers: IncomingHttpHeaders, started: number): Promise<V2Answer> => {
      const parts = binaryInputParts(input.inputs, binary);
      const binaryOutputs = binaryChoice(input.parameters, "request");
      const log = logged ? logContextOf(headers, started, "v2", input.id) : undefined;
      const request: InferRequest = {
        inputs: input.inputs.map((t, i): RequestTensor => {
          const part = parts[i];
          const tensor: RequestTensor = { name: t.name, shape: t.shape, datatype: t.datatype, data: t.data };
          if (part !== undefined) tensor.binary = part;
          return tensor;
        }),
      };
      // With the log on, the answer always names its request (the protocol allows adding `id`).
      if (log !== undefined) {
        request.id = log.requestId;
        request.log = log;
      } else if (input.id !== undefined) request.id = input.id;
      if (input.outputs !== undefined) {
        request.outputs = input.outputs.map((o): RequestedOutput => {
          const choice = binaryChoice(o.parameters, { output: o.name });
          return choice === undefined ? { name: o.name } : { name: o.name, binary: choice };
        });
      }
      if (binaryOutputs !== undefined) request.binaryOutputs = binaryOutputs;
      const { response, binary: outputBytes, route: taken } = await service.infer(modelRefOf(input.model, input.version), request, routingOf({ headers }));
      const answerHeaders: Record<string, string> = {};
      if (taken !== undefined) {
        answerHeaders[ROUTE_HEADER] = taken;
        metrics?.observeRoute(response.model_name, taken);
      }
      const answered = { model: response.model_name, version: response.model_version };
      if (outputBytes.length === 0) return { payload: response, headers: answerHeaders, ...answered };
      const json = Buffer.from(JSON.stringify(response), "utf8");
      answerHeaders["inference-header-content-length"] = String(json.length);
      answerHeaders["content-type"] = "application/octet-stream";
      return { payload: Buffer.concat([json, ...outputBytes]), headers: answerHeaders, ...answered };
    };

    /** The fast path's answer: what the route, its error handler and the metrics hook would do. */
    const answerFast = async (req: IncomingMessage, res: ServerResponse, target: { model: string; version?: string }, body: Buffer, started: number): Promise<void> => {
      let status = 200;
      let payload: string | Buffer;
      let headers: Record<string, string>;
      let answered: { model: string; version: string } | undefined;
      try {
        const input = routeInput(V2_INFER_INPUT, parseJson(body), target);
        const answer = await inferV2(input, undefined, req.headers, started);
        answered = { model: answer.model, version: answer.version };
        headers = answer.headers;
        payload = Buffer.isBuffer(answer.payload) ? answer.payload : JSON.stringify(answer.payload);
      } catch (e) {
        const answer = answerOf(e);
        status = answer.status;
        if (status >= 500) app.log.error({ err: e, url: req.url }, "inference request failed");
        payload = JSON.stringify({ error: answer.message });
        headers = {};
      }
      headers["content-type"] ??= "application/json; charset=utf-8";
      headers["content-length"] = String(Buffer.byteLength(payload));
      res.writeHead(status, headers);
      res.end(payload);
      if (metrics !== undefined) {
        void observeInference(metrics, deps.registry, { protocol: "v2", name: registeredNameOf(target.model), served: answered, status, seconds: (performance.now() - started) / 1000 });
      }
    };

    if (deps.fastPaths !== undefined) {
      // Larger bodies are left to Fastify, which refuses them.
      const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
      deps.fastPaths.add((req, res) => {
        if (req.method !== "POST" || req.headers[HEADER_LENGTH_HEADER] !== undefined || req.headers["transfer-encoding"] !== undefined) return false;
        const target = v2InferPath(req.url ?? "");
        const declared = req.headers["content-length"];
        const length = declared === undefined || !/^\d{1,12}$/.test(declared) ? Number.NaN : Number(declared);
        if (target === undefined || !(length <= bodyLimit)) return false;
        const started = performance.now();
        readBody(req, length, (body) => void answerFast(req, res, target, body, started));
        return true;
      });
    }

    // ---- V2: health and server metadata --------------------------------------------------------
    route(app, docs, { methods: ["GET"], url: "/v2/health/live", summary: "V2 liveness", tag: TAG }, async () => ({ live: true }));
    route(app, docs, { methods: ["GET"], url: "/v2/health/ready", summary: "V2 readiness", tag: TAG }, async () => ({ ready: true }));
    route(app, docs, { methods: ["GET"], url: "/v2", summary: "V2 server metadata", tag: TAG }, async () => ({
      name: "flywheel",
      version: VERSION,
      extensions: [BINARY_EXTENSION],
    }));

    // ---- V2: model metadata, readiness, inference ----------------------------------------------
    for (const base of ["/v2/models/:model", "/v2/models/:model/versions/:version"]) {
      route(app, docs, { methods: ["GET"], url: base, summary: "V2 model metadata: inputs and outputs with datatypes and shapes", tag: TAG, input: modelInput }, async ({ input }) =>
        service.metadata(modelRefOf(input.model, input.version)),
      );
      route(app, docs, { methods: ["GET"], url: `${base}/ready`, summary: "V2 model readiness", tag: TAG, input: modelInput }, async ({ input }) =>
        service.ready(modelRefOf(input.model, input.version)),
      );
      route(
        app,
        docs,
        {
          methods: ["POST"],
          url: `${base}/infer`,
          summary: "V2 inference (JSON tensors, or the binary tensor data extension)",
          tag: TAG,
          ...V2_INFER_INPUT,
        },
        async ({ input, req, reply }) => {
          const answer = await inferV2(input, binaryParts.get(req), req.headers, arrivalOf(reply));
          served(req, answer.model, answer.version);
          for (const [name, value] of Object.entries(answer.headers)) void reply.header(name, value);
          return answer.payload;
        },
      );
    }

    // ---- V1: status and predict (`:predict` is part of the last segment, so the tail is parsed here)
    app.get("/v1/models/*", async (req) => {
      const target = parseV1Tail(req, false);
      if (target === undefined) throw notFound(req);
      const v = await deps.registry.resolve(modelRefOf(target.model, target.version));
      return { name: v.name, versions: [v.version], ready: v.status === "READY", status: v.status };
    });
    app.post("/v1/models/*", async (req, reply) => {
      const target = parseV1Tail(req, true);
      if (target === undefined) throw notFound(req);
      if ((binaryParts.get(req)?.length ?? 0) > 0) {
        throw new ServingError(400, "V1 predict takes a JSON body only; binary tensor data is for the V2 infer endpoint");
      }
      const body = req.body;
      if (typeof body !== "object" || body === null || Array.isArray(body) || !("instances" in body)) {
        throw new ServingError(400, "the request body must be a JSON object with 'instances': a list of rows");
      }
      const ref = modelRefOf(target.model, target.version);
      const log = logged ? logContextOf(req.headers, arrivalOf(reply), "v1", undefined) : undefined;
      const answer = await service.predict(ref, (body as { instances: unknown }).instances, routingOf(req), log);
      served(req, ref.name, answer.version);
      if (log !== undefined) void reply.header(REQUEST_ID_HEADER, log.requestId);
      if (answer.route !== undefined) {
        void reply.header(ROUTE_HEADER, answer.route);
        metrics?.observeRoute(ref.name, answer.route);
      }
      return { predictions: answer.predictions };
    });
    docs?.add({ method: "GET", path: "/v1/models/{model}", summary: "V1 model status", tag: TAG });
    docs?.add({ method: "POST", path: "/v1/models/{model}:predict", summary: "V1 predict: {instances} -> {predictions}", tag: TAG });

    // Anything else under /v1 and /v2 answers in the protocol's error shape too.
    for (const prefix of ["/v1/*", "/v2/*"]) {
      app.all(prefix, async (req) => {
        throw notFound(req);
      });
    }
  };
}
