/**
 * The tracking SDK for training code: start a run, log metrics/params/tags (buffered and sent
 * with runs/log-batch in the background), upload artifacts through the artifact proxy, end.
 *
 *   const tracking = createTracking({ trackingUri: "http://127.0.0.1:5000" });
 *   const run = await tracking.startRun({ experiment: "churn" });
 *   run.logParam("lr", 0.1);
 *   run.logMetric("auc", 0.91, { step: 1 });
 *   await run.end();
 */
import { execFile } from "node:child_process";
import { userInfo } from "node:os";
import { ActiveRun, type TerminalStatus } from "./active-run.js";
import { FlywheelApiError, isNotFound } from "./errors.js";
import { FlywheelClient } from "./http-client.js";
import type { WireExperiment } from "./wire-types.js";

export { ActiveRun, artifactProxyPrefix } from "./active-run.js";
export type { LoggedModel, MetricOptions, ParamValue, TerminalStatus } from "./active-run.js";

export const DEFAULT_TRACKING_URI = "http://127.0.0.1:5000";

/** The tracking URI to use: the explicit one, else FLYWHEEL_TRACKING_URI, else MLFLOW_TRACKING_URI. */
export function resolveTrackingUri(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  for (const candidate of [explicit, env.FLYWHEEL_TRACKING_URI, env.MLFLOW_TRACKING_URI]) {
    if (candidate !== undefined && candidate.trim() !== "") return candidate.trim();
  }
  return DEFAULT_TRACKING_URI;
}

export interface TrackingOptions {
  /** Server root; default FLYWHEEL_TRACKING_URI, MLFLOW_TRACKING_URI, or http://127.0.0.1:5000. */
  trackingUri?: string;
  /** Extra HTTP headers (e.g. Authorization) sent with every request. */
  headers?: Record<string, string>;
  /** Timeout of each API request in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** How often buffered metrics/params/tags are sent, in milliseconds (default 2000; 0: only on flush). */
  flushIntervalMs?: number;
  /** End runs still open when the process is about to exit normally, as FINISHED (default true). */
  endRunsOnExit?: boolean;
  /** Use this client instead of building one from trackingUri/headers/timeoutMs. */
  client?: FlywheelClient;
}

export interface StartRunOptions {
  /** Experiment name; the experiment is created when it does not exist. */
  experiment: string;
  runName?: string;
  tags?: Record<string, string>;
  /** Epoch milliseconds; default now. */
  startTime?: number;
}

const DEFAULT_FLUSH_INTERVAL_MS = 2000;

function currentUser(): string {
  try {
    const name = userInfo().username;
    if (name !== "") return name;
  } catch {
    // No passwd entry (e.g. a container running as an arbitrary uid): fall back to the env.
  }
  return process.env.USER ?? process.env.USERNAME ?? "unknown";
}

/** The commit checked out in `cwd`, or undefined when it is not a git checkout / git is missing. */
export function gitCommit(cwd: string = process.cwd()): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("git", ["rev-parse", "HEAD"], { cwd, timeout: 5000, windowsHide: true }, (err, stdout) => {
      const sha = err === null ? String(stdout).trim() : "";
      resolve(/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha) ? sha : undefined);
    });
  });
}

export class Tracking {
  readonly client: FlywheelClient;
  private readonly flushIntervalMs: number;
  private readonly endRunsOnExit: boolean;
  private readonly experiments = new Map<string, Promise<WireExperiment>>();
  private readonly active = new Set<ActiveRun>();
  private exitHookInstalled = false;

  constructor(opts: TrackingOptions = {}) {
    this.client =
      opts.client ??
      new FlywheelClient({
        baseUrl: resolveTrackingUri(opts.trackingUri),
        ...(opts.headers === undefined ? {} : { headers: opts.headers }),
        ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      });
    this.flushIntervalMs = opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.endRunsOnExit = opts.endRunsOnExit ?? true;
  }

  /** Runs started by this object and not yet ended. */
  get activeRuns(): readonly ActiveRun[] {
    return [...this.active];
  }

  private readonly onBeforeExit = (): void => {
    for (const run of this.active) {
      run.end("FINISHED").catch((e: unknown) => {
        process.emitWarning(
          `flywheel: could not end run ${run.runId} at exit: ${e instanceof Error ? e.message : String(e)}`,
        );
      });
    }
  };

  private async fetchOrCreateExperiment(name: string): Promise<WireExperiment> {
    const byName = async (): Promise<WireExperiment> => (await this.client.experiments.getByName(name)).experiment;
    let experiment: WireExperiment;
    try {
      experiment = await byName();
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        const { experiment_id } = await this.client.experiments.create({ name });
        experiment = (await this.client.experiments.get(experiment_id)).experiment;
      } catch (err) {
        // Someone else created it between our read and our create: read theirs.
        if (!(err instanceof FlywheelApiError && err.errorCode === "RESOURCE_ALREADY_EXISTS")) throw err;
        experiment = await byName();
      }
    }
    if (experiment.lifecycle_stage === "deleted") {
      throw new Error(
        `Experiment '${name}' (id ${experiment.experiment_id}) is deleted: restore it with ` +
          `'flywheel experiments restore ${experiment.experiment_id}' or use another name`,
      );
    }
    return experiment;
  }

  /** The experiment with this name, created when it does not exist (cached per name). */
  getOrCreateExperiment(name: string): Promise<WireExperiment> {
    if (typeof name !== "string" || name.trim() === "") {
      return Promise.reject(new TypeError("The experiment name must be a non-empty string"));
    }
    let pending = this.experiments.get(name);
    if (pending === undefined) {
      pending = this.fetchOrCreateExperiment(name);
      this.experiments.set(name, pending);
      pending.catch(() => this.experiments.delete(name));
    }
    return pending;
  }

  /** Creates a run in the named experiment (created if needed) and returns it for logging. */
  async startRun(opts: StartRunOptions): Promise<ActiveRun> {
    const [experiment, commit] = await Promise.all([this.getOrCreateExperiment(opts.experiment), gitCommit()]);
    const user = currentUser();
    const tags: Record<string, string> = {
      "mlflow.user": user,
      "mlflow.source.name": process.argv[1] ?? process.argv0,
      "mlflow.source.type": "LOCAL",
    };
    if (commit !== undefined) tags["mlflow.source.git.commit"] = commit;
    Object.assign(tags, opts.tags);
    const { run } = await this.client.runs.create({
      experiment_id: experiment.experiment_id,
      user_id: user,
      start_time: opts.startTime ?? Date.now(),
      ...(opts.runName === undefined ? {} : { run_name: opts.runName }),
      tags: Object.entries(tags).map(([key, value]) => ({ key, value: String(value) })),
    });
    const active = new ActiveRun(this.client, run.info, this.flushIntervalMs, (r) => this.forget(r));
    this.active.add(active);
    if (this.endRunsOnExit && !this.exitHookInstalled) {
      process.on("beforeExit", this.onBeforeExit);
      this.exitHookInstalled = true;
    }
    return active;
  }

  /**
   * Starts a run, calls `fn` with it, and ends it: FINISHED when `fn` resolves, FAILED when it
   * throws (the error is rethrown). Returns what `fn` returns.
   */
  async withRun<T>(opts: StartRunOptions, fn: (run: ActiveRun) => Promise<T> | T): Promise<T> {
    const run = await this.startRun(opts);
    let result: T;
    try {
      result = await fn(run);
    } catch (e) {
      await run.end("FAILED").catch(() => undefined);
      throw e;
    }
    await run.end("FINISHED");
    return result;
  }

  /** Ends every run still open (default status FINISHED). */
  async endAll(status: TerminalStatus = "FINISHED"): Promise<void> {
    const results = await Promise.allSettled([...this.active].map((r) => r.end(status)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  private forget(run: ActiveRun): void {
    this.active.delete(run);
    if (this.active.size === 0 && this.exitHookInstalled) {
      process.off("beforeExit", this.onBeforeExit);
      this.exitHookInstalled = false;
    }
  }
}

export function createTracking(opts: TrackingOptions = {}): Tracking {
  return new Tracking(opts);
}
