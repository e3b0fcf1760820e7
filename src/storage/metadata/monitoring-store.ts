/**
 * The MonitoringStore port: monitor definitions, their runs, the time series each run writes
 * (one point per check, metric, series and window, the latest computation winning), the events
 * they raise (alerts, pipeline triggers) and the reference documents built once per model version.
 *
 * A monitor's definition is stored as JSON text; the monitoring service validates it. Scheduling
 * state (`nextRunTime`) is claimed with a compare-and-set, so several server processes sharing one
 * database run each due monitor once.
 */

export type MonitorRunStatus = "ok" | "alert" | "error";

export interface MonitorRecord {
  name: string;
  /** The validated definition, as JSON text. */
  spec: string;
  createdTime: number;
  updatedTime: number;
  /** When the scheduler runs it next (epoch ms), or null when it only runs on request. */
  nextRunTime: number | null;
  lastRunTime: number | null;
  lastStatus: MonitorRunStatus | null;
}

export interface MonitorRunRecord {
  id: number;
  monitor: string;
  /** "schedule" or "request". */
  trigger: string;
  startedTime: number;
  finishedTime: number;
  /** The newest window the run covered, [windowStart, windowEnd). */
  windowStart: number;
  windowEnd: number;
  model: string;
  version: string;
  status: MonitorRunStatus;
  /** The run's full result, as JSON text. */
  result: string;
}

/** One value of a time series: `metric` of `check` (for `series`, e.g. a column) in one window. */
export interface MonitorPoint {
  monitor: string;
  check: string;
  metric: string;
  /** A column name, a class, or "" for a whole-window value. */
  series: string;
  windowStart: number;
  windowEnd: number;
  /** Finite values only (undefined results are not stored). */
  value: number;
  /** The rows the value was computed on (e.g. labelled rows), when it matters. */
  count: number | null;
  runId: number;
  computedTime: number;
}

export interface MonitorEventRecord {
  id: number;
  monitor: string;
  runId: number | null;
  /** "alert" or "pipeline_trigger". */
  kind: string;
  time: number;
  /** The event body as JSON text. */
  payload: string;
  /** How delivery went (webhooks, stream), as JSON text; updated after the attempts finish. */
  delivery: string;
}

export interface MonitorReferenceRecord {
  model: string;
  version: string;
  /** Identifies the reference source and the options it was built with. */
  fingerprint: string;
  /** Where the reference document is stored in the artifact store. */
  artifactKey: string;
  rows: number;
  createdTime: number;
}

export interface PointQuery {
  check?: string | undefined;
  metric?: string | undefined;
  series?: string | undefined;
  /** Windows starting at or after this time. */
  since?: number | undefined;
  /** Windows starting before this time. */
  until?: number | undefined;
  limit: number;
}

export interface MonitoringStore {
  /** Throws FW_MONITOR_EXISTS when the name is taken. */
  createMonitor(record: MonitorRecord): Promise<void>;
  getMonitor(name: string): Promise<MonitorRecord | undefined>;
  /** Every monitor, by name. */
  listMonitors(): Promise<MonitorRecord[]>;
  /** Replaces the definition and the schedule; false when there is no such monitor. */
  updateMonitor(name: string, spec: string, nextRunTime: number | null, now: number): Promise<boolean>;
  /** Deletes the monitor with its runs, points and events; false when there was none. */
  deleteMonitor(name: string): Promise<boolean>;

  /** Names of monitors whose next run is due at `now`, most overdue first. */
  dueMonitors(now: number, limit: number): Promise<string[]>;
  /**
   * Moves a monitor's next run from `expected` to `next`; false when another process moved it
   * first (so only one process runs a due monitor).
   */
  claimRun(name: string, expected: number, next: number): Promise<boolean>;

  /** Stores a finished run (and the monitor's last-run fields); returns the run id. */
  addRun(run: Omit<MonitorRunRecord, "id">): Promise<number>;
  /** Runs newest first. */
  runs(monitor: string, limit: number, before?: number): Promise<MonitorRunRecord[]>;
  getRun(monitor: string, id: number): Promise<MonitorRunRecord | undefined>;

  /** Writes points; a point for the same (monitor, check, metric, series, window start) is replaced. */
  upsertPoints(points: readonly MonitorPoint[]): Promise<void>;
  /** Points oldest window first (then check, metric, series). */
  points(monitor: string, query: PointQuery): Promise<MonitorPoint[]>;

  addEvent(event: Omit<MonitorEventRecord, "id">): Promise<number>;
  setEventDelivery(id: number, delivery: string): Promise<void>;
  /** Events newest first. */
  events(monitor: string, limit: number): Promise<MonitorEventRecord[]>;

  getReference(model: string, version: string, fingerprint: string): Promise<MonitorReferenceRecord | undefined>;
  /** Stores a reference record; an existing one for the same key is replaced. */
  putReference(record: MonitorReferenceRecord): Promise<void>;
}
