/** Opens the configured stores, builds the app and listens: what `flywheel server` runs. */
import { artifactsUriOf, metadataUriOf, offlineDirOf, onlineStoreUriOf, type FlywheelConfig } from "../core/config.js";
import { FeatureStore } from "../features/feature-store.js";
import { PushConsumer, pushStreamNames } from "../features/push-consumer.js";
import { InferenceLog, type InferenceLogOptions } from "../serving/inference-log/inference-log.js";
import { openOnlineStore } from "../storage/online/open.js";
import { openStreamBus } from "../storage/stream/open.js";
import type { StreamBus } from "../storage/stream/stream-bus.js";
import { silentLogger, type Logger } from "../core/logger.js";
import { openArtifactStore } from "../storage/artifacts/open.js";
import { openMetadataStore } from "../storage/metadata/open.js";
import { buildApp, type AppDeps, type AppRole } from "./app.js";

export interface RunningServer {
  url: string;
  port: number;
  /** The inference log and labels in `<dataDir>/inference-log` and `<dataDir>/labels`. */
  inferenceLog: InferenceLog;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Group commit, queue and segment settings of the inference log (its stream and project come from the config). */
  inferenceLog?: Omit<InferenceLogOptions, "bus" | "project" | "logger">;
  /** The monitor scheduler's tick (default 30 s; false: no scheduler) and the alert delivery policy. */
  monitoring?: Pick<NonNullable<AppDeps["monitoring"]>, "schedulerTickMs" | "delivery" | "fetch">;
}

export async function startServer(cfg: FlywheelConfig, logger: Logger = silentLogger, role: AppRole = "all", options: StartOptions = {}): Promise<RunningServer> {
  const metadata = await openMetadataStore(metadataUriOf(cfg));
  const artifacts = await openArtifactStore(artifactsUriOf(cfg));
  const online = await openOnlineStore(onlineStoreUriOf(cfg), { project: cfg.featureProject });
  const features = new FeatureStore({ registry: metadata.features, online, project: cfg.featureProject, offlineDir: offlineDirOf(cfg) });
  // With a stream configured, push sources are also fed from `flywheel.<project>.push.<source>`,
  // and every logged prediction is also published to `flywheel.<project>.inference.<model>`.
  let bus: StreamBus | undefined;
  let consumer: PushConsumer | undefined;
  let inferenceLog: InferenceLog | undefined;
  const stopStreams = async () => {
    await consumer?.stop();
    await inferenceLog?.close();
    await bus?.close();
  };
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    if (cfg.streamUri !== undefined) bus = await openStreamBus(cfg.streamUri, { logger });
    inferenceLog = await InferenceLog.open(cfg.dataDir, {
      thread: cfg.inferenceLogThread,
      capacity: cfg.inferenceLogCapacity,
      overflow: cfg.inferenceLogOverflow,
      maxWaitMs: cfg.inferenceLogMaxWaitMs,
      ...options.inferenceLog,
      logger,
      project: cfg.featureProject,
      ...(bus === undefined ? {} : { bus }),
    });
    app = await buildApp({
      metadata,
      artifacts,
      logger,
      bodyLimit: cfg.bodyLimit,
      role,
      features,
      inferenceLog,
      runtimeThread: cfg.runtimeThread,
      intraOpNumThreads: cfg.intraOpNumThreads,
      // Monitors read this server's inference log and publish alerts on its stream.
      monitoring: { dataDir: cfg.dataDir, project: cfg.featureProject, bus, ...options.monitoring },
    });
    if (bus !== undefined && role === "all") {
      consumer = new PushConsumer({
        bus,
        store: features,
        offsets: metadata.features,
        ...pushStreamNames(cfg.featureProject),
        onRejected: (m, reason) => logger.warn({ subject: m.subject, seq: m.seq }, `push message rejected: ${reason}`),
      });
      await consumer.start();
    }
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (e) {
    await app?.close();
    await stopStreams();
    await online.close();
    await metadata.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : cfg.port;
  const host = cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host;
  const log = inferenceLog;
  const server = app;
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
    port,
    inferenceLog: log,
    async close() {
      // Requests stop first; then the log is flushed, sealed and rolled into Parquet.
      await server.close();
      await stopStreams();
      await online.close();
      await artifacts.close();
      await metadata.close();
    },
  };
}
