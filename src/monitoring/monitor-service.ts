/**
 * Monitors as a service: definitions stored in the metadata store, runs on request or on the
 * server's timer (see scheduler.ts), results kept as time series, and alerts delivered to
 * webhooks and the stream bus when a check fails. A monitor that names a pipeline records (and
 * publishes) a pipeline trigger when it fires; no pipeline runner exists yet to start it.
 *
 * Runs of one monitor never overlap in this process; across processes the scheduler's
 * compare-and-set claim makes each due run happen once.
 */
import { systemClock, type Clock } from "../core/clock.js";
import { FlywheelError, isFlywheelError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { LineageService } from "../registry/lineage-service.js";
import type { RegistryService } from "../registry/registry-service.js";
import { InferenceLogReader } from "../serving/inference-log/reader.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import type { MonitorPoint, MonitorRecord, MonitorRunRecord, MonitorRunStatus } from "../storage/metadata/monitoring-store.js";
import type { StreamBus } from "../storage/stream/stream-bus.js";
import { DEFAULT_DELIVERY, type DeliveryPolicy, type FetchLike } from "./alerts.js";
import { seriesPoints } from "./evaluate.js";
import { executeRun, runWindows, type RunDeps, type RunOutcome } from "./monitor-run.js";
import { Notifier } from "./notifier.js";
import { parseMonitorSpec, scheduleMs, windowMs, type MonitorSpec } from "./monitor-spec.js";
import { buildReport, type MonitorReport, type ReportRequest } from "./report.js";
import { lastCompleteWindow } from "./window.js";

/** How often the scheduler looks for due monitors, by default. */
export const DEFAULT_TICK_MS = 30_000;
/** Most windows one run may cover. */
export const MAX_RUN_WINDOWS = 168;

export interface MonitorServiceDeps {
  metadata: MetadataStore;
  artifacts: ArtifactStore;
  registry: RegistryService;
  lineage: LineageService;
  /** The data directory holding the inference log (`<dataDir>/inference-log`, `<dataDir>/labels`). */
  dataDir: string;
  /** The feature-store project, which names the stream subjects. */
  project: string;
  /** The stream bus alerts are published on, when one is configured (read at delivery time). */
  bus?: () => StreamBus | undefined;
  clock?: Clock;
  logger?: Logger;
  delivery?: Partial<DeliveryPolicy>;
  fetch?: FetchLike;
}

export interface MonitorView {
  name: string;
  spec: MonitorSpec;
  created_time: number;
  updated_time: number;
  next_run_time: number | null;
  last_run_time: number | null;
  last_status: MonitorRunStatus | null;
}

export interface RunView {
  run_id: number;
  monitor: string;
  trigger: string;
  status: MonitorRunStatus;
  started_time: number;
  finished_time: number;
  window: { start: number; end: number };
  model: string;
  version: string;
  /** The run's result: windows, backfill and failures, or the error. */
  result: unknown;
  events: { id: number; kind: string }[];
}

export interface RunRequest {
  /** The newest window ends here (default: the end of the last complete window). */
  until?: number | undefined;
  /** Windows to evaluate, the newest last (default 1). */
  windows?: number | undefined;
  trigger?: "request" | "schedule";
}

export interface HistoryQuery {
  since?: number | undefined;
  until?: number | undefined;
  check?: string | undefined;
  metric?: string | undefined;
  series?: string | undefined;
  limit?: number | undefined;
  runs?: number | undefined;
}

function notFound(name: string): FlywheelError {
  return new FlywheelError("FW_MONITOR_NOT_FOUND", `Monitor '${name}' not found`);
}

/** The next time at or after `now` that is a multiple of `every` (strictly after, when `after`). */
export function nextBoundary(now: number, every: number, after = false): number {
  const t = Math.ceil(now / every) * every;
  return after && t <= now ? t + every : t;
}

export class MonitorService {
  private readonly clock: Clock;
  private readonly reader: InferenceLogReader;
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly notifier: Notifier;
  private timer: ReturnType<typeof setInterval> | undefined;
  private tick: Promise<void> | undefined;

  constructor(private readonly deps: MonitorServiceDeps) {
    this.clock = deps.clock ?? systemClock;
    this.reader = new InferenceLogReader(deps.dataDir);
    this.notifier = new Notifier({
      store: deps.metadata.monitoring,
      clock: this.clock,
      project: deps.project,
      policy: { ...DEFAULT_DELIVERY, ...(deps.delivery ?? {}) },
      ...(deps.bus === undefined ? {} : { bus: deps.bus }),
      ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
      ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    });
  }

  private get store() {
    return this.deps.metadata.monitoring;
  }

  private runDeps(): RunDeps {
    return { metadata: this.deps.metadata, artifacts: this.deps.artifacts, registry: this.deps.registry, lineage: this.deps.lineage, reader: this.reader, now: () => this.clock.now() };
  }

  private view(r: MonitorRecord): MonitorView {
    return {
      name: r.name,
      spec: JSON.parse(r.spec) as MonitorSpec,
      created_time: r.createdTime,
      updated_time: r.updatedTime,
      next_run_time: r.nextRunTime,
      last_run_time: r.lastRunTime,
      last_status: r.lastStatus,
    };
  }

  async create(raw: unknown): Promise<MonitorView> {
    const spec = parseMonitorSpec(raw);
    const now = this.clock.now();
    const every = scheduleMs(spec);
    const record: MonitorRecord = {
      name: spec.name,
      spec: JSON.stringify(spec),
      createdTime: now,
      updatedTime: now,
      nextRunTime: every === undefined ? null : nextBoundary(now, every, true),
      lastRunTime: null,
      lastStatus: null,
    };
    await this.store.createMonitor(record);
    return this.view(record);
  }

  async list(): Promise<MonitorView[]> {
    return (await this.store.listMonitors()).map((r) => this.view(r));
  }

  async get(name: string): Promise<MonitorView> {
    const r = await this.store.getMonitor(name);
    if (r === undefined) throw notFound(name);
    return this.view(r);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.store.deleteMonitor(name))) throw notFound(name);
  }

  /** Runs a monitor now (one run at a time per monitor) and stores the run, its points and its events. */
  async run(name: string, req: RunRequest = {}): Promise<RunView> {
    const previous = this.running.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.runNow(name, req));
    this.running.set(name, next);
    try {
      return await next;
    } finally {
      if (this.running.get(name) === next) this.running.delete(name);
    }
  }

  private async runNow(name: string, req: RunRequest): Promise<RunView> {
    const { spec } = await this.get(name);
    const count = req.windows ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_RUN_WINDOWS) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for 'windows': must be an integer from 1 to ${MAX_RUN_WINDOWS}`, { details: { field: "windows" } });
    }
    const started = this.clock.now();
    const end = req.until ?? lastCompleteWindow(started, windowMs(spec)).end;
    const windows = runWindows(spec, end, count);
    const last = windows[windows.length - 1] as { start: number; end: number };
    let outcome: RunOutcome | undefined;
    let error: { code: string; message: string } | undefined;
    try {
      const { resolved: _resolved, ...rest } = await executeRun(this.runDeps(), spec, windows);
      outcome = rest;
    } catch (e) {
      // A bad request about the run itself is the caller's to see; anything else is a failed run, recorded.
      if (isFlywheelError(e) && e.code === "FW_REQUEST_INVALID_FIELD") throw e;
      error = { code: isFlywheelError(e) ? e.code : "FW_INTERNAL", message: (e as Error).message };
      this.deps.logger?.warn({ err: e, monitor: name }, "monitor run failed");
    }
    const status: MonitorRunStatus = outcome === undefined ? "error" : outcome.failed.length > 0 ? "alert" : "ok";
    const result = outcome ?? { error };
    const finished = this.clock.now();
    const runId = await this.store.addRun({
      monitor: name,
      trigger: req.trigger ?? "request",
      startedTime: started,
      finishedTime: finished,
      windowStart: last.start,
      windowEnd: last.end,
      model: outcome?.model ?? "",
      version: outcome?.version ?? "",
      status,
      result: JSON.stringify(result),
    });
    if (outcome !== undefined) await this.store.upsertPoints(this.points(name, runId, outcome, finished));
    const events = outcome !== undefined && status === "alert" ? await this.notifier.raise(spec, runId, outcome) : [];
    return {
      run_id: runId,
      monitor: name,
      trigger: req.trigger ?? "request",
      status,
      started_time: started,
      finished_time: finished,
      window: { start: last.start, end: last.end },
      model: outcome?.model ?? "",
      version: outcome?.version ?? "",
      result,
      events,
    };
  }

  private points(monitor: string, runId: number, outcome: RunOutcome, now: number): MonitorPoint[] {
    const out: MonitorPoint[] = [];
    for (const w of outcome.windows) {
      for (const p of seriesPoints(w)) out.push({ monitor, ...p, windowStart: w.start, windowEnd: w.end, runId, computedTime: now });
    }
    for (const b of outcome.backfill) {
      const base = { monitor, check: "performance", series: "", windowStart: b.start, windowEnd: b.end, runId, computedTime: now };
      out.push({ ...base, metric: "labelled_rows", value: b.labelled, count: b.labelled });
      for (const [metric, value] of Object.entries(b.metrics)) if (Number.isFinite(value)) out.push({ ...base, metric, value, count: b.labelled });
    }
    return out;
  }

  /** Resolves once every alert delivery started so far has finished (all attempts made). */
  settled(): Promise<void> {
    return this.notifier.settled();
  }

  async history(name: string, q: HistoryQuery = {}) {
    await this.get(name);
    const limit = q.limit ?? 10_000;
    const [runs, points, events] = await Promise.all([
      this.store.runs(name, q.runs ?? 20),
      this.store.points(name, { check: q.check, metric: q.metric, series: q.series, since: q.since, until: q.until, limit }),
      this.store.events(name, q.runs ?? 20),
    ]);
    const series = new Map<string, { check: string; metric: string; series: string; points: { window_start: number; window_end: number; value: number; count: number | null; run_id: number }[] }>();
    for (const p of points) {
      const key = `${p.check}\u0000${p.metric}\u0000${p.series}`;
      let s = series.get(key);
      if (s === undefined) series.set(key, (s = { check: p.check, metric: p.metric, series: p.series, points: [] }));
      s.points.push({ window_start: p.windowStart, window_end: p.windowEnd, value: p.value, count: p.count, run_id: p.runId });
    }
    return {
      monitor: name,
      runs: runs.map((r) => runSummary(r)),
      series: [...series.values()],
      events: events.map((e) => ({ id: e.id, run_id: e.runId, kind: e.kind, time: e.time, payload: JSON.parse(e.payload) as unknown, delivery: JSON.parse(e.delivery) as unknown })),
    };
  }

  /** A one-off report over the log (binned summaries only). */
  report(req: Omit<ReportRequest, "now">): Promise<MonitorReport> {
    return buildReport(this.runDeps(), { ...req, now: this.clock.now() });
  }

  /**
   * Starts the in-process scheduler: every `tickMs` (30 s by default) the monitors whose next run
   * is due are claimed and run one after another. A monitor with `schedule: "1h"` is due at each
   * whole hour (UTC) and examines the last complete window then.
   */
  startScheduler(tickMs = DEFAULT_TICK_MS): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      if (this.tick !== undefined) return;
      this.tick = this.runDue()
        .catch((e: unknown) => this.deps.logger?.warn({ err: e }, "monitor scheduler tick failed"))
        .then(() => {
          this.tick = undefined;
        });
    }, tickMs);
    this.timer.unref();
  }

  /** Stops the scheduler, waits for the run in progress and for alert deliveries. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.tick;
    await Promise.allSettled([...this.running.values()]);
    await this.settled();
  }

  /** Runs the monitors that are due; returns how many ran. Used by the scheduler. */
  async runDue(limit = 10): Promise<number> {
    const now = this.clock.now();
    let ran = 0;
    for (const name of await this.store.dueMonitors(now, limit)) {
      const rec = await this.store.getMonitor(name);
      if (rec?.nextRunTime === null || rec?.nextRunTime === undefined) continue;
      const every = scheduleMs(JSON.parse(rec.spec) as MonitorSpec);
      if (every === undefined) continue;
      if (!(await this.store.claimRun(name, rec.nextRunTime, nextBoundary(now, every, true)))) continue;
      try {
        await this.run(name, { trigger: "schedule" });
        ran++;
      } catch (e) {
        this.deps.logger?.warn({ err: e, monitor: name }, "scheduled monitor run failed");
      }
    }
    return ran;
  }
}

export function runSummary(r: MonitorRunRecord) {
  const result = JSON.parse(r.result) as Partial<RunOutcome> & { error?: { code: string; message: string } };
  return {
    run_id: r.id,
    trigger: r.trigger,
    status: r.status,
    started_time: r.startedTime,
    finished_time: r.finishedTime,
    window: { start: r.windowStart, end: r.windowEnd },
    model: r.model,
    version: r.version,
    failed: result.failed ?? [],
    ...(result.error === undefined ? {} : { error: result.error }),
  };
}
