/** `flywheel server`: every API on the configured stores (embedded by default); `flywheel serve`: inference alone. */
import cluster from "node:cluster";
import type { Command } from "commander";
import { FlywheelError } from "../core/errors.js";
import { artifactsUriOf, loadConfig, metadataUriOf } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { VERSION } from "../core/version.js";
import type { AppRole } from "../server/app.js";
import { startServer } from "../server/start.js";

interface ServerFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  metadataUri?: string;
  artifactsUri?: string;
  logLevel?: string;
  config?: string;
  intraOpThreads?: string;
}

export function registerServerCommand(program: Command): void {
  addServerCommand(program, "server", "Run the Flywheel server (tracking, registry, artifacts, inference, health, OpenAPI)", "all");
  addServerCommand(
    program,
    "serve",
    "Run the serving role alone (V2/V1 inference, health): stateless, reads the registry and artifacts, any number of replicas",
    "serving",
  );
}

function addServerCommand(program: Command, name: string, description: string, role: AppRole): void {
  const cmd = program.command(name).description(description);
  if (role === "serving") {
    cmd.option("--workers <n>", "processes sharing the port, one per core (each then runs ONNX Runtime on its serving thread only, unless FLYWHEEL_RUNTIME_THREAD is set)", "1");
  }
  cmd
    .option("--host <host>", "address to bind (default 127.0.0.1; env FLYWHEEL_HOST)")
    .option("-p, --port <port>", "port to listen on, 0 for any free port (default 5000; env FLYWHEEL_PORT)")
    .option("--data-dir <dir>", "directory for the embedded stores (default ./flywheel-data; env FLYWHEEL_DATA_DIR)")
    .option("--metadata-uri <uri>", "metadata store: sqlite:///rel.db, sqlite:////abs.db or postgresql://... (env FLYWHEEL_METADATA_URI)")
    .option("--backend-store-uri <uri>", "alias of --metadata-uri, as MLflow names it")
    .option("--artifacts-uri <uri>", "artifact store: file:///dir or a directory (env FLYWHEEL_ARTIFACTS_URI)")
    .option("--artifacts-destination <uri>", "alias of --artifacts-uri, as MLflow names it")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent (env FLYWHEEL_LOG_LEVEL)")
    .option("--intra-op-threads <n>", "threads ONNX Runtime uses inside one operator, 0 for one per core (default 1; env FLYWHEEL_INTRA_OP_THREADS)")
    .option("--config <file>", "YAML configuration file (default ./flywheel.yaml; env FLYWHEEL_CONFIG)")
    .action(async (flags: ServerFlags & { backendStoreUri?: string; artifactsDestination?: string; workers?: string }) => {
      const workers = Number(flags.workers ?? "1");
      if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
        throw new FlywheelError("FW_CONFIG_INVALID", `Invalid value for '--workers': expected an integer from 1 to 64, got '${flags.workers}'`);
      }
      if (workers > 1 && cluster.isPrimary) {
        await runPrimary(workers);
        return;
      }
      const cfg = loadConfig({
        flags: {
          host: flags.host,
          port: flags.port,
          dataDir: flags.dataDir,
          metadataUri: flags.metadataUri ?? flags.backendStoreUri,
          artifactsUri: flags.artifactsUri ?? flags.artifactsDestination,
          logLevel: flags.logLevel,
          intraOpNumThreads: flags.intraOpThreads,
        },
        ...(flags.config !== undefined ? { file: flags.config } : {}),
      });
      const logger = createLogger(cfg.logLevel);
      const server = await startServer(cfg, logger, role);
      if (cluster.isWorker) {
        process.send?.({ listening: server.url });
      } else process.stdout.write(
        `Flywheel ${VERSION}${role === "serving" ? " (serving role)" : ""} listening on ${server.url}\n` +
          `  metadata:  ${metadataUriOf(cfg)}\n  artifacts: ${artifactsUriOf(cfg)}\n`,
      );
      let closing = false;
      const stop = (signal: string) => {
        if (closing) return;
        closing = true;
        logger.info({ signal }, "shutting down");
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
}

/**
 * The primary of `flywheel serve --workers N`: forks N workers that share the port (Node's cluster
 * hands connections out round-robin), prints where they listen once, restarts a worker that dies,
 * and stops them all on SIGINT/SIGTERM.
 */
async function runPrimary(workers: number): Promise<void> {
  let stopping = false;
  let announced = false;
  // N processes already use N cores: a second ONNX Runtime thread in each would only add hand-offs.
  const env = process.env.FLYWHEEL_RUNTIME_THREAD === undefined ? { FLYWHEEL_RUNTIME_THREAD: "false" } : {};
  const fork = () => {
    const worker = cluster.fork(env);
    worker.on("message", (msg: { listening?: string }) => {
      if (typeof msg.listening === "string" && !announced) {
        announced = true;
        process.stdout.write(`Flywheel ${VERSION} (serving role, ${workers} workers) listening on ${msg.listening}\n`);
      }
    });
  };
  for (let i = 0; i < workers; i++) fork();
  cluster.on("exit", (worker, code) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(`worker ${worker.process.pid} exited with ${code}; starting another\n`);
    fork();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
