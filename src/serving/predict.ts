/**
 * The feature-lookup prediction API (`POST /api/v1/predict/<model>`): records by feature name,
 * or entity keys alone. For a model whose package names a feature service (or `view:feature`
 * references), the features a record does not carry are read from the online store, and the
 * input tensor is assembled in the exact order of the package's feature list, so serving sees
 * what training saw. The answer carries labels (class names when the package has them),
 * probabilities per class, the model version and a request id.
 */
import { randomUUID } from "node:crypto";
import type { FeatureStore } from "../features/feature-store.js";
import { resolveRefs, type ResolvedRef } from "../features/refs.js";
import type { ModelRef } from "../registry/model-uri.js";
import { badRequest } from "./errors.js";
import type { InferenceService, LogContext } from "./inference-service.js";
import type { LoadedModel } from "./model-cache.js";
import { interpret, type Prediction } from "./predictions.js";

export interface PredictRequest {
  /** One object per row: feature values by name, and/or the join keys to look the rest up by. */
  records?: Record<string, unknown>[];
  /** The same rows as columns (Feast's `entities` shape). */
  entities?: Record<string, unknown[]>;
  /** Echoed back; a UUID is made when absent. */
  id?: string;
}

export type { Prediction } from "./predictions.js";

export interface PredictResponse {
  id: string;
  model_name: string;
  model_version: string;
  predictions: Prediction[];
  /** Features read from the online store, as `view:feature`. */
  features_from_store: string[];
}

/** Most rows one request may carry. */
export const MAX_PREDICT_ROWS = 10_000;

export class PredictService {
  constructor(
    private readonly inference: InferenceService,
    private readonly features: FeatureStore | undefined,
    private readonly onLookup?: (model: string, seconds: number) => void,
  ) {}

  /** `startedAt`: `performance.now()` when the request arrived, for the inference log's latency. */
  async predict(ref: ModelRef, request: PredictRequest, startedAt = performance.now()): Promise<PredictResponse> {
    const rows = rowsOf(request);
    const id = request.id ?? randomUUID();
    const log: LogContext = { requestId: id, protocol: "predict", started: startedAt };
    return this.inference.withModel(ref, async (m, run) => {
      const names = m.flywheel?.features;
      const [input, ...more] = m.signature.inputs;
      if (names === undefined || input === undefined || more.length > 0 || input.shape.length !== 2) {
        throw badRequest(
          `model '${m.name}' version ${m.version} has no feature list (metadata.flywheel.features) for a single 2-D input; send tensors to /v2/models/${m.name}/infer instead`,
        );
      }
      const fromStore = await this.fillFromStore(m, names, rows);
      log.featuresFromStore = fromStore;
      const data: number[] = new Array<number>(rows.length * names.length);
      rows.forEach((row, i) => {
        names.forEach((f, j) => {
          const v = row[f];
          if (typeof v === "number") data[i * names.length + j] = v;
          else if (typeof v === "boolean") data[i * names.length + j] = v ? 1 : 0;
          else throw badRequest(`records[${i}].${f} must be a number (got ${v === null ? "null" : typeof v})`);
        });
      });
      const outputs = await run([{ name: input.name, shape: [rows.length, names.length], datatype: input.datatype, data }]);
      return {
        id,
        model_name: m.name,
        model_version: m.version,
        predictions: interpret(outputs, rows.length, m.flywheel?.classNames),
        features_from_store: fromStore,
      };
    }, log);
  }

  /**
   * Fills the features rows lack from the online store; every row is completed or the request
   * fails naming the row, the feature and why.
   */
  private async fillFromStore(m: LoadedModel, names: readonly string[], rows: Record<string, unknown>[]): Promise<string[]> {
    const missing = names.filter((f) => rows.some((r) => r[f] === undefined || r[f] === null));
    if (missing.length === 0) return [];
    const service = m.flywheel?.featureService;
    if (this.features === undefined || (service === undefined && !missing.every((f) => f.includes(":")))) {
      const f = missing[0] as string;
      const i = rows.findIndex((r) => r[f] === undefined || r[f] === null);
      throw badRequest(`records[${i}] lacks feature '${f}', and model '${m.name}' names no feature service to look it up in; send every feature of ${JSON.stringify(names)}`);
    }
    const { repo } = await this.features.current();
    const served: ResolvedRef[] = service !== undefined ? resolveRefs(repo, { featureService: service }) : resolveRefs(repo, { features: missing });
    const refOf = new Map<string, ResolvedRef>();
    for (const f of missing) {
      const match = served.find((r) => r.ref === f || `${r.view}__${r.feature}` === f || r.feature === f);
      if (match === undefined) {
        throw badRequest(`feature '${f}' of model '${m.name}' is not served by feature service '${service ?? ""}'; send it in each record`);
      }
      refOf.set(f, match);
    }
    const entities: Record<string, unknown[]> = {};
    const columns = new Set(rows.flatMap((r) => Object.keys(r)).filter((c) => !names.includes(c)));
    for (const c of columns) entities[c] = rows.map((r) => r[c]);
    if (Object.keys(entities).length === 0) {
      throw badRequest(`the records carry no entity keys to look up ${missing.map((f) => `'${f}'`).join(", ")} by`);
    }
    const started = performance.now();
    const refs = [...new Set([...refOf.values()].map((r) => r.ref))];
    const answer = await this.features.getOnlineFeatures({ features: refs, entities, fullFeatureNames: true });
    this.onLookup?.(m.name, (performance.now() - started) / 1000);
    const byRef = new Map<string, { values: unknown[]; statuses: string[] }>();
    answer.metadata.feature_names.forEach((name, k) => {
      const col = answer.results[k];
      if (col !== undefined) byRef.set(name.replace("__", ":"), col);
    });
    for (const [f, r] of refOf) {
      const col = byRef.get(r.ref);
      rows.forEach((row, i) => {
        if (row[f] !== undefined && row[f] !== null) return;
        const status = col?.statuses[i] ?? "NOT_FOUND";
        const value = col?.values[i];
        if (status !== "PRESENT" || value === null || value === undefined) {
          const key = Object.fromEntries([...columns].map((c) => [c, row[c]]));
          throw badRequest(`records[${i}]: feature '${r.ref}' is ${status} in the online store for ${JSON.stringify(key)}`);
        }
        row[f] = value;
      });
    }
    return refs;
  }
}

function rowsOf(request: PredictRequest): Record<string, unknown>[] {
  const hasRecords = request.records !== undefined;
  if (hasRecords === (request.entities !== undefined)) throw badRequest("give either 'records' (a list of objects) or 'entities' (columns), not both");
  let rows: Record<string, unknown>[];
  if (hasRecords) {
    if (!Array.isArray(request.records)) throw badRequest("'records' must be a list of objects");
    rows = request.records.map((r, i) => {
      if (typeof r !== "object" || r === null || Array.isArray(r)) throw badRequest(`records[${i}] must be an object of feature or entity values`);
      return { ...r };
    });
  } else {
    const cols = Object.entries(request.entities as Record<string, unknown[]>);
    const n = cols[0]?.[1].length ?? 0;
    for (const [name, values] of cols) {
      if (!Array.isArray(values) || values.length !== n) throw badRequest(`entities.${name} must be a list of ${n} values, like the other columns`);
    }
    rows = Array.from({ length: n }, (_, i) => Object.fromEntries(cols.map(([name, values]) => [name, values[i]])));
  }
  if (rows.length === 0) throw badRequest("give at least one record");
  if (rows.length > MAX_PREDICT_ROWS) throw badRequest(`at most ${MAX_PREDICT_ROWS} records per request (got ${rows.length})`);
  return rows;
}
