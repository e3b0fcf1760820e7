/**
 * `POST /api/v1/predict/<model>`: predictions from records by feature name or entity keys alone,
 * missing features read from the online store (see serving/predict.ts). Errors answer in
 * Flywheel's `{error_code, message}` shape.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FlywheelError } from "../../core/errors.js";
import type { FeatureStore } from "../../features/feature-store.js";
import { ServingError } from "../../serving/errors.js";
import { inferenceServiceOf } from "../../serving/inference-service.js";
import type { ServingMetrics } from "../../serving/metrics.js";
import { UNKNOWN_MODEL } from "../../serving/metrics.js";
import { modelRefOf } from "../../serving/model-ref.js";
import { PredictService } from "../../serving/predict.js";
import { route, type ApiRegistry } from "../route.js";

const predictInput = z.object({
  model: z.string().min(1),
  version: z.string().min(1).optional(),
  records: z.array(z.record(z.string(), z.unknown())).optional(),
  entities: z.record(z.string(), z.array(z.unknown())).optional(),
  id: z.string().min(1).max(256).optional(),
});

function asFlywheelError(e: unknown): unknown {
  if (!(e instanceof ServingError)) return e;
  if (e.status === 400) return new FlywheelError("FW_REQUEST_INVALID_FIELD", e.message, { cause: e });
  if (e.status === 404) return new FlywheelError("FW_REGISTRY_VERSION_NOT_FOUND", e.message, { cause: e });
  return new FlywheelError("FW_INTERNAL", e.message, { cause: e });
}

export function predictPlugin(deps: { features: FeatureStore | undefined; metrics: ServingMetrics | undefined }, registry: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    let service: PredictService | undefined;
    const serviceOf = (): PredictService => {
      if (service !== undefined) return service;
      const inference = inferenceServiceOf(app.server);
      if (inference === undefined) throw new FlywheelError("FW_INTERNAL", "The inference service is not running in this server");
      service = new PredictService(inference, deps.features, (model, seconds) => deps.metrics?.observeFeatureLookup(model, seconds));
      return service;
    };
    for (const url of ["/predict/:model", "/predict/:model/versions/:version"]) {
      route(
        app,
        registry,
        { methods: ["POST"], url, summary: "Predict from records or entity keys; missing features are read from the online store in the package's feature order", tag: "Inference", input: predictInput },
        async ({ input, reply }) => {
          const started = performance.now();
          let model = UNKNOWN_MODEL;
          let version = "";
          let status = 200;
          try {
            const answer = await serviceOf().predict(modelRefOf(input.model, input.version), {
              ...(input.records === undefined ? {} : { records: input.records }),
              ...(input.entities === undefined ? {} : { entities: input.entities }),
              ...(input.id === undefined ? {} : { id: input.id }),
            }, started - reply.elapsedTime);
            model = answer.model_name;
            version = answer.model_version;
            return answer;
          } catch (e) {
            const err = asFlywheelError(e);
            status = err instanceof FlywheelError ? err.status : 500;
            throw err;
          } finally {
            deps.metrics?.observeRequest({ model, version, protocol: "predict", status, seconds: (performance.now() - started) / 1000 });
          }
        },
      );
    }
  };
}
