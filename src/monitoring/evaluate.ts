/**
 * One window of the inference log against a monitor's reference: each configured check's verdict
 * (pass, fail, or skipped with the reason), what it measured, and the time-series points a run
 * stores. Nothing here reads files or stores anything.
 */
import type { PlannedColumn } from "./column-mapping.js";
import { conform } from "./conform.js";
import { estimateCbpe, type CbpeEstimate } from "./cbpe.js";
import type { PreparedColumn } from "./dataset.js";
import { driftReport, prepareDataset, type ColumnDrift, type DriftReport } from "./drift.js";
import type { CheckName, MonitorSpec } from "./monitor-spec.js";
import { classificationMetrics, judgeMetrics, regressionMetrics, type MetricVerdict, type Metrics } from "./performance.js";
import { profileColumns } from "./profile.js";
import { qualityReport, type QualityReport, type SourceKind } from "./quality.js";
import type { MonitorReference } from "./reference.js";
import { inputColumn, probaColumn, type WindowData, type WindowOutputs } from "./window-data.js";
import type { TimeWindow } from "./window.js";

export type CheckStatus = "pass" | "fail" | "skipped";

interface CheckBase {
  readonly status: CheckStatus;
  /** One line for people: what was found, or why the check was skipped. */
  readonly summary: string;
}

export interface DriftCheck extends CheckBase {
  readonly share?: number;
  readonly drifted?: string[];
  readonly report?: DriftReport;
}

export interface QualityCheck extends CheckBase {
  readonly report?: QualityReport;
}

export interface PerformanceCheck extends CheckBase {
  readonly task?: "classification" | "regression";
  readonly labelled: number;
  readonly metrics: Metrics;
  readonly baseline?: Metrics;
  readonly verdicts: MetricVerdict[];
}

export interface CbpeCheck extends CheckBase {
  readonly estimate?: CbpeEstimate;
  /** Accuracy and ROC AUC on the window's labelled rows, when there are any. */
  readonly realized?: { readonly labelled: number; readonly accuracy?: number; readonly roc_auc?: number };
}

export interface WindowChecks {
  drift?: DriftCheck;
  quality?: QualityCheck;
  performance?: PerformanceCheck;
  cbpe?: CbpeCheck;
}

export interface WindowResult {
  readonly start: number;
  readonly end: number;
  readonly rows: number;
  readonly labelled: number;
  readonly versions: Record<string, number>;
  readonly checks: WindowChecks;
}

/** A value of a time series before it is stored. */
export interface SeriesPoint {
  readonly check: CheckName | "window";
  readonly metric: string;
  readonly series: string;
  readonly value: number;
  readonly count: number | null;
}

/** The reference columns as the drift engine compares them, and which log column feeds each. */
export interface ReferenceView {
  readonly plan: PlannedColumn[];
  readonly columns: Map<string, PreparedColumn>;
  readonly sources: Map<string, SourceKind>;
  /** Log column → reference column. */
  readonly logColumns: Map<string, string>;
}

export function referenceView(ref: MonitorReference): ReferenceView {
  const { plan, columns } = profileColumns(ref.profile);
  const logColumns = new Map<string, string>();
  for (const c of plan) {
    if (c.role === "feature") logColumns.set(inputColumn(c.name), c.name);
    else if (c.name === ref.prediction) logColumns.set("prediction", c.name);
    else if (c.name === ref.probability && ref.positiveClass !== undefined) logColumns.set(probaColumn(ref.positiveClass), c.name);
  }
  return { plan: plan.filter((c) => c.role === "feature" || [...logColumns.values()].includes(c.name)), columns, sources: new Map(Object.entries(ref.sources)), logColumns };
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const fmt = (v: number) => String(Number(v.toPrecision(4)));

function driftCheck(spec: NonNullable<MonitorSpec["checks"]["drift"]>, view: ReferenceView, ref: MonitorReference, cur: Map<string, PreparedColumn>, rows: number): DriftCheck {
  if (rows === 0) return { status: "skipped", summary: "no rows in the window" };
  const { failOn: _failOn, ...options } = spec;
  const report = driftReport(view.plan, view.columns, cur, options, { reference: ref.rows, current: rows }, ref.profile.skipped);
  const drifted = report.columns.filter((c) => c.drifted).map((c) => c.column);
  const fail = spec.failOn === "column" ? drifted.length > 0 : report.dataset.drift;
  const d = report.dataset;
  return {
    status: fail ? "fail" : "pass",
    summary: `${d.drifted} of ${d.tested} columns drifted (${pct(d.share)}${spec.failOn === "column" ? "" : `; dataset drift at ${pct(d.driftShareThreshold)}`})${drifted.length > 0 ? `: ${drifted.join(", ")}` : ""}`,
    share: d.share,
    drifted,
    report,
  };
}

function qualityCheck(spec: NonNullable<MonitorSpec["checks"]["quality"]>, view: ReferenceView, ref: MonitorReference, data: WindowData, cur: Map<string, PreparedColumn>): QualityCheck {
  const report = qualityReport(view.plan, view.columns, cur, { reference: view.sources, current: data.sources }, { reference: ref.rows, current: data.rows }, spec);
  if (data.rows === 0 && !report.failed) return { status: "skipped", summary: "no rows in the window", report };
  return { status: report.failed ? "fail" : "pass", summary: report.failed ? report.issues.slice(0, 5).join("; ") + (report.issues.length > 5 ? `; … (${report.issues.length} issues)` : "") : `${data.rows} rows, no issues`, report };
}

/** Realized metrics of a window's labelled rows. */
export function realizedMetrics(out: WindowOutputs, task: "classification" | "regression", positiveClass: string | number | boolean | undefined): { labelled: number; metrics: Metrics } {
  if (task === "regression") return regressionMetrics(out.labelValue, out.predictionValue);
  const idx: number[] = [];
  for (let i = 0; i < out.rows; i++) if (out.label[i] !== null && out.prediction[i] !== null) idx.push(i);
  const probs = out.probabilities;
  const r = classificationMetrics(
    {
      labels: idx.map((i) => out.label[i] as string),
      predictions: idx.map((i) => out.prediction[i] as string),
      ...(probs === undefined ? {} : { probabilities: { classes: probs.classes, values: probs.values.map((v) => Float64Array.from(idx, (i) => v[i] as number)) } }),
    },
    positiveClass,
  );
  return { labelled: r.labelled, metrics: r.metrics };
}

/** The task of a monitor: as configured, as the reference says, or from what the log holds. */
export function taskOf(spec: MonitorSpec, ref: MonitorReference | undefined, out: WindowOutputs): "classification" | "regression" {
  return spec.checks.performance?.task ?? ref?.task ?? (out.probabilities !== undefined || out.predictionKind !== "numerical" ? "classification" : "regression");
}

export function performanceCheck(spec: NonNullable<MonitorSpec["checks"]["performance"]>, monitor: MonitorSpec, ref: MonitorReference | undefined, out: WindowOutputs): PerformanceCheck {
  const task = taskOf(monitor, ref, out);
  if (out.predictionKind === "absent") return { status: "skipped", summary: "the log has no predictions for this model", labelled: 0, metrics: {}, verdicts: [] };
  const { labelled, metrics } = realizedMetrics(out, task, spec.positiveClass ?? ref?.positiveClass);
  const baseline = spec.baseline ?? ref?.baseline;
  const min = spec.minLabelled ?? 30;
  const shown = Object.entries(metrics)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(", ");
  if (labelled < min) return { status: "skipped", summary: `${labelled} labelled rows, fewer than minLabelled ${min}${shown === "" ? "" : ` (${shown})`}`, task, labelled, metrics, ...(baseline === undefined ? {} : { baseline }), verdicts: [] };
  if (baseline === undefined) return { status: "pass", summary: `${labelled} labelled rows: ${shown}; no baseline to judge against`, task, labelled, metrics, verdicts: [] };
  const verdicts = judgeMetrics(metrics, baseline, spec);
  const worse = verdicts.filter((v) => v.drifted);
  return {
    status: worse.length > 0 ? "fail" : "pass",
    summary:
      worse.length > 0
        ? `concept drift on ${labelled} labelled rows: ${worse.map((v) => `${v.metric} ${fmt(v.value)} vs baseline ${fmt(v.baseline)} (margin ${fmt(v.margin)})`).join(", ")}`
        : `${labelled} labelled rows: ${shown}; within the margins of the baseline`,
    task,
    labelled,
    metrics,
    baseline,
    verdicts,
  };
}

function cbpeCheck(monitor: MonitorSpec, ref: MonitorReference, out: WindowOutputs): CbpeCheck {
  const model = ref.cbpe;
  if (model === undefined) return { status: "skipped", summary: ref.notes.find((n) => n.includes("CBPE")) ?? "no CBPE model for this reference" };
  const positive = ref.positiveClass as string;
  const k = out.probabilities?.classes.indexOf(positive) ?? -1;
  if (out.probabilities === undefined || k < 0) return { status: "skipped", summary: `the log has no probability of class '${positive}' (proba.${positive})` };
  const proba = out.probabilities.values[k] as Float64Array;
  const pred = out.predictionKind === "absent" ? undefined : Float64Array.from(out.prediction, (p) => (p === positive ? 1 : 0));
  const estimate = estimateCbpe(model, proba, pred);
  if (estimate === undefined) return { status: "skipped", summary: "no rows with a probability in the window" };
  const realized = realizedMetrics(out, "classification", positive);
  const alerts = [estimate.accuracy, estimate.roc_auc].filter((e) => e?.alert === true).length;
  const band = (e: { value: number; lower: number; upper: number }) => `${fmt(e.value)} [${fmt(e.lower)}, ${fmt(e.upper)}]`;
  const auc = estimate.roc_auc === undefined ? "" : `, ROC AUC ${band(estimate.roc_auc)}`;
  return {
    status: alerts > 0 ? "fail" : "pass",
    summary: `estimated accuracy ${band(estimate.accuracy)}${auc} on ${estimate.rows} rows${alerts > 0 ? `; below the reference thresholds (accuracy ≥ ${fmt(model.thresholds.accuracy.lower ?? 0)})` : ""}`,
    estimate,
    ...(realized.labelled === 0
      ? {}
      : { realized: { labelled: realized.labelled, ...(realized.metrics.accuracy === undefined ? {} : { accuracy: realized.metrics.accuracy }), ...(realized.metrics.roc_auc === undefined ? {} : { roc_auc: realized.metrics.roc_auc }) } }),
  };
}

/** Every configured check on one window. `histograms` keeps the drift report's binned distributions (for reports). */
export function evaluateWindow(monitor: MonitorSpec, ref: MonitorReference, view: ReferenceView, data: WindowData, options: { histograms: boolean }): WindowResult {
  const checks: WindowChecks = {};
  const needsColumns = monitor.checks.drift !== undefined || monitor.checks.quality !== undefined;
  const cur = needsColumns ? prepareDataset(conform(data.dataset, view.plan)) : new Map<string, PreparedColumn>();
  if (monitor.checks.drift !== undefined) {
    const d = driftCheck(monitor.checks.drift, view, ref, cur, data.rows);
    checks.drift = options.histograms || d.report === undefined ? d : { ...d, report: { ...d.report, columns: d.report.columns.map(({ histogram: _h, ...c }) => c as ColumnDrift) } };
  }
  if (monitor.checks.quality !== undefined) checks.quality = qualityCheck(monitor.checks.quality, view, ref, data, cur);
  if (monitor.checks.performance !== undefined) checks.performance = performanceCheck(monitor.checks.performance, monitor, ref, data.outputs);
  if (monitor.checks.cbpe !== undefined) checks.cbpe = cbpeCheck(monitor, ref, data.outputs);
  return { start: data.window.start, end: data.window.end, rows: data.rows, labelled: data.outputs.labelled, versions: data.outputs.versions, checks };
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** The time-series points of a window's results. */
export function seriesPoints(r: WindowResult): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  const add = (check: SeriesPoint["check"], metric: string, series: string, value: number | undefined, count: number | null = null) => {
    if (finite(value)) out.push({ check, metric, series, value, count });
  };
  add("window", "rows", "", r.rows, r.rows);
  add("window", "labelled_rows", "", r.labelled, r.labelled);
  const { drift, quality, performance, cbpe } = r.checks;
  if (drift?.report !== undefined) {
    add("drift", "share", "", drift.report.dataset.share, r.rows);
    add("drift", "drifted_columns", "", drift.report.dataset.drifted, r.rows);
    for (const c of drift.report.columns) {
      if (c.status !== "ok" || c.result === undefined) continue;
      add("drift", "score", c.column, c.result.score, c.current?.used ?? null);
      add("drift", "drifted", c.column, c.drifted ? 1 : 0, c.current?.used ?? null);
    }
  }
  if (quality?.report !== undefined && r.rows > 0) {
    add("quality", "issues", "", quality.report.issues.length, r.rows);
    for (const c of quality.report.columns) {
      add("quality", "missing_share", c.column, c.missingShare, c.rows);
      if (c.outOfRange !== undefined) add("quality", "out_of_range_share", c.column, c.outOfRange.share, c.rows);
      if (c.newCategories !== undefined) add("quality", "new_category_share", c.column, c.newCategories.share, c.rows);
    }
  }
  if (performance !== undefined) {
    add("performance", "labelled_rows", "", performance.labelled, performance.labelled);
    for (const [m, v] of Object.entries(performance.metrics)) add("performance", m, "", v, performance.labelled);
  }
  if (cbpe?.estimate !== undefined) {
    const e = cbpe.estimate;
    for (const [name, est] of [["accuracy", e.accuracy], ["roc_auc", e.roc_auc]] as const) {
      if (est === undefined) continue;
      add("cbpe", `estimated_${name}`, "", est.value, e.rows);
      add("cbpe", `estimated_${name}_lower`, "", est.lower, e.rows);
      add("cbpe", `estimated_${name}_upper`, "", est.upper, e.rows);
    }
    if (cbpe.realized !== undefined) {
      add("cbpe", "realized_accuracy", "", cbpe.realized.accuracy, cbpe.realized.labelled);
      add("cbpe", "realized_roc_auc", "", cbpe.realized.roc_auc, cbpe.realized.labelled);
    }
  }
  return out;
}

/** The failing checks of a window, as alert entries. */
export function failures(r: WindowResult): { check: CheckName; summary: string }[] {
  return (Object.entries(r.checks) as [CheckName, { status: CheckStatus; summary: string }][]).filter(([, c]) => c.status === "fail").map(([check, c]) => ({ check, summary: c.summary }));
}

export function windowOf(r: WindowResult): TimeWindow {
  return { start: r.start, end: r.end };
}
