/**
 * `flywheel score-stream`: scores a stream of feature records or entity keys with a registered
 * model and publishes the predictions to another subject (serving/stream-scorer.ts).
 *
 * Like `flywheel serve`, the scorer is a serving process on the stores themselves: it reads the
 * registry and the model packages from the metadata and artifact stores, the missing features
 * from the online store, and runs ONNX Runtime in this process, so it needs no server and any
 * number of scorers can run. An alias is followed when it moves, without a restart.
 */
import type { Command } from "commander";
import { artifactsUriOf, loadConfig, metadataUriOf, offlineDirOf, onlineStoreUriOf, type FlywheelConfig } from "../core/config.js";
import { systemClock } from "../core/clock.js";
import { isFlywheelError } from "../core/errors.js";
import { createLogger } from "../core/logger.js";
import { FeatureStore } from "../features/feature-store.js";
import { storedPackageChecker } from "../registry/package-check.js";
import { RegistryService } from "../registry/registry-service.js";
import { ServingError } from "../serving/errors.js";
import { InferenceService } from "../serving/inference-service.js";
import { ModelCache } from "../serving/model-cache.js";
import { PredictService } from "../serving/predict.js";
import { StreamScorer, refLabel } from "../serving/stream-scorer.js";
import { openArtifactStore } from "../storage/artifacts/open.js";
import { openMetadataStore } from "../storage/metadata/open.js";
import { openOnlineStore } from "../storage/online/open.js";
import { openStreamBus } from "../storage/stream/open.js";
import type { StreamBus } from "../storage/stream/stream-bus.js";
import { parseRef } from "./models-shared.js";
import { FlywheelCommand, UsageError, parsePositiveInt, printJson, printLine, runCli } from "./output.js";

interface ScoreStreamFlags {
  model: string;
  inputSubject: string;
  outputSubject: string;
  streamUri?: string;
  durable?: string;
  batch: number;
  inputStream?: string;
  outputStream?: string;
  drain?: boolean;
  json?: boolean;
  dataDir?: string;
  metadataUri?: string;
  artifactsUri?: string;
  onlineStoreUri?: string;
  featureProject?: string;
  logLevel?: string;
  config?: string;
}

export interface PredictServices {
  predict: PredictService;
  inference: InferenceService;
  close(): Promise<void>;
}

/** The prediction path of `POST /api/v1/predict`, on the configured stores, in this process. */
export async function openPredictServices(cfg: FlywheelConfig): Promise<PredictServices> {
  const metadata = await openMetadataStore(metadataUriOf(cfg));
  const opened: { close(): Promise<void> }[] = [metadata];
  try {
    const artifacts = await openArtifactStore(artifactsUriOf(cfg));
    opened.push(artifacts);
    const online = await openOnlineStore(onlineStoreUriOf(cfg), { project: cfg.featureProject });
    opened.push(online);
    const features = new FeatureStore({ registry: metadata.features, online, project: cfg.featureProject, offlineDir: offlineDirOf(cfg) });
    // Resolution only: the scorer registers nothing, so the package checker never runs.
    const registry = new RegistryService(metadata, artifacts, systemClock, storedPackageChecker());
    // The registry is written by other processes (the server): read the revision token on every
    // call, so a moved alias is seen by the next batch (one indexed read per batch, not per record).
    const cache = new ModelCache(registry, artifacts, { revisionTtlMs: 0 });
    opened.push(cache);
    const inference = new InferenceService(cache);
    return {
      predict: new PredictService(inference, features),
      inference,
      close: () => closeAll(opened),
    };
  } catch (e) {
    await closeAll(opened);
    throw e;
  }
}

/** Closes in reverse order of opening; every close is attempted. */
async function closeAll(items: { close(): Promise<void> }[]): Promise<void> {
  for (const item of [...items].reverse()) await item.close().catch(() => undefined);
}

/** Bad input or configuration (a 4xx) is a usage error: exit code 2. */
function asUsage(e: unknown): unknown {
  if (e instanceof ServingError && e.status < 500) return new UsageError(e.message);
  if (isFlywheelError(e) && e.status < 500) return new UsageError(e.message);
  return e;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers `flywheel score-stream`; returns the command. */
export function registerScoreStreamCommand(program: Command): Command {
  const cmd = new FlywheelCommand("score-stream").description(
    "Score a stream of feature records or entity keys with a registered model, publishing one prediction message per input message; " +
      "a message is acknowledged only after its prediction is stored, and a restart resumes after the last acknowledged one",
  );
  cmd.copyInheritedSettings(program);
  program.addCommand(cmd);
  cmd
    .requiredOption("--model <ref>", "the model: NAME@ALIAS (followed when it moves), NAME/VERSION, NAME/latest, NAME/STAGE or a models:/ URI")
    .requiredOption("--input-subject <subject>", "where input messages arrive: {\"id\"?, \"record\": {...}}, {\"id\"?, \"records\": [...]} or a bare record; a pattern with * or > is allowed")
    .requiredOption("--output-subject <subject>", "where predictions go; unscorable messages go to <subject>.errors with the reason")
    .option("--stream-uri <uri>", "the stream bus: nats://host:4222 (env FLYWHEEL_STREAM_URI, or streamUri in flywheel.yaml)")
    .option("--durable <name>", "the durable consumer: its position survives restarts (default: score-<model>-<alias|vN|latest|stage>)")
    .option("--batch <n>", "messages per batch: scored together, acknowledged together", parsePositiveInt, 100)
    .option(
      "--input-stream <name>",
      "an existing stream holding the input subject, used as it is (default: FW_SCORE_IN_<subject>, created at the first start: start the scorer before producers publish)",
    )
    .option("--output-stream <name>", "an existing stream capturing the output and error subjects (default: the scorer creates FW_SCORE_OUT_<subject>)")
    .option("--drain", "stop once every message published so far is handled, instead of running until SIGINT/SIGTERM")
    .option("--json", "print the final summary as JSON")
    .option("--data-dir <dir>", "directory of the embedded stores (default ./flywheel-data; env FLYWHEEL_DATA_DIR)")
    .option("--metadata-uri <uri>", "metadata store: sqlite:///rel.db, sqlite:////abs.db or postgresql://... (env FLYWHEEL_METADATA_URI)")
    .option("--artifacts-uri <uri>", "artifact store: file:///dir or a directory (env FLYWHEEL_ARTIFACTS_URI)")
    .option("--online-store-uri <uri>", "online feature store: sqlite:///path.db or redis://host:6379 (env FLYWHEEL_ONLINE_STORE_URI)")
    .option("--feature-project <name>", "the feature-store project (env FLYWHEEL_FEATURE_PROJECT; default 'default')")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent (env FLYWHEEL_LOG_LEVEL)")
    .option("--config <file>", "YAML configuration file (default ./flywheel.yaml; env FLYWHEEL_CONFIG)")
    .action(
      runCli(async (flags: ScoreStreamFlags) => {
        const ref = parseRef(flags.model);
        let cfg: FlywheelConfig;
        try {
          cfg = loadConfig({
            flags: {
              dataDir: flags.dataDir,
              metadataUri: flags.metadataUri,
              artifactsUri: flags.artifactsUri,
              onlineStoreUri: flags.onlineStoreUri,
              featureProject: flags.featureProject,
              streamUri: flags.streamUri,
              logLevel: flags.logLevel,
            },
            ...(flags.config === undefined ? {} : { file: flags.config }),
          });
        } catch (e) {
          throw asUsage(e);
        }
        if (cfg.streamUri === undefined) throw new UsageError("give the stream bus with --stream-uri nats://host:4222 (or FLYWHEEL_STREAM_URI, or streamUri in flywheel.yaml)");
        const logger = createLogger(cfg.logLevel);
        const services = await openPredictServices(cfg);
        let bus: StreamBus | undefined;
        try {
          bus = await openStreamBus(cfg.streamUri, { logger }).catch((e: unknown) => {
            throw asUsage(e);
          });
          let scorer: StreamScorer;
          try {
            scorer = new StreamScorer({
              bus,
              predictor: services.predict,
              inference: services.inference,
              model: ref,
              inputSubject: flags.inputSubject,
              outputSubject: flags.outputSubject,
              batch: flags.batch,
              logger,
              ...(flags.durable === undefined ? {} : { durable: flags.durable }),
              ...(flags.inputStream === undefined ? {} : { inputStream: flags.inputStream }),
              ...(flags.outputStream === undefined ? {} : { outputStream: flags.outputStream }),
            });
          } catch (e) {
            throw asUsage(e);
          }
          const model = await scorer.start().catch((e: unknown) => {
            throw asUsage(e);
          });
          const started = performance.now();
          if (flags.json !== true) {
            printLine(
              `Scoring '${flags.inputSubject}' (stream ${scorer.inputStream}, durable ${scorer.durable}) with ${refLabel(ref)} (now version ${model.version}) ` +
                `into '${flags.outputSubject}' (errors: '${scorer.errorSubject}', stream ${scorer.outputStream})`,
            );
          }
          await runUntilStopped(scorer, flags.drain === true);
          await scorer.stop();
          const seconds = (performance.now() - started) / 1000;
          const { messages, records, rejected, failedBatches, redeliveries } = scorer.stats;
          const rate = seconds > 0 ? Math.round(messages / seconds) : 0;
          if (flags.json === true) {
            printJson({ model: refLabel(ref), durable: scorer.durable, messages, records, rejected, failed_batches: failedBatches, redeliveries, seconds, messages_per_second: rate });
          } else {
            // Without --drain the time includes waiting for messages, so a rate would mean little.
            const speed = flags.drain === true ? `, ${rate.toLocaleString("en-US")} msg/s` : "";
            printLine(
              `Stopped: ${messages.toLocaleString("en-US")} messages (${records.toLocaleString("en-US")} records) in ${seconds.toFixed(1)}s${speed}; ` +
                `${rejected} sent to '${scorer.errorSubject}'${failedBatches > 0 ? `; ${failedBatches} failed batches redelivered` : ""}`,
            );
          }
        } finally {
          await bus?.close();
          await services.close();
        }
      }),
    );
  return cmd;
}

/** Until SIGINT/SIGTERM, the consumer ending (the bus closed), or with `drain`, the backlog handled. */
async function runUntilStopped(scorer: StreamScorer, drain: boolean): Promise<void> {
  let stop!: () => void;
  const signalled = new Promise<void>((resolve) => (stop = resolve));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let over = false;
  const end = Promise.race([signalled, scorer.done]).then(() => {
    over = true;
  });
  try {
    if (!drain) return await end;
    // Caught up twice in a row: a batch pulled between two reads is not mistaken for the end.
    let streak = 0;
    while (!over && streak < 2) {
      streak = (await scorer.caughtUp()) ? streak + 1 : 0;
      if (streak < 2) await Promise.race([end, sleep(100)]);
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
