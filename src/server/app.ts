/** The Fastify app factory: one plugin per API, one error boundary, the OpenAPI document. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { systemClock, type Clock } from "../core/clock.js";
import { FlywheelError } from "../core/errors.js";
import { silentLogger, type Logger } from "../core/logger.js";
import { VERSION } from "../core/version.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import type { StreamBus } from "../storage/stream/stream-bus.js";
import { featureCatalogCheck } from "../registry/feature-check.js";
import { storedPackageChecker } from "../registry/package-check.js";
import { LineageService } from "../registry/lineage-service.js";
import { RegistryService } from "../registry/registry-service.js";
import type { InferenceLog } from "../serving/inference-log/inference-log.js";
import { ServingMetrics } from "../serving/metrics.js";
import { LoggedModelService } from "../tracking/logged-models.js";
import { TrackingService } from "../tracking/tracking-service.js";
import type { FeatureStore } from "../features/feature-store.js";
import { installErrorHandler } from "./error-handler.js";
import { FastPaths, serverWithFastPaths } from "./fast-paths.js";
import { refuseNul } from "./refuse-nul.js";
import { buildOpenApi } from "./openapi.js";
import { healthPlugin } from "./plugins/health.js";
import { mlflowArtifactsPlugin } from "./plugins/mlflow-artifacts.js";
import { mlflowExperimentsPlugin } from "./plugins/mlflow-experiments.js";
import { featureDefinitionsPlugin, featureServerPlugin } from "./plugins/feature-server.js";
import { governancePlugin } from "./plugins/governance.js";
import { inferencePlugin } from "./plugins/inference.js";
import { inferenceLogPlugin } from "./plugins/inference-log.js";
import { monitorsPlugin } from "./plugins/monitors.js";
import { MonitorService, type MonitorServiceDeps } from "../monitoring/monitor-service.js";
import { lineagePlugin } from "./plugins/lineage.js";
import { modelsPlugin } from "./plugins/models.js";
import { predictPlugin } from "./plugins/predict.js";
import { trafficPlugin } from "./plugins/traffic.js";
import { mlflowRegistryPlugin } from "./plugins/mlflow-registry.js";
import { mlflowLoggedModelsPlugin } from "./plugins/mlflow-logged-models.js";
import { mlflowRunsPlugin } from "./plugins/mlflow-runs.js";
import { ApiRegistry } from "./route.js";

/** What the app serves: every API, or the stateless inference role alone (`flywheel serve`). */
export type AppRole = "all" | "serving";

export interface AppDeps {
  metadata: MetadataStore;
  artifacts: ArtifactStore;
  logger?: Logger;
  clock?: Clock;
  /** Largest JSON body accepted, in bytes. */
  bodyLimit?: number;
  role?: AppRole;
  /** The feature store this server serves; without it the feature endpoints are not mounted. */
  features?: FeatureStore;
  /** Run ONNX Runtime on a second thread too, for concurrent traffic (see serving/runtime-thread.ts); default false. */
  runtimeThread?: boolean;
  /** Threads ONNX Runtime uses inside one operator of a served model; default 1. */
  intraOpNumThreads?: number;
  /** Where served predictions and posted labels are logged; without it nothing is logged and the labels API is not mounted. */
  inferenceLog?: InferenceLog;
  /**
   * Monitors (`/api/v1/monitors`): the data directory whose inference log they read, the project
   * naming their stream subjects and the bus alerts are published on. The scheduler runs due
   * monitors every `schedulerTickMs` (30 s; false: never). Without it the monitoring API is not mounted.
   */
  monitoring?: Pick<MonitorServiceDeps, "dataDir" | "project" | "delivery" | "fetch"> & { bus?: StreamBus | undefined; schedulerTickMs?: number | false };
}

/** MLflow parses a request body as JSON whatever its Content-Type; so do we. */
function jsonAnyContentType(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string", bodyLimit }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") {
      done(null, {});
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new FlywheelError("FW_REQUEST_MALFORMED_JSON", `Malformed JSON request body: ${(e as Error).message}`), undefined);
    }
  });
}

/**
 * JSON bodies as Fastify parses them (prototype poisoning refused), except that an empty body is
 * `{}`, as the MLflow routes take it: a DELETE sent with a JSON content type and no body is
 * answered, and an empty POST gets the schema's answer naming the missing field rather than a
 * malformed-JSON error.
 */
function emptyJsonIsObject(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") done(null, {});
    else void parse(req, text, (err, value) => (err === null ? done(null, value) : done(new FlywheelError("FW_REQUEST_MALFORMED_JSON", `Malformed JSON request body: ${err.message}`), undefined)));
  });
}

function fastifyFor(deps: AppDeps, bodyLimit: number, fastPaths: FastPaths): FastifyInstance {
  return Fastify({
    // The hot inference request is answered on the bare server before Fastify (see fast-paths.ts).
    serverFactory: serverWithFastPaths(fastPaths),
    loggerInstance: (deps.logger ?? silentLogger) as FastifyBaseLogger,
    // Per-request info lines would cost more than a log-batch insert; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // Keep-alive sockets must not hold a shutdown (or a test) open.
    forceCloseConnections: true,
    // Artifact paths may be long; the router must not refuse them before our own checks run.
    routerOptions: { maxParamLength: 4096 },
  });
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const bodyLimit = deps.bodyLimit ?? 16 * 1024 * 1024;
  const fastPaths = new FastPaths();
  const app = fastifyFor(deps, bodyLimit, fastPaths);
  installErrorHandler(app);
  const registry = new ApiRegistry();
  const clock = deps.clock ?? systemClock;
  const tracking = new TrackingService(deps.metadata, deps.artifacts, clock);
  const loggedModels = new LoggedModelService(deps.metadata, deps.artifacts, clock);
  // Declared features are checked against the feature store's applied definitions.
  const checker = storedPackageChecker(deps.features === undefined ? undefined : featureCatalogCheck(deps.metadata.features, deps.features.project));
  const registryService = new RegistryService(deps.metadata, deps.artifacts, clock, checker);
  const lineage = new LineageService(deps.metadata, deps.artifacts, registryService, clock);
  registryService.onVersionCreated((v) => lineage.recordVersion(v));

  // One metrics registry per app: servers sharing a process keep their own counts.
  const metrics = new ServingMetrics();
  metricsRoute(app, metrics, registry);
  const inferenceLog = deps.inferenceLog;
  if (inferenceLog !== undefined) {
    const untrack = metrics.trackInferenceLog(inferenceLog);
    app.addHook("onClose", async () => untrack());
  }
  await app.register(healthPlugin({ metadata: deps.metadata, artifacts: deps.artifacts, version: VERSION }, registry));
  if (deps.role === "serving") {
    // The serving role only reads the registry and the artifact store: any number of replicas.
    await app.register(inferencePlugin({ registry: registryService, artifacts: deps.artifacts, metrics, inferenceLog, fastPaths, runtimeThread: deps.runtimeThread === true, intraOpNumThreads: deps.intraOpNumThreads ?? 1 }, registry));
    await app.register(
      async (scope) => {
        emptyJsonIsObject(scope);
        await scope.register(predictPlugin({ features: deps.features, metrics }, registry));
        if (inferenceLog !== undefined) await scope.register(inferenceLogPlugin(inferenceLog, registry));
      },
      { prefix: "/api/v1" },
    );
    return withOpenApi(app, registry);
  }
  const monitors = monitorService(app, deps, registryService, lineage, clock);
  for (const prefix of ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]) {
    const documented = prefix.startsWith("/api/") ? registry : undefined;
    await app.register(
      async (scope) => {
        jsonAnyContentType(scope, bodyLimit);
        refuseNul(scope);
        await scope.register(mlflowExperimentsPlugin(tracking, documented));
        await scope.register(mlflowRunsPlugin(tracking, loggedModels, documented));
        await scope.register(mlflowLoggedModelsPlugin(loggedModels, deps.artifacts, documented));
        await scope.register(mlflowRegistryPlugin(registryService, documented));
      },
      { prefix },
    );
  }
  for (const prefix of ["/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"]) {
    await app.register(mlflowArtifactsPlugin(deps.artifacts, prefix.startsWith("/api/") ? registry : undefined), { prefix });
  }
  await app.register(
    async (scope) => {
      emptyJsonIsObject(scope);
      // The routes that store what they are sent in the metadata database.
      await scope.register(async (stored) => {
        refuseNul(stored);
        await stored.register(modelsPlugin(registryService, registry));
        await stored.register(governancePlugin(registryService, registry));
        await stored.register(lineagePlugin(lineage, registry));
        await stored.register(trafficPlugin(registryService, registry));
        if (deps.features !== undefined) await stored.register(featureDefinitionsPlugin(deps.features, registry));
        if (monitors !== undefined) await stored.register(monitorsPlugin(monitors, registry));
      });
      await scope.register(predictPlugin({ features: deps.features, metrics }, registry));
      if (inferenceLog !== undefined) await scope.register(inferenceLogPlugin(inferenceLog, registry));
    },
    { prefix: "/api/v1" },
  );
  // Feast's feature server endpoints, at the root as Feast has them.
  if (deps.features !== undefined) await app.register(featureServerPlugin(deps.features, registry));
  // Open Inference Protocol (V2) and V1 over ONNX Runtime, for registered versions and aliases.
  await app.register(inferencePlugin({ registry: registryService, artifacts: deps.artifacts, metrics, inferenceLog, fastPaths, runtimeThread: deps.runtimeThread === true, intraOpNumThreads: deps.intraOpNumThreads ?? 1 }, registry));
  return withOpenApi(app, registry);
}

/** The monitoring service and its scheduler, stopped (deliveries finished) when the app closes. */
function monitorService(app: FastifyInstance, deps: AppDeps, registry: RegistryService, lineage: LineageService, clock: Clock): MonitorService | undefined {
  const m = deps.monitoring;
  if (m === undefined) return undefined;
  const bus = m.bus;
  const service = new MonitorService({
    metadata: deps.metadata,
    artifacts: deps.artifacts,
    registry,
    lineage,
    dataDir: m.dataDir,
    project: m.project,
    bus: () => bus,
    clock,
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    ...(m.delivery === undefined ? {} : { delivery: m.delivery }),
    ...(m.fetch === undefined ? {} : { fetch: m.fetch }),
  });
  if (m.schedulerTickMs !== false) service.startScheduler(m.schedulerTickMs);
  app.addHook("onClose", async () => service.stop());
  return service;
}

/** `GET /metrics`: Prometheus text exposition of this app's metrics. */
function metricsRoute(app: FastifyInstance, metrics: ServingMetrics, registry: ApiRegistry): void {
  app.get("/metrics", async (_req, reply) => {
    const text = await metrics.exposition();
    return reply.type(metrics.contentType).send(text);
  });
  registry.add({ method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format)", tag: "Meta" });
}

function withOpenApi(app: FastifyInstance, registry: ApiRegistry): FastifyInstance {
  let document: unknown;
  app.get("/api/openapi.json", async () => (document ??= buildOpenApi(registry, VERSION)));
  registry.add({ method: "GET", path: "/api/openapi.json", summary: "This OpenAPI document", tag: "Meta" });
  return app;
}
