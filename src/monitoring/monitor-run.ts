/**
 * One run of a monitor: resolve the model reference to a version, load (or build once) that
 * version's reference, evaluate every requested window of the inference log, and compute the
 * performance of earlier windows again so that labels which arrived since replace their values.
 */
import type { LineageService } from "../registry/lineage-service.js";
import type { RegistryService } from "../registry/registry-service.js";
import type { InferenceLogReader } from "../serving/inference-log/reader.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import type { ColumnKind } from "./dataset.js";
import { evaluateWindow, failures, performanceCheck, referenceView, type CheckStatus, type WindowResult } from "./evaluate.js";
import { monitorModelRef, windowMs, type CheckName, type MonitorSpec } from "./monitor-spec.js";
import type { Metrics } from "./performance.js";
import { loadOrBuildReference, type MonitorReference } from "./reference.js";
import { loadWindow } from "./window-data.js";
import { windowsEndingAt, type TimeWindow } from "./window.js";

export const DEFAULT_BACKFILL_WINDOWS = 24;

export interface RunDeps {
  metadata: MetadataStore;
  artifacts: ArtifactStore;
  registry: RegistryService;
  lineage: LineageService;
  reader: InferenceLogReader;
  now(): number;
}

/** Performance of an earlier window, computed again for late labels. */
export interface BackfillResult {
  readonly start: number;
  readonly end: number;
  readonly rows: number;
  readonly labelled: number;
  readonly status: CheckStatus;
  readonly metrics: Metrics;
}

export interface RunOutcome {
  readonly model: string;
  readonly version: string;
  readonly reference: { readonly uri: string; readonly from: string; readonly rows: number; readonly built: boolean; readonly notes: string[] };
  readonly windows: WindowResult[];
  readonly backfill: BackfillResult[];
  readonly failed: { start: number; end: number; check: CheckName; summary: string }[];
}

/** The version a monitor's model reference names now. */
export async function resolveVersion(registry: RegistryService, spec: MonitorSpec) {
  return registry.resolve(monitorModelRef(spec.model));
}

export interface ResolvedReference {
  readonly version: Awaited<ReturnType<typeof resolveVersion>>;
  readonly reference: MonitorReference;
  readonly built: boolean;
}

export async function resolveReference(deps: RunDeps, spec: MonitorSpec): Promise<ResolvedReference> {
  const version = await resolveVersion(deps.registry, spec);
  const { reference, built } = await loadOrBuildReference({ metadata: deps.metadata, artifacts: deps.artifacts, lineage: deps.lineage, now: deps.now, packages: deps.registry }, spec, version);
  return { version, reference, built };
}

/** The windows a run covers: `count` windows of the monitor's length, the newest ending at `end`. */
export function runWindows(spec: MonitorSpec, end: number, count: number): TimeWindow[] {
  return windowsEndingAt(end, windowMs(spec), count);
}

/** Evaluates `windows` (oldest first) and backfills performance for the windows before them. */
export async function executeRun(deps: RunDeps, spec: MonitorSpec, windows: TimeWindow[], options: { histograms?: boolean } = {}): Promise<RunOutcome & { resolved: ResolvedReference }> {
  const resolved = await resolveReference(deps, spec);
  const { version, reference } = resolved;
  const view = referenceView(reference);
  const kinds = new Map<string, ColumnKind>(view.plan.map((c) => [c.name, c.kind]));
  const needsColumns = spec.checks.drift !== undefined || spec.checks.quality !== undefined;
  const base = { model: version.name, version: spec.allVersions === true ? undefined : version.version, columns: view.logColumns, kinds };
  const results: WindowResult[] = [];
  for (const window of windows) {
    const data = await loadWindow(deps.reader, { ...base, window }, { features: needsColumns });
    results.push(evaluateWindow(spec, reference, view, data, { histograms: options.histograms === true }));
  }
  const backfill: BackfillResult[] = [];
  const perf = spec.checks.performance;
  const first = windows[0];
  if (perf !== undefined && first !== undefined) {
    const count = perf.backfillWindows ?? DEFAULT_BACKFILL_WINDOWS;
    for (const window of windowsEndingAt(first.start, windowMs(spec), count)) {
      const data = await loadWindow(deps.reader, { ...base, window }, { features: false });
      if (data.rows === 0) continue;
      const p = performanceCheck(perf, spec, reference, data.outputs);
      backfill.push({ start: window.start, end: window.end, rows: data.rows, labelled: p.labelled, status: p.status, metrics: p.metrics });
    }
  }
  return {
    model: version.name,
    version: version.version,
    reference: { uri: reference.source.uri, from: reference.source.from, rows: reference.rows, built: resolved.built, notes: reference.notes },
    windows: results,
    backfill,
    failed: results.flatMap((r) => failures(r).map((f) => ({ start: r.start, end: r.end, ...f }))),
    resolved,
  };
}
