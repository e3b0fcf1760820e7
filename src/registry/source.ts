/**
 * Where a model version's files are: its `source` must resolve to a place inside the artifact
 * store, and inside the given run's artifacts when a run_id is given. Refuses the inputs behind
 * MLflow's CVE-2023-1177, CVE-2023-2356, CVE-2023-2780, CVE-2023-6909 and CVE-2024-3573.
 */
import { FlywheelError } from "../core/errors.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { decodeFully, safeRelativePath } from "../storage/artifacts/safe-path.js";
import type { RunInfo } from "../storage/metadata/metadata-store.js";
import { artifactKeyOfUri } from "../tracking/tracking-service.js";

export interface ResolvedSource {
  /** The artifact-store key of the package directory. */
  key: string;
  /** The run the source lies in, when it lies in one (for a logged model, the run that logged it). */
  runId: string | null;
  /** The MLflow 3 logged model the source lies in, when it lies in one. */
  loggedModelId: string | null;
}

/** What resolving needs to know of an MLflow 3 logged model. */
export interface LoggedModelLocation {
  modelId: string;
  artifactLocation: string;
  sourceRunId: string | null;
}

function invalid(source: string, why: string): FlywheelError {
  const shown = source.length > 200 ? `${source.slice(0, 200)}...` : source;
  return new FlywheelError("FW_REGISTRY_INVALID_SOURCE", `Invalid model version source '${shown}': ${why}`, { details: { field: "source" } });
}

function within(key: string, prefix: string): boolean {
  return prefix === "" || key === prefix || key.startsWith(`${prefix}/`);
}

export interface SourceContext {
  artifacts: ArtifactStore;
  getRun(runId: string): Promise<RunInfo | undefined>;
  /** An active logged model by id (for `models:/m-...` sources and `model_id`). */
  getLoggedModel?(modelId: string): Promise<LoggedModelLocation | undefined>;
}

const LOGGED_MODEL_SOURCE = /^models:\/+(m-[0-9a-f]{32})(?:\/(.*))?$/;

/**
 * Resolves a version's source to its package directory. `modelId` (MLflow 3's `model_id`) names the
 * logged model the version is made from: the source must then lie inside that model's artifacts.
 */
export async function resolveSource(source: string, runId: string | undefined, ctx: SourceContext, modelId?: string): Promise<ResolvedSource> {
  let decoded: string;
  try {
    decoded = decodeFully(source);
  } catch (e) {
    throw invalid(source, (e as Error).message);
  }
  for (const [ch, what] of [["#", "'#'"], [";", "';'"], ["\\", "a backslash"], ["\0", "a NUL byte"], ["?", "a query ('?')"]] as const) {
    if (decoded.includes(ch)) throw invalid(source, `contains ${what}`);
  }
  const run = runId === undefined || runId === "" ? undefined : await ctx.getRun(runId);
  if (runId !== undefined && runId !== "" && run === undefined) {
    throw new FlywheelError("FW_TRACKING_RUN_NOT_FOUND", `Run with id=${runId} not found`);
  }
  const runKey = run === undefined ? undefined : artifactKeyOfUri(run.artifactUri);

  let key: string;
  let sourceRun = run;
  let logged: LoggedModelLocation | undefined;
  if (decoded.startsWith("models:/")) {
    // MLflow 3 registers a logged model as models:/<model_id>.
    const m = LOGGED_MODEL_SOURCE.exec(decoded);
    if (m === null) throw invalid(source, "expected models:/<model_id> with a logged model's id (m- and 32 hex digits), or runs:/<run_id>/<path>");
    logged = await ctx.getLoggedModel?.(m[1] as string);
    if (logged === undefined) throw invalid(source, `logged model '${m[1]}' does not exist`);
    if (run !== undefined && logged.sourceRunId !== run.runId) throw invalid(source, `logged model ${logged.modelId} was not logged by run ${run.runId}`);
    key = joinSafe(source, keyOf(source, () => artifactKeyOfUri(logged?.artifactLocation ?? "")), m[2] ?? "");
    sourceRun = logged.sourceRunId === null ? undefined : await ctx.getRun(logged.sourceRunId);
  } else if (decoded.startsWith("runs:/")) {
    const m = /^runs:\/+([^/]+)(?:\/(.*))?$/.exec(decoded);
    if (m === null) throw invalid(source, "expected runs:/<run_id>/<path>");
    const named = await ctx.getRun(m[1] as string);
    if (named === undefined) throw invalid(source, `run '${m[1]}' does not exist`);
    if (run !== undefined && named.runId !== run.runId) throw invalid(source, `it names run ${named.runId} but run_id is ${run.runId}`);
    sourceRun = named;
    key = joinSafe(source, artifactKeyOfUri(named.artifactUri), m[2] ?? "");
  } else if (decoded.startsWith("mlflow-artifacts:")) {
    key = keyOf(source, () => artifactKeyOfUri(decoded));
  } else if (decoded.startsWith("file:") || decoded.startsWith("/")) {
    const local = ctx.artifacts.keyOfLocalPath;
    const path = decoded.startsWith("file:") ? decoded.replace(/^file:(\/\/[^/]*)?/, "") : decoded;
    const found = local === undefined ? undefined : local.call(ctx.artifacts, path);
    if (found === undefined) throw invalid(source, "a local path must lie inside the artifact store's root");
    key = found;
  } else {
    throw invalid(source, "expected runs:/<run_id>/<path>, mlflow-artifacts:/<path> or a file: path inside the artifact root");
  }
  if (modelId !== undefined && modelId !== "") {
    if (logged !== undefined && logged.modelId !== modelId) throw invalid(source, `it names logged model ${logged.modelId} but model_id is ${modelId}`);
    logged ??= await ctx.getLoggedModel?.(modelId);
    if (logged === undefined) {
      throw new FlywheelError("FW_TRACKING_LOGGED_MODEL_NOT_FOUND", `Logged model with ID '${modelId}' not found.`);
    }
    const root = keyOf(source, () => artifactKeyOfUri(logged?.artifactLocation ?? ""));
    if (!within(key, root)) throw invalid(source, `it is not inside the artifacts of logged model ${modelId} (${logged.artifactLocation})`);
  }
  // A logged model's files lie in its own directory, not in the run's: the run was checked above.
  if (logged === undefined && runKey !== undefined && !within(key, runKey)) {
    throw invalid(source, `it is not inside the artifacts of run ${run?.runId} (${run?.artifactUri})`);
  }
  if (key === "") throw invalid(source, "it names the artifact root itself");
  return { key, runId: sourceRun?.runId ?? null, loggedModelId: logged?.modelId ?? null };
}

function keyOf(source: string, f: () => string): string {
  try {
    return f();
  } catch (e) {
    throw invalid(source, (e as Error).message);
  }
}

function joinSafe(source: string, prefix: string, rest: string): string {
  const tail = keyOf(source, () => safeRelativePath(rest));
  return tail === "" ? prefix : prefix === "" ? tail : `${prefix}/${tail}`;
}
