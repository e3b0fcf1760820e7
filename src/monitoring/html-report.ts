/**
 * The drift report as one self-contained HTML page: a summary, the drift table, and for each
 * column an inline SVG chart of reference against current shares per bin or category. It embeds
 * only the binned summaries the report already holds — never rows — so it stays a few kilobytes
 * per column however large the data, and it has no scripts, fonts or external resources.
 */
import type { ColumnDrift, ColumnHistogram, DriftReport } from "./drift.js";

export interface HtmlReportOptions {
  readonly title?: string;
  /** How to name the two sides, e.g. the file names. */
  readonly referenceName?: string;
  readonly currentName?: string;
  /** ISO time shown in the header (default: now). */
  readonly generatedAt?: string;
}

export const REF_COLOUR = "#4c78a8";
export const CUR_COLOUR = "#f58518";

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

export function fmt(v: number | undefined): string {
  if (v === undefined) return "";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-4 || a >= 1e6) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

export function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

function verdict(c: ColumnDrift): string {
  if (c.status !== "ok") return `<span class="na">${esc(c.status.replace(/_/g, " "))}</span>`;
  return c.drifted ? '<span class="bad">drift</span>' : '<span class="good">no drift</span>';
}

/** An inline SVG bar chart of reference against current shares per bin or category. */
export function chart(h: ColumnHistogram): string {
  const W = 640;
  const H = 200;
  const left = 44;
  const bottom = 46;
  const top = 10;
  const plotW = W - left - 10;
  const plotH = H - top - bottom;
  const n = h.labels.length;
  const max = Math.max(1e-12, ...h.reference, ...h.current);
  const group = plotW / n;
  const bar = Math.max(1, (group * 0.8) / 2);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#999"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#999"/>`);
  parts.push(`<text x="${left - 4}" y="${top + 8}" text-anchor="end" class="ax">${pct(max)}</text>`);
  parts.push(`<text x="${left - 4}" y="${top + plotH}" text-anchor="end" class="ax">0</text>`);
  for (let i = 0; i < n; i++) {
    const x0 = left + i * group + group * 0.1;
    const r = h.reference[i] as number;
    const c = h.current[i] as number;
    const label = esc(h.labels[i] as string);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${y(r).toFixed(1)}" width="${bar.toFixed(1)}" height="${(top + plotH - y(r)).toFixed(1)}" fill="${REF_COLOUR}"><title>${label}: reference ${pct(r)}</title></rect>`,
      `<rect x="${(x0 + bar).toFixed(1)}" y="${y(c).toFixed(1)}" width="${bar.toFixed(1)}" height="${(top + plotH - y(c)).toFixed(1)}" fill="${CUR_COLOUR}"><title>${label}: current ${pct(c)}</title></rect>`,
    );
  }
  if (h.edges !== undefined) {
    const e = h.edges;
    const last = e.length - 1;
    for (const i of [0, Math.floor(last / 2), last]) {
      const x = left + i * group;
      const anchor = i === 0 ? "start" : i === last ? "end" : "middle";
      parts.push(`<text x="${x.toFixed(1)}" y="${top + plotH + 14}" text-anchor="${anchor}" class="ax">${esc(fmt(e[i] as number))}</text>`);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = left + (i + 0.5) * group;
      const raw = h.labels[i] as string;
      const text = raw.length > 14 ? `${raw.slice(0, 13)}…` : raw;
      parts.push(
        `<text x="${x.toFixed(1)}" y="${top + plotH + 12}" text-anchor="end" transform="rotate(-35 ${x.toFixed(1)} ${top + plotH + 12})" class="ax">${esc(text)}</text>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${parts.join("")}</svg>`;
}

function scoreCells(c: ColumnDrift): string {
  const r = c.result;
  if (r === undefined) return "<td></td><td></td><td></td><td></td>";
  const kind = r.pvalue !== undefined ? "p-value" : "distance";
  const approx = r.approximate ? ' <span class="na" title="computed from a sketched reference profile">≈</span>' : "";
  return `<td>${esc(r.test)}${r.method === undefined ? "" : ` <span class="na">(${esc(r.method)})</span>`}</td><td class="num">${fmt(r.statistic)}</td><td class="num">${kind}: ${fmt(r.score)}${approx}</td><td class="num">${fmt(r.threshold)}</td>`;
}

function missingCell(c: ColumnDrift): string {
  const ref = pct(c.reference.missingShare);
  if (c.current === undefined) return `<td class="num">${ref}</td>`;
  const change = c.missingShareChange ?? 0;
  const sign = change > 0 ? "+" : change < 0 ? "−" : "±";
  return `<td class="num">${ref} → ${pct(c.current.missingShare)} <span class="na">(${sign}${pct(Math.abs(change))})</span></td>`;
}

/** The page's stylesheet, shared by every report page. */
export const REPORT_STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin-top:28px}h3{font-size:15px;margin:22px 0 6px}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{border-bottom:1px solid #ddd;padding:5px 8px;text-align:left}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b30000;font-weight:600}.good{color:#1b7a1b;font-weight:600}.na{color:#777;font-weight:normal}
.ax{font-size:10px;fill:#555}.legend span{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 4px 0 12px}
section{border-top:1px solid #eee}`;

/** The dataset verdict as one line of HTML. */
export function driftHeadline(report: DriftReport): string {
  const d = report.dataset;
  return d.drift
    ? `<span class="bad">Dataset drift</span>: ${d.drifted} of ${d.tested} tested columns drifted (${pct(d.share)} ≥ ${pct(d.driftShareThreshold)})`
    : `<span class="good">No dataset drift</span>: ${d.drifted} of ${d.tested} tested columns drifted (${pct(d.share)} &lt; ${pct(d.driftShareThreshold)})`;
}

/** The drift table, and under "Distributions" one chart section per column. */
export function driftSectionsHtml(report: DriftReport): string {
  const rows = report.columns
    .map(
      (c) =>
        `<tr><td><a href="#col-${encodeURIComponent(c.column)}">${esc(c.column)}</a></td><td>${c.role}</td><td>${c.kind}</td>${scoreCells(c)}<td>${verdict(c)}</td>${missingCell(c)}</tr>`,
    )
    .join("\n");
  const sections = report.columns
    .map((c) => {
      const note = c.reason === undefined ? "" : `<p class="na">${esc(c.reason)}</p>`;
      const extra =
        c.extra.length === 0
          ? ""
          : `<p class="na">Also: ${c.extra.map((t) => `${esc(t.test)} ${t.pvalue !== undefined ? "p" : "d"} = ${fmt(t.score)}${t.drifted ? " (drift)" : ""}`).join("; ")}</p>`;
      const svg = c.histogram === undefined ? "" : chart(c.histogram);
      return `<section id="col-${encodeURIComponent(c.column)}"><h3>${esc(c.column)} ${verdict(c)}</h3>${note}${extra}${svg}</section>`;
    })
    .join("\n");
  return `<h2>Drift by column</h2>
<table>
<thead><tr><th>column</th><th>role</th><th>type</th><th>test</th><th class="num">statistic</th><th class="num">score</th><th class="num">threshold</th><th>verdict</th><th class="num">missing (ref → cur)</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<h2>Distributions</h2>
<p class="legend"><span style="background:${REF_COLOUR}"></span>reference<span style="background:${CUR_COLOUR}"></span>current (share of each side's values per bin)</p>
${sections}`;
}

/** Renders a drift report as a self-contained HTML page. */
export function renderDriftHtml(report: DriftReport, options: HtmlReportOptions = {}): string {
  const title = options.title ?? "Data drift report";
  const skipped =
    report.skipped.length === 0
      ? ""
      : `<p class="na">Skipped: ${report.skipped.map((s) => `${esc(s.column)} (${esc(s.reason)})`).join(", ")}</p>`;
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
<p class="na">Reference: ${esc(options.referenceName ?? "reference")} (${report.referenceRows.toLocaleString("en-US")} rows) · Current: ${esc(options.currentName ?? "current")} (${report.currentRows.toLocaleString("en-US")} rows) · ${esc(options.generatedAt ?? new Date().toISOString())}</p>
<p>${driftHeadline(report)}</p>
${skipped}
${driftSectionsHtml(report)}
</body>
</html>
`;
}
