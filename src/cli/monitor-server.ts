/**
 * `flywheel monitor create|list|run|history|delete|report`: monitors kept and run by the server
 * (`--tracking-uri`), and reports over a model's inference log rendered here as self-contained
 * HTML from the server's JSON.
 *
 * Exit codes: 0 when the command did what was asked (a run that found problems is still 0 — read
 * its status, or `--json`); 1 when a run could not be carried out (status "error") or the server
 * failed; 2 for bad usage (unknown option, unreadable definition file, a field the server refused).
 */
import { readFile, writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { parse as parseYaml } from "yaml";
import { FlywheelClient } from "../client/http-client.js";
import { isFlywheelApiError } from "../client/errors.js";
import { renderMonitorReportHtml } from "../monitoring/report-html.js";
import type { MonitorReport } from "../monitoring/report.js";
import { UsageError, clientFrom, collect, formatTable, formatTime, note, parsePositiveInt, printJson, printLine, runCli, withCommonOptions, type CommonFlags } from "./output.js";

/** Long enough for a run or report over many windows of a busy model. */
const LONG_TIMEOUT_MS = 600_000;
const CHECKS = ["drift", "quality", "performance", "cbpe"] as const;

function client(flags: CommonFlags): FlywheelClient {
  return new FlywheelClient({ baseUrl: clientFrom(flags).baseUrl, timeoutMs: LONG_TIMEOUT_MS, user: "" });
}

/** A field of what we sent that the server refused is a usage error (exit 2). */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isFlywheelApiError(e) && e.errorCode === "FW_REQUEST_INVALID_FIELD") throw new UsageError(e.message);
    throw e;
  }
}

function checkList(value: string): string[] {
  const names = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const n of names) if (!(CHECKS as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown check '${n}'; expected ${CHECKS.join(", ")}.`);
  if (names.length === 0) throw new InvalidArgumentError("name at least one check.");
  return names;
}

interface CreateFlags extends CommonFlags {
  file?: string;
  model?: string;
  window?: string;
  schedule?: string;
  checks?: string[];
  reference?: string;
  target?: string;
  prediction?: string;
  probability?: string;
  scoreReference?: boolean;
  webhook?: string[];
  pipeline?: string;
  driftFailOn?: "dataset" | "column";
}

async function readDefinition(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new UsageError(`${path}: cannot be read: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid ${extname(path).toLowerCase() === ".json" ? "JSON" : "YAML"}: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`${path}: a monitor definition is a mapping (name, model, window, checks …)`);
  return doc as Record<string, unknown>;
}

/** The definition from --file, with the command line's name and flags laid over it. */
export async function definitionFrom(name: string | undefined, flags: CreateFlags): Promise<Record<string, unknown>> {
  const def: Record<string, unknown> = flags.file === undefined ? {} : await readDefinition(flags.file);
  if (name !== undefined) def.name = name;
  if (flags.model !== undefined) def.model = flags.model;
  if (flags.window !== undefined) def.window = flags.window;
  if (flags.schedule !== undefined) def.schedule = flags.schedule;
  if (flags.pipeline !== undefined) def.pipeline = flags.pipeline;
  const ref = { ...((def.reference as Record<string, unknown> | undefined) ?? {}) };
  for (const [k, v] of [
    ["uri", flags.reference],
    ["target", flags.target],
    ["prediction", flags.prediction],
    ["probability", flags.probability],
  ] as const) {
    if (v !== undefined) ref[k] = v;
  }
  if (flags.scoreReference === true) ref.score = true;
  if (Object.keys(ref).length > 0) def.reference = ref;
  if (flags.checks !== undefined || def.checks === undefined) {
    const existing = (def.checks as Record<string, unknown> | undefined) ?? {};
    def.checks = Object.fromEntries((flags.checks ?? ["drift", "quality"]).map((c) => [c, existing[c] ?? {}]));
  }
  if (flags.driftFailOn !== undefined) {
    const checks = def.checks as Record<string, Record<string, unknown> | undefined>;
    checks.drift = { ...(checks.drift ?? {}), failOn: flags.driftFailOn };
  }
  if (flags.webhook !== undefined) {
    const alerts = { ...((def.alerts as Record<string, unknown> | undefined) ?? {}) };
    alerts.webhooks = flags.webhook.map((url) => ({ url }));
    def.alerts = alerts;
  }
  return def;
}

function checksOf(spec: { checks?: Record<string, unknown> }): string {
  return Object.keys(spec.checks ?? {}).join(",");
}

interface WindowOut {
  start: number;
  end: number;
  rows: number;
  labelled: number;
  checks: Record<string, { status: string; summary: string }>;
}

function printRun(run: { run_id: number; status: string; model: string; version: string; result: { windows?: WindowOut[]; error?: { message: string }; backfill?: unknown[] }; events: { kind: string }[] }): void {
  printLine(`Run ${run.run_id}: ${run.status.toUpperCase()} — ${run.model === "" ? "model not resolved" : `${run.model} version ${run.version}`}`);
  if (run.result.error !== undefined) {
    printLine(`  ${run.result.error.message}`);
    return;
  }
  for (const w of run.result.windows ?? []) {
    printLine(`${formatTime(w.start)} – ${formatTime(w.end)}  ${w.rows} rows, ${w.labelled} labelled`);
    for (const [check, c] of Object.entries(w.checks)) printLine(`  ${check.padEnd(11)} ${c.status.toUpperCase().padEnd(7)} ${c.summary}`);
  }
  const backfill = run.result.backfill?.length ?? 0;
  if (backfill > 0) printLine(`Performance of ${backfill} earlier window${backfill === 1 ? "" : "s"} computed again with the labels received so far.`);
  if (run.events.length > 0) printLine(`Raised: ${run.events.map((e) => e.kind).join(", ")}`);
}

interface HistoryFlags extends CommonFlags {
  since?: string;
  until?: string;
  check?: string;
  metric?: string;
  series?: string;
  limit?: number;
  runs?: number;
}

interface ReportFlags extends CommonFlags {
  model: string;
  window: string;
  step?: string;
  until?: string;
  monitor?: string;
  out?: string;
  reference?: string;
  target?: string;
  prediction?: string;
  probability?: string;
  scoreReference?: boolean;
}

/** Adds the server-side monitor commands to `flywheel monitor`. */
export function registerMonitorServerCommands(monitor: Command): void {
  withCommonOptions(
    monitor
      .command("create")
      .description("Create a monitor on the server: a model (name@alias, name/version), a window, a schedule, checks, thresholds, alerts")
      .argument("[name]", "the monitor's name (or `name` in --file)")
      .option("--file <path>", "a full definition (.yaml, .yml or .json); the flags below override it")
      .option("--model <ref>", "the model: name, name@alias, name/<version>, name/<stage> or a models:/ URI")
      .option("--window <duration>", "the window each run examines, e.g. 1h")
      .option("--schedule <duration>", "run on the server every interval, e.g. 1h (default: only when asked)")
      .option("--checks <list>", `checks to run, of ${CHECKS.join(", ")} (default: drift,quality)`, checkList)
      .option("--reference <uri>", "reference data (default: the model version's training dataset)")
      .option("--target <column>", "the reference's label column")
      .option("--prediction <column>", "the reference's predicted-label (or value) column")
      .option("--probability <column>", "the reference's positive-class probability column (binary classifiers)")
      .option("--score-reference", "have the model version score the reference for its predictions and probabilities (a training set has none); instead of --prediction/--probability")
      .option("--webhook <url>", "POST alerts here (repeatable)", collect)
      .option("--pipeline <name>", "a pipeline to trigger when the monitor fires")
      .addOption(new Option("--drift-fail-on <what>", "fail the drift check on dataset drift (default) or on any drifted column").choices(["dataset", "column"])),
  ).action(
    runCli(async (name: string | undefined, flags: CreateFlags) => {
      const def = await definitionFrom(name, flags);
      const res = await call(() => client(flags).request("POST", "/api/v1/monitors", { body: def }));
      if (flags.json === true) return printJson(res);
      const m = res.monitor as { name: string; next_run_time: number | null };
      printLine(`Created monitor '${m.name}'${m.next_run_time === null ? " (runs on request: flywheel monitor run)" : `; first scheduled run ${formatTime(m.next_run_time)}`}`);
    }),
  );

  withCommonOptions(monitor.command("list").description("List the server's monitors with their last run")).action(
    runCli(async (flags: CommonFlags) => {
      const res = await client(flags).request("GET", "/api/v1/monitors");
      if (flags.json === true) return printJson(res);
      const monitors = res.monitors as { name: string; spec: { model: string; window: string; schedule?: string; checks: Record<string, unknown> }; last_status: string | null; last_run_time: number | null; next_run_time: number | null }[];
      if (monitors.length === 0) return printLine("No monitors.");
      printLine(
        formatTable(
          ["NAME", "MODEL", "WINDOW", "SCHEDULE", "CHECKS", "LAST STATUS", "LAST RUN", "NEXT RUN"],
          monitors.map((m) => [m.name, m.spec.model, m.spec.window, m.spec.schedule ?? "-", checksOf(m.spec), m.last_status ?? "-", formatTime(m.last_run_time), formatTime(m.next_run_time)]),
        ).trimEnd(),
      );
    }),
  );

  withCommonOptions(
    monitor
      .command("run")
      .description("Run a monitor now over its last complete window (or --windows windows ending at --until)")
      .argument("<name>")
      .option("--until <time>", "the newest window ends here (ISO-8601 or epoch ms)")
      .option("--windows <n>", "how many windows to examine, oldest first", parsePositiveInt),
  ).action(
    runCli(async (name: string, flags: CommonFlags & { until?: string; windows?: number }) => {
      const body = { ...(flags.until === undefined ? {} : { until: flags.until }), ...(flags.windows === undefined ? {} : { windows: flags.windows }) };
      const res = await call(() => client(flags).request("POST", `/api/v1/monitors/${encodeURIComponent(name)}/run`, { body }));
      const run = res.run as Parameters<typeof printRun>[0];
      if (flags.json === true) printJson(res);
      else printRun(run);
      if (run.status === "error") process.exitCode = 1;
    }),
  );

  withCommonOptions(
    monitor
      .command("history")
      .description("A monitor's recent runs and its time series (one row per window, check, metric and column)")
      .argument("<name>")
      .option("--since <time>", "windows starting at or after this time")
      .option("--until <time>", "windows starting before this time")
      .option("--check <check>", `only this check (${CHECKS.join(", ")}, window)`)
      .option("--metric <metric>", "only this metric, e.g. accuracy, share, drifted")
      .option("--series <column>", "only this column")
      .option("--limit <n>", "most points (default 10000)", parsePositiveInt)
      .option("--runs <n>", "most runs and events (default 20)", parsePositiveInt),
  ).action(
    runCli(async (name: string, flags: HistoryFlags) => {
      const query: Record<string, string> = {};
      for (const k of ["since", "until", "check", "metric", "series", "limit", "runs"] as const) if (flags[k] !== undefined) query[k] = String(flags[k]);
      const res = await call(() => client(flags).request("GET", `/api/v1/monitors/${encodeURIComponent(name)}/history`, { query }));
      if (flags.json === true) return printJson(res);
      const runs = res.runs as { run_id: number; trigger: string; status: string; finished_time: number; window: { start: number; end: number }; version: string; failed: { check: string }[] }[];
      printLine(`Runs of '${name}':`);
      printLine(
        formatTable(
          ["RUN", "STATUS", "TRIGGER", "FINISHED", "WINDOW START", "VERSION", "FAILED CHECKS"],
          runs.map((r) => [String(r.run_id), r.status, r.trigger, formatTime(r.finished_time), formatTime(r.window.start), r.version || "-", [...new Set(r.failed.map((f) => f.check))].join(",") || "-"]),
        ).trimEnd(),
      );
      const series = res.series as { check: string; metric: string; series: string; points: { window_start: number; value: number; count: number | null }[] }[];
      const rows = series.flatMap((s) => s.points.map((p) => [formatTime(p.window_start), s.check, s.metric, s.series || "-", String(Number(p.value.toPrecision(6))), p.count === null ? "-" : String(p.count)]));
      rows.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
      printLine("");
      printLine(rows.length === 0 ? "No points." : formatTable(["WINDOW START", "CHECK", "METRIC", "SERIES", { header: "VALUE", align: "right" }, { header: "ROWS", align: "right" }], rows).trimEnd());
    }),
  );

  withCommonOptions(monitor.command("delete").description("Delete a monitor with its runs, series and events").argument("<name>")).action(
    runCli(async (name: string, flags: CommonFlags) => {
      await client(flags).request("DELETE", `/api/v1/monitors/${encodeURIComponent(name)}`);
      if (flags.json === true) return printJson({});
      printLine(`Deleted monitor '${name}'`);
    }),
  );

  withCommonOptions(
    monitor
      .command("report")
      .description("A report over a model's inference log: drift table, per-column distributions, quality, performance over time; self-contained HTML (--out) or JSON (--json)")
      .requiredOption("--model <ref>", "the model, e.g. churn@champion")
      .requiredOption("--window <duration>", "the span to cover, ending now (or at --until), e.g. 24h")
      .option("--step <duration>", "performance steps (default 1h up to 2 days, else 1d)")
      .option("--until <time>", "the span ends here (ISO-8601 or epoch ms)")
      .option("--monitor <name>", "use this monitor's reference columns and check options")
      .option("--reference <uri>", "reference data (default: the model version's training dataset)")
      .option("--target <column>", "the reference's label column")
      .option("--prediction <column>", "the reference's predicted-label column")
      .option("--probability <column>", "the reference's positive-class probability column")
      .option("--score-reference", "have the model version score the reference for its predictions and probabilities")
      .option("--out <file>", "write the HTML report here"),
  ).action(
    runCli(async (flags: ReportFlags) => {
      if (flags.out === undefined && flags.json !== true) throw new UsageError("give --out <file.html> for the HTML report, --json for the JSON one, or both");
      const reference: Record<string, string | boolean> = {};
      for (const [k, v] of [
        ["uri", flags.reference],
        ["target", flags.target],
        ["prediction", flags.prediction],
        ["probability", flags.probability],
      ] as const) {
        if (v !== undefined) reference[k] = v;
      }
      if (flags.scoreReference === true) reference.score = true;
      const body = {
        model: flags.model,
        window: flags.window,
        ...(flags.step === undefined ? {} : { step: flags.step }),
        ...(flags.until === undefined ? {} : { until: flags.until }),
        ...(flags.monitor === undefined ? {} : { monitor: flags.monitor }),
        ...(Object.keys(reference).length === 0 ? {} : { reference }),
      };
      const res = await call(() => client(flags).request("POST", "/api/v1/monitoring/report", { body }));
      const report = res.report as MonitorReport;
      if (flags.out !== undefined) {
        try {
          await writeFile(flags.out, renderMonitorReportHtml(report));
        } catch (e) {
          throw new UsageError(`${flags.out}: cannot write the report: ${(e as Error).message}`);
        }
      }
      if (flags.json === true) printJson(report);
      if (flags.out !== undefined) note(`Report (${report.rows.toLocaleString("en-US")} rows of ${report.model} version ${report.version}): ${flags.out}`);
    }),
  );
}
