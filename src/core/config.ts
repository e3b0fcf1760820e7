/**
 * Configuration: command-line flags override `FLYWHEEL_*` environment variables, which override
 * an optional `flywheel.yaml`, which overrides the defaults. Every value is checked by one schema.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { FlywheelError } from "./errors.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** A boolean setting: `true`/`false` or `1`/`0` (from a flag or the environment) too. */
function flag() {
  return z.preprocess(
    (v) => (v === "true" || v === "1" || v === 1 ? true : v === "false" || v === "0" || v === 0 ? false : v),
    z.boolean({ message: "must be true or false (or 1 or 0)" }),
  );
}

const INTRA_OP_RULE = "must be an integer from 0 to 256 (0: one thread per core)";

export const configSchema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  /** `sqlite:///relative.db`, `sqlite:////absolute/path.db` or `postgresql://...`; default: SQLite in dataDir. */
  metadataUri: z.string().min(1).optional(),
  /** `file:///abs/dir` or a plain directory; default: `<dataDir>/artifacts`. */
  artifactsUri: z.string().min(1).optional(),
  /** `sqlite:///path.db` or `redis://host:6379`; default: SQLite in dataDir. */
  onlineStoreUri: z.string().min(1).optional(),
  /** Where offline feature pushes are appended as Parquet; default: `<dataDir>/offline`. */
  offlineDir: z.string().min(1).optional(),
  /** `nats://host:4222` (JetStream) or `memory:`; when set, the server feeds push sources from it. */
  streamUri: z.string().min(1).optional(),
  /** The feature-store project this server serves (a namespace in the stores). */
  featureProject: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, "letters, digits, '_', '.', '-', at most 128"),
  logLevel: z.enum(LOG_LEVELS),
  /** Largest JSON request body accepted, in bytes. Artifact uploads are streamed and not limited. */
  bodyLimit: z.coerce.number().int().min(1024),
  /**
   * Encode and write the inference log on a thread of its own (the serving thread only copies each
   * entry into a shared ring); false keeps it on the serving thread. `true`/`false` or `1`/`0`.
   */
  inferenceLogThread: flag(),
  /** Most inference-log rows waiting in memory to be written. */
  inferenceLogCapacity: z.coerce.number().int().min(1),
  /**
   * What a logged request finds when `inferenceLogCapacity` rows already wait: `drop` (its rows are
   * dropped and counted, the answer is not delayed) or `backpressure` (it waits for room, at most
   * `inferenceLogMaxWaitMs`, then its rows are dropped and counted).
   */
  inferenceLogOverflow: z.enum(["drop", "backpressure"], { message: "must be 'drop' or 'backpressure'" }),
  /** The longest a request waits for room in the inference log under `backpressure`, in milliseconds. */
  inferenceLogMaxWaitMs: z.coerce.number().int().min(0).max(600_000),
  /**
   * Run ONNX Runtime on a second thread too: under concurrent traffic, a run that starts while
   * another is pending goes to that thread, so one server process uses two cores. `flywheel serve
   * --workers N` turns it off in its workers unless set.
   */
  runtimeThread: flag(),
  /** Threads ONNX Runtime uses inside one operator of a served model (0: ONNX Runtime's own choice, one per core). */
  intraOpNumThreads: z.coerce
    .number({ message: INTRA_OP_RULE })
    .int({ message: INTRA_OP_RULE })
    .min(0, { message: INTRA_OP_RULE })
    .max(256, { message: INTRA_OP_RULE }),
});

export type FlywheelConfig = z.infer<typeof configSchema>;
export type ConfigInput = { [K in keyof FlywheelConfig]?: unknown };

export const DEFAULTS: FlywheelConfig = {
  host: "127.0.0.1",
  port: 5000,
  dataDir: "./flywheel-data",
  logLevel: "info",
  featureProject: "default",
  bodyLimit: 16 * 1024 * 1024,
  inferenceLogThread: true,
  inferenceLogCapacity: 100_000,
  inferenceLogOverflow: "drop",
  inferenceLogMaxWaitMs: 1000,
  runtimeThread: true,
  intraOpNumThreads: 1,
};

const ENV_NAMES: Record<keyof FlywheelConfig, string> = {
  host: "FLYWHEEL_HOST",
  port: "FLYWHEEL_PORT",
  dataDir: "FLYWHEEL_DATA_DIR",
  metadataUri: "FLYWHEEL_METADATA_URI",
  artifactsUri: "FLYWHEEL_ARTIFACTS_URI",
  onlineStoreUri: "FLYWHEEL_ONLINE_STORE_URI",
  offlineDir: "FLYWHEEL_OFFLINE_DIR",
  featureProject: "FLYWHEEL_FEATURE_PROJECT",
  streamUri: "FLYWHEEL_STREAM_URI",
  logLevel: "FLYWHEEL_LOG_LEVEL",
  bodyLimit: "FLYWHEEL_BODY_LIMIT",
  inferenceLogThread: "FLYWHEEL_INFERENCE_LOG_THREAD",
  inferenceLogCapacity: "FLYWHEEL_INFERENCE_LOG_CAPACITY",
  inferenceLogOverflow: "FLYWHEEL_INFERENCE_LOG_OVERFLOW",
  inferenceLogMaxWaitMs: "FLYWHEEL_INFERENCE_LOG_MAX_WAIT_MS",
  runtimeThread: "FLYWHEEL_RUNTIME_THREAD",
  intraOpNumThreads: "FLYWHEEL_INTRA_OP_THREADS",
};

function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  for (const [key, name] of Object.entries(ENV_NAMES) as [keyof FlywheelConfig, string][]) {
    const v = env[name];
    if (v !== undefined && v !== "") out[key] = v;
  }
  return out;
}

function fromYaml(file: string): ConfigInput {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    throw new FlywheelError("FW_CONFIG_INVALID", `${file}: not valid YAML: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new FlywheelError("FW_CONFIG_INVALID", `${file}: the top level must be a mapping`);
  }
  const known = new Set(Object.keys(ENV_NAMES));
  for (const key of Object.keys(doc)) {
    if (!known.has(key)) {
      throw new FlywheelError(
        "FW_CONFIG_INVALID",
        `${file}: unknown key '${key}' (known: ${[...known].join(", ")})`,
      );
    }
  }
  return doc as ConfigInput;
}

function dropUndefined(input: ConfigInput): ConfigInput {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}

export interface LoadConfigOptions {
  flags?: ConfigInput;
  env?: NodeJS.ProcessEnv;
  /** Path of the YAML file; default `flywheel.yaml` in `cwd` (`FLYWHEEL_CONFIG` overrides). */
  file?: string;
  cwd?: string;
}

/** Resolves the configuration from all sources and validates it. */
export function loadConfig(options: LoadConfigOptions = {}): FlywheelConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ?? env.FLYWHEEL_CONFIG ?? join(cwd, "flywheel.yaml");
  const yamlInput = existsSync(file) ? fromYaml(file) : {};
  const merged = {
    ...DEFAULTS,
    ...dropUndefined(yamlInput),
    ...dropUndefined(fromEnv(env)),
    ...dropUndefined(options.flags ?? {}),
  };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? "config") as keyof FlywheelConfig;
    throw new FlywheelError(
      "FW_CONFIG_INVALID",
      `Invalid configuration '${key}' (flag, ${ENV_NAMES[key] ?? "env"} or flywheel.yaml): ${issue?.message ?? "invalid"}`,
    );
  }
  const cfg = parsed.data;
  return { ...cfg, dataDir: resolve(cwd, cfg.dataDir) };
}

/** The metadata store URI the config selects: explicit, or SQLite inside the data directory. */
export function metadataUriOf(cfg: FlywheelConfig): string {
  return cfg.metadataUri ?? `sqlite:///${join(cfg.dataDir, "flywheel.db")}`;
}

/** The artifact store URI the config selects: explicit, or a directory inside the data directory. */
export function artifactsUriOf(cfg: FlywheelConfig): string {
  return cfg.artifactsUri ?? pathToFileURL(join(cfg.dataDir, "artifacts")).href;
}

/** The online feature store URI the config selects: explicit, or SQLite inside the data directory. */
export function onlineStoreUriOf(cfg: FlywheelConfig): string {
  return cfg.onlineStoreUri ?? `sqlite:///${join(cfg.dataDir, "online.db")}`;
}

/** The folder offline feature pushes are appended to. */
export function offlineDirOf(cfg: FlywheelConfig): string {
  return cfg.offlineDir ?? join(cfg.dataDir, "offline");
}
