/**
 * The monitoring report as one self-contained HTML page (no scripts, fonts or external resources;
 * inline SVG charts): the checks' verdicts, the drift table with per-column reference-vs-current
 * distributions (html-report.ts), the data-quality summary, and performance over time — realized
 * metrics from labels against the reference baseline, and CBPE's estimated accuracy and ROC AUC
 * with their sampling-error band. Only the report's binned summaries are embedded.
 */
import { CUR_COLOUR, REF_COLOUR, REPORT_STYLE, driftHeadline, driftSectionsHtml, esc, fmt, pct } from "./html-report.js";
import { lowerIsBetter, type PerformanceMetric } from "./performance.js";
import type { MonitorReport } from "./report.js";
import { formatDuration } from "./window.js";

const BAND_COLOUR = "#f5851833";
const COLOURS = ["#4c78a8", "#e45756", "#54a24b", "#b279a2", "#eeca3b", "#72b7b2"];

interface Line {
  readonly name: string;
  readonly colour: string;
  /** One value per step; undefined where there is none. */
  readonly values: (number | undefined)[];
  readonly dashed?: boolean;
}

interface LineChart {
  readonly steps: { start: number; end: number }[];
  readonly lines: Line[];
  readonly band?: { lower: (number | undefined)[]; upper: (number | undefined)[] };
  readonly baselines?: { name: string; value: number; colour: string }[];
  readonly thresholds?: { lower: number | null; upper: number | null };
}

function timeLabel(t: number): string {
  return new Date(t).toISOString().slice(5, 16).replace("T", " ");
}

/** An inline SVG line chart over the report's steps (x: step midpoints; y: the values' range). */
export function lineChartSvg(c: LineChart): string {
  const W = 760;
  const H = 220;
  const left = 48;
  const right = 12;
  const top = 12;
  const bottom = 34;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const n = c.steps.length;
  const all: number[] = [];
  for (const l of c.lines) for (const v of l.values) if (v !== undefined && Number.isFinite(v)) all.push(v);
  for (const v of [...(c.band?.lower ?? []), ...(c.band?.upper ?? [])]) if (v !== undefined && Number.isFinite(v)) all.push(v);
  for (const b of c.baselines ?? []) all.push(b.value);
  for (const t of [c.thresholds?.lower, c.thresholds?.upper]) if (t !== undefined && t !== null) all.push(t);
  let lo = all.length === 0 ? 0 : Math.min(...all);
  let hi = all.length === 0 ? 1 : Math.max(...all);
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (i: number) => left + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const y = (v: number) => top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const parts: string[] = [];
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ddd"/>`);
  for (const v of [lo + pad, (lo + hi) / 2, hi - pad]) {
    parts.push(`<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${left + plotW}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 4}" y="${(y(v) + 3).toFixed(1)}" text-anchor="end" class="ax">${esc(fmt(v))}</text>`);
  }
  if (c.band !== undefined) {
    const upper: string[] = [];
    const lower: string[] = [];
    c.band.upper.forEach((u, i) => {
      const l = c.band?.lower[i];
      if (u !== undefined && l !== undefined) {
        upper.push(`${x(i).toFixed(1)},${y(u).toFixed(1)}`);
        lower.unshift(`${x(i).toFixed(1)},${y(l).toFixed(1)}`);
      }
    });
    if (upper.length > 0) parts.push(`<polygon points="${[...upper, ...lower].join(" ")}" fill="${BAND_COLOUR}" stroke="none"><title>sampling-error band (±3σ)</title></polygon>`);
  }
  for (const t of [c.thresholds?.lower, c.thresholds?.upper]) {
    if (t === undefined || t === null) continue;
    parts.push(`<line x1="${left}" y1="${y(t).toFixed(1)}" x2="${left + plotW}" y2="${y(t).toFixed(1)}" stroke="#b30000" stroke-dasharray="2 3"><title>alert threshold ${fmt(t)}</title></line>`);
  }
  for (const b of c.baselines ?? []) {
    parts.push(`<line x1="${left}" y1="${y(b.value).toFixed(1)}" x2="${left + plotW}" y2="${y(b.value).toFixed(1)}" stroke="${b.colour}" stroke-dasharray="6 4" opacity="0.7"><title>${esc(b.name)} ${fmt(b.value)}</title></line>`);
  }
  for (const l of c.lines) {
    let path = "";
    let pen = false;
    l.values.forEach((v, i) => {
      if (v === undefined || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      path += `${pen ? "L" : "M"}${x(i).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
    });
    if (path !== "") parts.push(`<path d="${path.trim()}" fill="none" stroke="${l.colour}" stroke-width="2"${l.dashed === true ? ' stroke-dasharray="4 3"' : ""}/>`);
    l.values.forEach((v, i) => {
      if (v === undefined || !Number.isFinite(v)) return;
      const step = c.steps[i] as { start: number };
      parts.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${l.colour}"><title>${esc(l.name)} ${timeLabel(step.start)}: ${fmt(v)}</title></circle>`);
    });
  }
  const ticks = n <= 1 ? [0] : [0, Math.floor((n - 1) / 2), n - 1];
  for (const i of [...new Set(ticks)]) {
    const step = c.steps[i];
    if (step === undefined) continue;
    const anchor = n <= 1 ? "middle" : i === 0 ? "start" : i === n - 1 ? "end" : "middle";
    parts.push(`<text x="${x(i).toFixed(1)}" y="${top + plotH + 16}" text-anchor="${anchor}" class="ax">${esc(timeLabel(step.start))}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" class="series">${parts.join("")}</svg>`;
}

function legend(lines: { name: string; colour: string }[]): string {
  return `<p class="legend">${lines.map((l) => `<span style="background:${l.colour}"></span>${esc(l.name)}`).join("")}</p>`;
}

function statusCell(status: string): string {
  const cls = status === "fail" ? "bad" : status === "pass" ? "good" : "na";
  return `<span class="${cls}">${esc(status)}</span>`;
}

function qualityHtml(r: MonitorReport): string {
  const q = r.quality;
  if (q === undefined) return "";
  const rows = q.columns
    .map((c) => {
      const range = c.outOfRange === undefined ? "" : `${pct(c.outOfRange.share)} <span class="na">(${c.outOfRange.bounds} ${fmt(c.outOfRange.lower)} … ${fmt(c.outOfRange.upper)})</span>`;
      const fresh = c.newCategories === undefined ? "" : `${pct(c.newCategories.share)}${c.newCategories.values.length > 0 ? ` <span class="na">(${esc(c.newCategories.values.slice(0, 3).join(", "))})</span>` : ""}`;
      const issues = c.issues.length === 0 ? '<span class="good">ok</span>' : `<span class="bad">${esc(c.issues.join("; "))}</span>`;
      return `<tr><td>${esc(c.column)}</td><td>${c.kind}</td><td class="num">${pct(c.referenceMissingShare)} → ${pct(c.missingShare)}</td><td class="num">${range}</td><td class="num">${fresh}</td><td>${c.constant ? "yes" : ""}</td><td>${c.typeChanged ? esc(`${c.referenceSource} → ${c.currentSource}`) : ""}</td><td>${issues}</td></tr>`;
    })
    .join("\n");
  return `<h2>Data quality</h2>
<p>${q.rows.toLocaleString("en-US")} rows in the window (reference ${q.referenceRows.toLocaleString("en-US")}); ${q.issues.length === 0 ? '<span class="good">no issues</span>' : `<span class="bad">${q.issues.length} issue${q.issues.length === 1 ? "" : "s"}</span>`}</p>
<table>
<thead><tr><th>column</th><th>type</th><th class="num">missing (ref → cur)</th><th class="num">out of range</th><th class="num">new categories</th><th>constant</th><th>type change</th><th>issues</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}

function performanceHtml(r: MonitorReport): string {
  const steps = r.performance.map((p) => ({ start: p.start, end: p.end }));
  const present = new Set<PerformanceMetric>();
  for (const p of r.performance) for (const k of Object.keys(p.metrics)) present.add(k as PerformanceMetric);
  const parts: string[] = [`<h2>Performance over time</h2>`, `<p class="na">Steps of ${esc(formatDuration(r.step))}; labelled rows per step: ${r.performance.map((p) => p.labelled).join(", ")}</p>`];
  const better = [...present].filter((m) => !lowerIsBetter(m));
  const worse = [...present].filter((m) => lowerIsBetter(m));
  for (const group of [better, worse]) {
    if (group.length === 0) continue;
    const lines = group.map((m, i) => ({ name: m, colour: COLOURS[i % COLOURS.length] as string, values: r.performance.map((p) => p.metrics[m]) }));
    const baselines = group.flatMap((m, i) => (r.baseline?.[m] === undefined ? [] : [{ name: `${m} baseline`, value: r.baseline[m] as number, colour: COLOURS[i % COLOURS.length] as string }]));
    parts.push(`<h3>Realized (from labels)${group === worse ? ": errors and losses" : ""}</h3>`, legend(lines), lineChartSvg({ steps, lines, baselines }));
  }
  if (present.size === 0) parts.push(`<p class="na">No labelled rows in this span: no realized performance.</p>`);
  if (r.cbpe.length > 0) {
    const cSteps = r.cbpe.map((c) => ({ start: c.start, end: c.end }));
    for (const key of ["accuracy", "roc_auc"] as const) {
      if (!r.cbpe.some((c) => c[key] !== undefined)) continue;
      const lines: Line[] = [
        { name: `estimated ${key} (CBPE)`, colour: CUR_COLOUR, values: r.cbpe.map((c) => c[key]?.value) },
        { name: `realized ${key}`, colour: REF_COLOUR, values: r.cbpe.map((c) => c.realized?.[key]), dashed: true },
      ];
      const band = { lower: r.cbpe.map((c) => c[key]?.lower), upper: r.cbpe.map((c) => c[key]?.upper) };
      const alerts = r.cbpe.filter((c) => c[key]?.alert === true).length;
      parts.push(
        `<h3>Estimated ${key === "roc_auc" ? "ROC AUC" : "accuracy"} without labels (CBPE)${alerts > 0 ? ` <span class="bad">${alerts} step${alerts === 1 ? "" : "s"} outside the thresholds</span>` : ""}</h3>`,
        legend([...lines, { name: "±3σ band", colour: BAND_COLOUR }, { name: "alert thresholds", colour: "#b30000" }]),
        lineChartSvg({ steps: cSteps, lines, band, ...(r.cbpeThresholds === undefined ? {} : { thresholds: r.cbpeThresholds[key] }) }),
      );
    }
  }
  return parts.join("\n");
}

/** Renders a monitoring report as a self-contained HTML page. */
export function renderMonitorReportHtml(r: MonitorReport, options: { title?: string } = {}): string {
  const title = options.title ?? `Monitoring report: ${r.model} version ${r.version}`;
  const checks = r.checks.map((c) => `<tr><td>${esc(c.check)}</td><td>${statusCell(c.status)}</td><td>${esc(c.summary)}</td></tr>`).join("\n");
  const notes = r.reference.notes.length === 0 ? "" : `<p class="na">${r.reference.notes.map(esc).join("<br>")}</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
${REPORT_STYLE}
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="na">${esc(r.modelRef)} · ${esc(new Date(r.window.start).toISOString())} – ${esc(new Date(r.window.end).toISOString())} · ${r.rows.toLocaleString("en-US")} rows, ${r.labelled.toLocaleString("en-US")} labelled · reference ${esc(r.reference.uri)} (${r.reference.rows.toLocaleString("en-US")} rows, from the ${esc(r.reference.from)}) · generated ${esc(r.generatedAt)}</p>
${notes}
<h2>Checks</h2>
<table>
<thead><tr><th>check</th><th>verdict</th><th>summary</th></tr></thead>
<tbody>
${checks}
</tbody>
</table>
${r.drift === undefined ? "" : `<p>${driftHeadline(r.drift)}</p>\n${driftSectionsHtml(r.drift)}`}
${qualityHtml(r)}
${performanceHtml(r)}
</body>
</html>
`;
}
