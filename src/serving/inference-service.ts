/**
 * The Open Inference Protocol (V2) and the V1 `instances`/`predictions` protocol over the model
 * cache: metadata, readiness and inference for the version a reference points at now.
 */
import type { ModelRef } from "../registry/model-uri.js";
import { Batcher, newBatchStats, type BatchStats } from "./batcher.js";
import { encodeBinaryTensor } from "./binary-tensors.js";
import { badRequest } from "./errors.js";
import type { InferenceLogEntry, LogProtocol } from "./inference-log/log-record.js";
import { sampled } from "./inference-log/sampling.js";
import { chooseRoute, targetName, targetRef } from "./traffic.js";
import type { HeldModel, LoadedModel, ModelCache, RuntimeTensor, ServingSettings } from "./model-cache.js";
import { rowsToInput, tensorRows } from "./rows.js";
import { describeTensorSpec, firstNaN, outputDatatype, selectOutputs, toFeeds, toResponseTensor, type Datatype, type RequestTensor, type ResponseTensor, type ServingTensorSpec, type TensorValue } from "./tensors.js";

export const PLATFORM = "onnxruntime";

export interface RequestedOutput {
  name: string;
  /** Send this output as binary tensor data (undefined: the request's `binaryOutputs`). */
  binary?: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: RequestTensor[];
  outputs?: RequestedOutput[];
  /** The default for outputs that do not say: every output as binary tensor data. */
  binaryOutputs?: boolean;
  /** What the inference log records about the request (no logging without it). */
  log?: LogContext;
}

/** A request as the inference log sees it; the service fills in what it learns on the way. */
export interface LogContext {
  requestId: string;
  protocol: LogProtocol;
  /** `performance.now()` when the request arrived. */
  started: number;
  /** The traffic route the request took, when the model's policy routed it. */
  arm?: string;
  /** Features the predict API read from the online store. */
  featuresFromStore?: string[];
}

/** Where served requests' entries go (InferenceLog). */
export interface InferenceLogSink {
  /** Undefined when the entry was taken; a promise when the request must wait for room first (it never rejects). */
  offer(entry: InferenceLogEntry): Promise<void> | undefined;
}

/** Where a request's headers are read from, for sticky routing. */
export interface RoutingContext {
  header(name: string): string | undefined;
}

/** Which version a request went to, by which route, and which shadows get a copy. */
export interface RouteChoice {
  ref: ModelRef;
  /** The route taken (`"3"` or `"@champion"`), when the model has a traffic policy and the request named the model alone. */
  route: string | undefined;
  shadows: ModelRef[];
  /** The model's serving settings, when routing read them (the run reuses them: one settings read per request). */
  settings?: ServingSettings | undefined;
}


/** What a shadow run did; its answer is never returned to the caller. */
export interface ShadowObservation {
  model: string;
  /** The shadow target (`"4"` or `"@candidate"`) and the version it resolved to, when it did. */
  target: string;
  version: string | undefined;
  ok: boolean;
  seconds: number;
  error?: string;
  outputs?: ResponseTensor[];
}

/** An output sent as binary tensor data: its header names the size, the bytes follow the JSON. */
export interface BinaryResponseTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters: { binary_data_size: number };
}

export interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: (ResponseTensor | BinaryResponseTensor)[];
}

/** The response's JSON and the bytes of its binary outputs, in output order (none when all are JSON). */
export interface InferResult {
  response: InferResponse;
  binary: Buffer[];
  /** The traffic route taken, when the model's policy routed the request. */
  route?: string;
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: ServingTensorSpec[];
  outputs: ServingTensorSpec[];
}

/** The service behind a running server (keyed by its HTTP server), for tests and tooling in the same process. */
const attached = new WeakMap<object, InferenceService>();

export function attachInferenceService(owner: object, service: InferenceService): void {
  attached.set(owner, service);
}

export function inferenceServiceOf(owner: object): InferenceService | undefined {
  return attached.get(owner);
}

export class InferenceService {
  /** One batcher per loaded session, so a batch never mixes versions (or packages of a reused version number). */
  private readonly batchers = new WeakMap<LoadedModel, Batcher>();
  /** What adaptive batching has done, over every model. */
  readonly batchStats: BatchStats = newBatchStats();
  /** Told the requests and rows of every run of an adaptive batcher (metrics). */
  onBatch: ((model: string, requests: number, rows: number) => void) | undefined;
  /** Told about every shadow run (metrics, the inference log). */
  onShadow: ((o: ShadowObservation) => void) | undefined;
  /** Shadow runs started and not yet finished (tests wait for them). */
  private readonly shadowsInFlight = new Set<Promise<void>>();

  /** Where served requests are logged (sampled per model); none: nothing is logged. */
  inferenceLog: InferenceLogSink | undefined;

  constructor(readonly models: ModelCache) {}

  /**
   * The version a request goes to. A request that names the model alone follows the model's
   * traffic policy, if it has one (weighted, or sticky on a header); anything else goes where it
   * points.
   */
  async route(ref: ModelRef, ctx?: RoutingContext): Promise<RouteChoice> {
    return this.routeNow(ref, ctx) ?? this.readRoute(ref, ctx);
  }

  /** `route` for a model whose settings must be read first. */
  private async readRoute(ref: ModelRef, ctx?: RoutingContext): Promise<RouteChoice> {
    // A model that cannot be read has no policy; resolving it gives the usual answer (404, 400).
    let settings: ServingSettings;
    try {
      settings = await this.models.settingsFor(ref.name);
    } catch {
      return { ref, route: undefined, shadows: [] };
    }
    return choose(ref, settings, ctx);
  }

  /** `route`, when it needs nothing read (the model's settings are at hand); else undefined. */
  private routeNow(ref: ModelRef, ctx?: RoutingContext): RouteChoice | undefined {
    if (ref.kind !== "latest") return { ref, route: undefined, shadows: [] };
    const settings = this.models.settingsNow(ref.name);
    return settings === undefined ? undefined : choose(ref, settings, ctx);
  }

  /** Sends copies of `inputs` to the shadow targets, in the background; failures are only reported. */
  private shadow(model: string, shadows: readonly ModelRef[], inputs: RequestTensor[]): void {
    for (const ref of shadows) {
      const target = ref.kind === "alias" ? `@${ref.alias}` : ref.kind === "version" ? ref.version : ref.kind;
      const started = performance.now();
      let version: string | undefined;
      const p = this.models
        .use(ref, async (m) => {
          version = m.version;
          return (await this.run(m, inputs, undefined)).map(([name, t]) => toResponseTensor(name, t));
        })
        .then(
          (outputs) => this.onShadow?.({ model, target, version, ok: true, seconds: (performance.now() - started) / 1000, outputs }),
          (e: unknown) => this.onShadow?.({ model, target, version, ok: false, seconds: (performance.now() - started) / 1000, error: e instanceof Error ? e.message : String(e) }),
        )
        .finally(() => this.shadowsInFlight.delete(p));
      this.shadowsInFlight.add(p);
    }
  }

  /** Resolves when every shadow run started so far has finished. */
  async shadowsSettled(): Promise<void> {
    await Promise.all([...this.shadowsInFlight]);
  }

  async metadata(ref: ModelRef): Promise<ModelMetadata> {
    return this.models.use(ref, async (m) => ({
      name: m.name,
      versions: [m.version],
      platform: PLATFORM,
      inputs: m.signature.inputs,
      outputs: m.signature.outputs,
    }));
  }

  /** Ready when the version is READY and its session loads (loading it now, so the first request is fast). */
  async ready(ref: ModelRef): Promise<{ name: string; ready: true }> {
    return this.models.use(ref, async (m) => ({ name: m.name, ready: true as const }));
  }

  infer(ref: ModelRef, request: InferRequest, ctx?: RoutingContext): Promise<InferResult> {
    // Most requests find their route and model at hand, and take the path with the fewest layers.
    let choice: RouteChoice | undefined;
    let held: HeldModel | undefined;
    try {
      choice = this.routeNow(ref, ctx);
      held = choice === undefined || choice.shadows.length > 0 ? undefined : this.models.holdNow(choice.ref);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (choice !== undefined && held !== undefined) return this.inferHeld(held, request, choice);
    return this.inferRouted(ref, request, ctx, choice);
  }

  private async inferHeld(held: HeldModel, request: InferRequest, choice: RouteChoice): Promise<InferResult> {
    try {
      if (request.log !== undefined && choice.route !== undefined) request.log.arm = choice.route;
      const result = await this.answer(held.loaded.model, request, choice.settings);
      if (choice.route !== undefined) result.route = choice.route;
      return result;
    } finally {
      this.models.letGo(held);
    }
  }

  /** `infer` for a request whose model must be read or loaded, or that has shadows (`routed`: its route, when it was at hand). */
  private async inferRouted(ref: ModelRef, request: InferRequest, ctx: RoutingContext | undefined, routed: RouteChoice | undefined): Promise<InferResult> {
    const choice = routed ?? (await this.readRoute(ref, ctx));
    if (request.log !== undefined && choice.route !== undefined) request.log.arm = choice.route;
    const result = await this.models.use(choice.ref, (m) => this.answer(m, request, choice.settings));
    if (choice.shadows.length > 0) this.shadow(ref.name, choice.shadows, request.inputs);
    if (choice.route !== undefined) result.route = choice.route;
    return result;
  }

  /** Runs the request on `m` and words the V2 answer. */
  private async answer(m: LoadedModel, request: InferRequest, settings: ServingSettings | undefined): Promise<InferResult> {
    const results = await this.run(m, request.inputs, request.outputs, request.log, settings);
    const asBinary = request.outputs === undefined || request.outputs.length === 0 ? undefined : new Map(request.outputs.map((o) => [o.name, o.binary]));
    const binary: Buffer[] = [];
    const outputs = results.map(([name, t]): ResponseTensor | BinaryResponseTensor => {
      if (!(asBinary?.get(name) ?? request.binaryOutputs ?? false)) return toResponseTensor(name, t);
      const bytes = encodeBinaryTensor(t);
      binary.push(bytes);
      return { name, shape: [...t.dims], datatype: outputDatatype(name, t.type), parameters: { binary_data_size: bytes.length } };
    });
    const response: InferResponse = request.id === undefined ? { model_name: m.name, model_version: m.version, outputs } : { model_name: m.name, model_version: m.version, id: request.id, outputs };
    return { response, binary };
  }

  /**
   * V1: `instances` are rows of the model's single input; `predictions` are rows of its output,
   * or one object per row keyed by output name when the model has several outputs.
   */
  async predict(ref: ModelRef, instances: unknown, ctx?: RoutingContext, log?: LogContext): Promise<{ predictions: unknown[]; version: string; route?: string }> {
    const choice = await this.route(ref, ctx);
    if (log !== undefined && choice.route !== undefined) log.arm = choice.route;
    return this.models.use(choice.ref, async (m) => {
      const [spec, ...more] = m.signature.inputs;
      if (spec === undefined || more.length > 0) {
        throw badRequest(`model '${m.name}' takes ${m.signature.inputs.length} inputs (${m.signature.inputs.map(describeTensorSpec).join(", ")}); V1 predict feeds a single input, use the V2 infer endpoint`);
      }
      const input = rowsToInput(instances, spec);
      const outputs = (await this.run(m, [input], undefined, log, choice.settings)).map(([name, t]) => toResponseTensor(name, t));
      if (choice.shadows.length > 0) this.shadow(ref.name, choice.shadows, [input]);
      const n = input.shape[0] as number;
      const rows = outputs.map((o) => tensorRows(o, n));
      const [only] = rows;
      const route = choice.route === undefined ? {} : { route: choice.route };
      if (only !== undefined && rows.length === 1) return { predictions: only, version: m.version, ...route };
      const predictions = Array.from({ length: n }, (_, i) => Object.fromEntries(outputs.map((o, k) => [o.name, rows[k]?.[i]])));
      return { predictions, version: m.version, ...route };
    });
  }

  /**
   * Runs `fn` with the version a reference points at now, and a runner that feeds it inputs (with
   * adaptive batching when the model has it) and answers every output as a response tensor.
   * With `log`, each run is offered to the inference log.
   */
  async withModel<T>(ref: ModelRef, fn: (m: LoadedModel, run: (inputs: RequestTensor[]) => Promise<ResponseTensor[]>) => Promise<T>, log?: LogContext): Promise<T> {
    return this.models.use(ref, (m) => fn(m, async (inputs) => (await this.run(m, inputs, undefined, log)).map(([name, t]) => toResponseTensor(name, t))));
  }

  /**
   * The outputs to answer with, in order, as the runtime returned them. With batching on for the
   * model, and every input and output of its signature batched along a variable first dimension,
   * the request goes through the version's batcher and may share a run with concurrent requests.
   * A run with a log context is offered to the inference log when the model's sample rate keeps it.
   * `settings` are the model's serving settings when the caller already read them.
   */
  private async run(
    m: LoadedModel,
    inputs: RequestTensor[],
    requested: readonly { name: string }[] | undefined,
    log?: LogContext,
    settings?: ServingSettings,
  ): Promise<[string, RuntimeTensor][]> {
    const feeds = toFeeds(inputs, m.signature);
    if (m.flywheel?.allowNan === false) refuseNaN(m, feeds);
    const names = selectOutputs(requested, m.signature);
    const { batching, logSampleRate } = settings ?? this.models.settingsNow(m.name) ?? (await this.models.settingsFor(m.name));
    const outputs = this.pick(names, batching === undefined || !batchable(m) ? await m.run(feeds, names) : await this.batcherOf(m).submit(feeds, names, batching));
    if (log !== undefined && this.inferenceLog !== undefined && sampled(logSampleRate)) {
      // References only: the entry is copied after the answer is sent, and encoded off this thread.
      const now = performance.now();
      const wait = this.inferenceLog.offer({
        requestId: log.requestId,
        protocol: log.protocol,
        time: Date.now() - (now - log.started),
        latencyMs: now - log.started,
        model: m.name,
        version: m.version,
        features: m.flywheel?.features,
        classNames: m.flywheel?.classNames,
        inputs: feeds,
        outputs,
        arm: log.arm,
        featuresFromStore: log.featuresFromStore,
      });
      // Only under the "backpressure" overflow policy, with the log full.
      if (wait !== undefined) await wait;
    }
    return outputs;
  }

  private pick(names: readonly string[], results: Record<string, RuntimeTensor>): [string, RuntimeTensor][] {
    return names.map((name) => {
      const t = results[name];
      if (t === undefined) throw new Error(`ONNX Runtime returned no output '${name}'`);
      return [name, t];
    });
  }

  private batcherOf(m: LoadedModel): Batcher {
    let b = this.batchers.get(m);
    if (b === undefined) {
      b = new Batcher((feeds, outputs) => m.run(feeds, outputs), this.batchStats, (requests, rows) => this.onBatch?.(m.name, requests, rows));
      this.batchers.set(m, b);
    }
    return b;
  }
}

/** Where a request that names model `ref` alone goes under the model's settings (its traffic policy, if any). */
function choose(ref: ModelRef, settings: ServingSettings, ctx: RoutingContext | undefined): RouteChoice {
  const traffic = settings.traffic;
  // Without a policy the request stays on `ref`, whose model these settings are: the run reuses them.
  if (traffic === undefined) return { ref, route: undefined, shadows: [], settings };
  const key = traffic.stickyHeader === undefined ? undefined : ctx?.header(traffic.stickyHeader);
  const chosen = chooseRoute(traffic, key === "" ? undefined : key);
  return { ref: targetRef(ref.name, chosen.target), route: targetName(chosen.target), shadows: traffic.shadows.map((t) => targetRef(ref.name, t)), settings };
}

/** Answers of `batchable`, per loaded model (read on every request of a model with batching on). */
const batchables = new WeakMap<LoadedModel, boolean>();

/** A 400 for the first NaN in the inputs of a model whose package forbids NaN (`metadata.flywheel.allow_nan: false`). */
function refuseNaN(m: LoadedModel, feeds: Record<string, TensorValue>): void {
  for (const [name, t] of Object.entries(feeds)) {
    const at = firstNaN(t);
    if (at >= 0) throw badRequest(`input '${name}' holds NaN at element ${at}; model '${m.name}' version ${m.version} does not take NaN (its package sets allow_nan: false)`);
  }
}

/** Whether every input and output the signature declares has a variable first dimension to stack along. */
function batchable(m: LoadedModel): boolean {
  let known = batchables.get(m);
  if (known === undefined) {
    known = [...m.signature.inputs, ...m.signature.outputs].every((s) => s.shape[0] === -1);
    batchables.set(m, known);
  }
  return known;
}
