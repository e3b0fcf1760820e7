/**
 * A monitoring report for a model over a span of its inference log: the drift table with each
 * column's binned reference-vs-current distribution, the data-quality summary, and performance
 * over time (realized from labels, and CBPE's estimate with its band) in steps. It holds binned
 * summaries and per-step numbers only, never rows, so it stays small however much traffic it
 * covers; report-html.ts renders it as one self-contained page.
 */
import { FlywheelError } from "../core/errors.js";
import type { Bounds } from "./cbpe.js";
import type { DriftReport } from "./drift.js";
import { evaluateWindow, referenceView, type CheckStatus } from "./evaluate.js";
import { resolveReference, type RunDeps } from "./monitor-run.js";
import { parseMonitorSpec, type MonitorSpec } from "./monitor-spec.js";
import type { Metrics } from "./performance.js";
import type { QualityReport } from "./quality.js";
import { loadWindow } from "./window-data.js";
import { formatDuration, windowsEndingAt } from "./window.js";

export const REPORT_FORMAT = "flywheel.monitor-report/v1";
/** Most steps a report's performance series may have. */
export const MAX_REPORT_STEPS = 500;

export interface ReportRequest {
  /** `name`, `name@alias`, `name/<version>` … */
  model: string;
  /** Span covered, ms. */
  window: number;
  /** Length of each performance step, ms (default: an hour up to two days, else a day). */
  step?: number | undefined;
  /** The span ends here (default: the end of the current step). */
  until?: number | undefined;
  /** A monitor's settings (reference columns, check options) to report with. */
  monitor?: MonitorSpec | undefined;
  reference?: MonitorSpec["reference"];
  now: number;
}

export interface StepEstimate {
  readonly value: number;
  readonly lower: number;
  readonly upper: number;
  readonly alert: boolean;
}

export interface MonitorReport {
  readonly format: typeof REPORT_FORMAT;
  readonly model: string;
  readonly version: string;
  readonly modelRef: string;
  readonly generatedAt: string;
  readonly window: { readonly start: number; readonly end: number };
  readonly step: number;
  readonly reference: { readonly uri: string; readonly from: string; readonly rows: number; readonly notes: string[] };
  readonly rows: number;
  readonly labelled: number;
  readonly checks: { readonly check: string; readonly status: CheckStatus; readonly summary: string }[];
  readonly drift?: DriftReport;
  readonly quality?: QualityReport;
  readonly baseline?: Metrics;
  readonly performance: { readonly start: number; readonly end: number; readonly rows: number; readonly labelled: number; readonly metrics: Metrics }[];
  readonly cbpe: { readonly start: number; readonly end: number; readonly rows: number; readonly accuracy?: StepEstimate; readonly roc_auc?: StepEstimate; readonly realized?: Metrics }[];
  readonly cbpeThresholds?: { readonly accuracy: Bounds; readonly roc_auc: Bounds };
}

/** An hour for spans up to two days, else a day. */
export function defaultStep(window: number): number {
  return window <= 2 * 86_400_000 ? 3_600_000 : 86_400_000;
}

function reportSpec(req: ReportRequest): MonitorSpec {
  if (req.monitor !== undefined) return { ...req.monitor, model: req.model, ...(req.reference === undefined ? {} : { reference: { ...req.monitor.reference, ...req.reference } }) };
  return parseMonitorSpec({
    name: "report",
    model: req.model,
    window: formatDuration(req.window).replace(/ms$/, "s"),
    ...(req.reference === undefined ? {} : { reference: req.reference }),
    checks: { drift: {}, quality: {}, performance: {}, ...(req.reference?.probability === undefined ? {} : { cbpe: {} }) },
  });
}

const stepEstimate = (e: { value: number; lower: number; upper: number; alert: boolean } | undefined): StepEstimate | undefined =>
  e === undefined ? undefined : { value: e.value, lower: e.lower, upper: e.upper, alert: e.alert };

/** Builds the report: one pass over the whole span for drift and quality, one per step for performance. */
export async function buildReport(deps: RunDeps, req: ReportRequest): Promise<MonitorReport> {
  const step = req.step ?? defaultStep(req.window);
  const steps = Math.ceil(req.window / step);
  if (steps > MAX_REPORT_STEPS) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for 'step': ${formatDuration(step)} makes ${steps} steps over ${formatDuration(req.window)}; at most ${MAX_REPORT_STEPS}`, {
      details: { field: "step" },
    });
  }
  const spec = reportSpec(req);
  const { version, reference } = await resolveReference(deps, spec);
  const view = referenceView(reference);
  const end = req.until ?? Math.ceil(req.now / step) * step;
  const span = { start: end - req.window, end };
  const kinds = new Map(view.plan.map((c) => [c.name, c.kind] as const));
  const base = { model: version.name, version: spec.allVersions === true ? undefined : version.version, columns: view.logColumns, kinds };
  const whole = await loadWindow(deps.reader, { ...base, window: span }, { features: true });
  const overall = evaluateWindow({ ...spec, checks: { ...spec.checks, ...(spec.checks.drift === undefined ? { drift: {} } : {}), ...(spec.checks.quality === undefined ? { quality: {} } : {}) } }, reference, view, whole, {
    histograms: true,
  });
  const performance: MonitorReport["performance"][number][] = [];
  const cbpe: MonitorReport["cbpe"][number][] = [];
  const perSpec: MonitorSpec = { ...spec, checks: { performance: { ...(spec.checks.performance ?? {}), minLabelled: 1 }, ...(reference.cbpe === undefined ? {} : { cbpe: spec.checks.cbpe ?? {} }) } };
  for (const w of windowsEndingAt(end, step, steps)) {
    const data = await loadWindow(deps.reader, { ...base, window: { start: Math.max(w.start, span.start), end: w.end } }, { features: false });
    const r = evaluateWindow(perSpec, reference, view, data, { histograms: false });
    const p = r.checks.performance;
    performance.push({ start: w.start, end: w.end, rows: data.rows, labelled: p?.labelled ?? 0, metrics: p?.metrics ?? {} });
    const e = r.checks.cbpe?.estimate;
    if (e !== undefined) {
      const realized = r.checks.cbpe?.realized;
      const acc = stepEstimate(e.accuracy);
      const auc = stepEstimate(e.roc_auc);
      cbpe.push({
        start: w.start,
        end: w.end,
        rows: e.rows,
        ...(acc === undefined ? {} : { accuracy: acc }),
        ...(auc === undefined ? {} : { roc_auc: auc }),
        ...(realized === undefined ? {} : { realized: { ...(realized.accuracy === undefined ? {} : { accuracy: realized.accuracy }), ...(realized.roc_auc === undefined ? {} : { roc_auc: realized.roc_auc }) } }),
      });
    }
  }
  const checks = Object.entries(overall.checks).map(([check, c]) => ({ check, status: (c as { status: CheckStatus }).status, summary: (c as { summary: string }).summary }));
  const baseline = spec.checks.performance?.baseline ?? reference.baseline;
  return {
    format: REPORT_FORMAT,
    model: version.name,
    version: version.version,
    modelRef: req.model,
    generatedAt: new Date(req.now).toISOString(),
    window: span,
    step,
    reference: { uri: reference.source.uri, from: reference.source.from, rows: reference.rows, notes: reference.notes },
    rows: whole.rows,
    labelled: whole.outputs.labelled,
    checks,
    ...(overall.checks.drift?.report === undefined ? {} : { drift: overall.checks.drift.report }),
    ...(overall.checks.quality?.report === undefined ? {} : { quality: overall.checks.quality.report }),
    ...(baseline === undefined ? {} : { baseline }),
    performance,
    cbpe,
    ...(reference.cbpe === undefined ? {} : { cbpeThresholds: reference.cbpe.thresholds }),
  };
}
