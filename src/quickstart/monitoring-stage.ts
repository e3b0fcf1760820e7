/**
 * The quickstart's monitoring stage: traffic whose measurements drift (16 of the 30 features scaled
 * up, as after a change of instrument) goes to the champion through the predict API, the true
 * diagnoses arrive later as labels, a monitor compares the logged inputs with the training set,
 * and the report is written as a self-contained HTML page.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderMonitorReportHtml } from "../monitoring/report-html.js";
import type { MonitorReport } from "../monitoring/report.js";

type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: Record<string, unknown> }>;

export interface MonitoringStageInput {
  model: string;
  dataDir: string;
  featureNames: string[];
  /** Raw feature rows (row-major) and their true labels (0 malignant, 1 benign). */
  rows: number[][];
  labels: number[];
  classNames: string[];
}

/** How much the drifted measurements are scaled. */
const SHIFT = 1.4;

export async function monitoringStage(api: Api, input: MonitoringStageInput): Promise<void> {
  const { model, featureNames } = input;
  const shifted = new Set(featureNames.filter((f) => f.startsWith("mean_") || /^worst_(radius|texture|perimeter|area|smoothness|compactness)$/.test(f)));
  // Every patient once, in three requests; each response's request id is what the labels refer to.
  let sent = 0;
  let labelled = 0;
  const third = Math.ceil(input.rows.length / 3);
  for (let batch = 0; batch < 3; batch++) {
    const rows = input.rows.slice(batch * third, (batch + 1) * third);
    const truth = input.labels.slice(batch * third, (batch + 1) * third);
    const records = rows.map((row) => Object.fromEntries(featureNames.map((f, j) => [f, shifted.has(f) ? (row[j] as number) * SHIFT : row[j]])));
    const id = `quickstart-drift-${Date.now()}-${batch}`;
    const res = await api("POST", `/api/v1/predict/${model}@champion`, { records, id });
    if (res.status !== 200) throw new Error(`drifted traffic failed: ${JSON.stringify(res.json)}`);
    sent += records.length;
    const labels = truth.map((y, row) => ({ request_id: id, row, label: input.classNames[y] ?? String(y) }));
    const posted = await api("POST", "/api/v1/labels", { labels });
    if (posted.status !== 200) throw new Error(`labels failed: ${JSON.stringify(posted.json)}`);
    labelled += labels.length;
  }
  console.log("");
  console.log(`Monitoring: sent ${sent} more predictions with ${shifted.size} of ${featureNames.length} measurements scaled by ${SHIFT}, then ${labelled} late labels`);

  const monitorName = `${model}-drift`;
  // A rerun replaces the monitor an earlier run created.
  const removed = await api("DELETE", `/api/v1/monitors/${monitorName}`);
  if (removed.status !== 200 && removed.status !== 404) throw new Error(`monitor delete failed: ${JSON.stringify(removed.json)}`);
  // The training set has no model outputs: the version scores it, for the performance baseline and CBPE.
  const reference = { target: "target", score: true, ignore: ["patient_id", "event_timestamp"] };
  const created = await api("POST", "/api/v1/monitors", {
    name: monitorName,
    model: `${model}@champion`,
    window: "1h",
    reference,
    checks: { drift: {}, quality: {}, performance: { margin: 0.05 }, cbpe: {} },
  });
  if (created.status !== 200) throw new Error(`monitor create failed: ${JSON.stringify(created.json)}`);
  // The window that holds this traffic: the current hour, up to its end.
  const until = new Date(Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000).toISOString();
  const ran = await api("POST", `/api/v1/monitors/${monitorName}/run`, { until });
  if (ran.status !== 200) throw new Error(`monitor run failed: ${JSON.stringify(ran.json)}`);
  printRun(ran.json.run, shifted);

  const report = await api("POST", "/api/v1/monitoring/report", { model: `${model}@champion`, window: "1h", monitor: monitorName });
  if (report.status !== 200) throw new Error(`report failed: ${JSON.stringify(report.json)}`);
  const dir = join(input.dataDir, "reports");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "drift-report.html");
  const html = renderMonitorReportHtml(report.json.report as MonitorReport);
  writeFileSync(path, html);
  console.log(`  drift report (${(html.length / 1024).toFixed(0)} KB, binned summaries only): ${path}`);
}

interface RunJson {
  status?: string;
  result?: RunJson & { error?: { code: string; message: string } };
  error?: { code: string; message: string };
  reference?: { uri: string; rows: number };
  windows?: { rows: number; labelled: number; checks: Record<string, { status: string; summary: string; drifted?: string[] } | undefined> }[];
}

/** Prints what the run found in its last window. */
function printRun(run: unknown, shifted: Set<string>): void {
  const outer = (run ?? {}) as RunJson;
  const r = outer.result ?? outer;
  const error = r.error ?? outer.error;
  if (error !== undefined) throw new Error(`the monitor run failed: ${error.code}: ${error.message}`);
  const w = r.windows?.at(-1);
  if (w === undefined) throw new Error(`the monitor run examined no window: ${JSON.stringify(outer).slice(0, 400)}`);
  console.log(`  monitor run over ${w.rows} logged rows (${w.labelled} labelled), against the training set ${r.reference?.uri ?? "?"} (${r.reference?.rows ?? "?"} rows):`);
  for (const [name, check] of Object.entries(w.checks)) {
    if (check !== undefined) console.log(`    ${name}: ${check.status} - ${check.summary}`);
  }
  // The reference's scored prediction and probability (reference.score) are drift columns too.
  const isOutput = (c: string) => c === "prediction" || c === "probability";
  const outputs = (w.checks.drift?.drifted ?? []).filter(isOutput);
  const drifted = (w.checks.drift?.drifted ?? []).filter((c) => !isOutput(c));
  const expected = drifted.filter((c) => shifted.has(c)).length;
  console.log(
    `    drifted columns: ${expected} of the ${shifted.size} scaled ones, ${drifted.length - expected} others; model outputs drifted: ${outputs.length === 0 ? "none" : outputs.join(", ")}`,
  );
}
