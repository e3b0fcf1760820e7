/**
 * The Open Inference Protocol (V2) and the V1 `instances`/`predictions` protocol over the model
 * cache: metadata, readiness and inference for the version a reference points at now.
 */
import type { ModelRef } from "../registry/model-uri.js";
import { badRequest } from "./errors.js";
import type { LoadedModel, ModelCache } from "./model-cache.js";
import { rowsToInput, tensorRows } from "./rows.js";
import { describeTensorSpec, selectOutputs, toFeeds, toResponseTensor, type RequestTensor, type ResponseTensor, type ServingTensorSpec } from "./tensors.js";

export const PLATFORM = "onnxruntime";

export interface InferRequest {
  id?: string;
  inputs: RequestTensor[];
  outputs?: { name: string }[];
}

export interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: ResponseTensor[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: ServingTensorSpec[];
  outputs: ServingTensorSpec[];
}

export class InferenceService {
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

  async infer(ref: ModelRef, request: InferRequest): Promise<InferResponse> {
    return this.models.use(ref, async (m) => {
      const outputs = await this.run(m, request.inputs, request.outputs);
      return { model_name: m.name, model_version: m.version, ...(request.id === undefined ? {} : { id: request.id }), outputs };
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
      const outputs = await this.run(m, [input], undefined);
      const n = input.shape[0] as number;
      const rows = outputs.map((o) => tensorRows(o, n));
      const [only] = rows;
      if (only !== undefined && rows.length === 1) return { predictions: only };
      const predictions = Array.from({ length: n }, (_, i) => Object.fromEntries(outputs.map((o, k) => [o.name, rows[k]?.[i]])));
      return { predictions };
    });
  }

  private async run(m: LoadedModel, inputs: RequestTensor[], requested: { name: string }[] | undefined): Promise<ResponseTensor[]> {
    const feeds = toFeeds(inputs, m.signature);
    const names = selectOutputs(requested, m.signature);
    const results = await m.run(feeds, names);
    return names.map((name) => {
      const t = results[name];
      if (t === undefined) throw new Error(`ONNX Runtime returned no output '${name}'`);
      return toResponseTensor(name, t);
    });
  }
}
