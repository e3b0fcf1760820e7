/**
 * The Open Inference Protocol (V2) and the V1 `instances`/`predictions` protocol over the model
 * cache: metadata, readiness and inference for the version a reference points at now.
 */
import type { ModelRef } from "../registry/model-uri.js";
import { Batcher, newBatchStats, type BatchStats } from "./batcher.js";
import { encodeBinaryTensor } from "./binary-tensors.js";
import { badRequest } from "./errors.js";
import type { LoadedModel, ModelCache, RuntimeTensor } from "./model-cache.js";
import { rowsToInput, tensorRows } from "./rows.js";
import { describeTensorSpec, outputDatatype, selectOutputs, toFeeds, toResponseTensor, type Datatype, type RequestTensor, type ResponseTensor, type ServingTensorSpec } from "./tensors.js";

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

  constructor(readonly models: ModelCache) {}

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

  async infer(ref: ModelRef, request: InferRequest): Promise<InferResult> {
    return this.models.use(ref, async (m) => {
      const results = await this.run(m, request.inputs, request.outputs);
      const asBinary = new Map((request.outputs ?? []).map((o) => [o.name, o.binary]));
      const binary: Buffer[] = [];
      const outputs = results.map(([name, t]): ResponseTensor | BinaryResponseTensor => {
        if (!(asBinary.get(name) ?? request.binaryOutputs ?? false)) return toResponseTensor(name, t);
        const bytes = encodeBinaryTensor(t);
        binary.push(bytes);
        return { name, shape: [...t.dims], datatype: outputDatatype(name, t.type), parameters: { binary_data_size: bytes.length } };
      });
      const response = { model_name: m.name, model_version: m.version, ...(request.id === undefined ? {} : { id: request.id }), outputs };
      return { response, binary };
    });
  }

  /**
   * V1: `instances` are rows of the model's single input; `predictions` are rows of its output,
   * or one object per row keyed by output name when the model has several outputs.
   */
  async predict(ref: ModelRef, instances: unknown): Promise<{ predictions: unknown[] }> {
    return this.models.use(ref, async (m) => {
      const [spec, ...more] = m.signature.inputs;
      if (spec === undefined || more.length > 0) {
        throw badRequest(`model '${m.name}' takes ${m.signature.inputs.length} inputs (${m.signature.inputs.map(describeTensorSpec).join(", ")}); V1 predict feeds a single input, use the V2 infer endpoint`);
      }
      const input = rowsToInput(instances, spec);
      const outputs = (await this.run(m, [input], undefined)).map(([name, t]) => toResponseTensor(name, t));
      const n = input.shape[0] as number;
      const rows = outputs.map((o) => tensorRows(o, n));
      const [only] = rows;
      if (only !== undefined && rows.length === 1) return { predictions: only };
      const predictions = Array.from({ length: n }, (_, i) => Object.fromEntries(outputs.map((o, k) => [o.name, rows[k]?.[i]])));
      return { predictions };
    });
  }

  /**
   * Runs `fn` with the version a reference points at now, and a runner that feeds it inputs (with
   * adaptive batching when the model has it) and answers every output as a response tensor.
   */
  async withModel<T>(ref: ModelRef, fn: (m: LoadedModel, run: (inputs: RequestTensor[]) => Promise<ResponseTensor[]>) => Promise<T>): Promise<T> {
    return this.models.use(ref, (m) => fn(m, async (inputs) => (await this.run(m, inputs, undefined)).map(([name, t]) => toResponseTensor(name, t))));
  }

  /**
   * The outputs to answer with, in order, as the runtime returned them. With batching on for the
   * model, and every input and output of its signature batched along a variable first dimension,
   * the request goes through the version's batcher and may share a run with concurrent requests.
   */
  private async run(m: LoadedModel, inputs: RequestTensor[], requested: readonly { name: string }[] | undefined): Promise<[string, RuntimeTensor][]> {
    const feeds = toFeeds(inputs, m.signature);
    const names = selectOutputs(requested, m.signature);
    const { batching } = await this.models.settingsFor(m.name);
    if (batching === undefined || !batchable(m)) return this.pick(names, await m.run(feeds, names));
    return this.pick(names, await this.batcherOf(m).submit(feeds, names, batching));
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
      b = new Batcher((feeds, outputs) => m.run(feeds, outputs), this.batchStats);
      this.batchers.set(m, b);
    }
    return b;
  }
}

/** Whether every input and output the signature declares has a variable first dimension to stack along. */
function batchable(m: LoadedModel): boolean {
  return [...m.signature.inputs, ...m.signature.outputs].every((s) => s.shape[0] === -1);
}
