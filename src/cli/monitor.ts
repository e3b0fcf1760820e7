/**
 * `flywheel monitor drift` compares two datasets (Parquet or CSV), or a dataset against a stored
 * reference profile, column by column; `flywheel monitor profile` stores a reference profile.
 * Everything runs locally (DuckDB reads the files); no server is involved.
 *
 * Exit codes: 0 when the comparison ran, whether or not drift was found (read the verdict from
 * the output or `--json`); 2 for bad usage (unknown option, missing or unreadable file, invalid
 * column mapping, a test that does not fit a column); 1 for unexpected failures.
 */
import { readFile, writeFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { InvalidArgumentError, Option } from "commander";
import type { Command } from "commander";
import { isFlywheelError } from "../core/errors.js";
import { parseColumnMapping, readColumnMapping, type ColumnMapping, type DriftOptions } from "../monitoring/column-mapping.js";
import { compareDatasets, compareWithProfile } from "../monitoring/compare.js";
import type { ColumnKind } from "../monitoring/dataset.js";
import type { ColumnDrift, DriftReport } from "../monitoring/drift.js";
import { renderDriftHtml } from "../monitoring/html-report.js";
import { buildProfile, parseProfile, type ReferenceProfile } from "../monitoring/profile.js";
import { describeFile, kindOfType, readDataset } from "../monitoring/read-dataset.js";
import { STAT_TEST_NAMES, type StatTestName } from "../monitoring/stattests.js";
import { FlywheelCommand, UsageError, formatTable, note, parsePositiveInt, printJson, printLine, runCli } from "./output.js";
import { registerMonitorServerCommands } from "./monitor-server.js";

interface DriftFlags {
  reference: string;
  current: string;
  columnMapping?: string;
  json?: boolean;
  html?: string;
  test?: StatTestName;
  threshold?: number;
  driftShare?: number;
  binning?: "sturges" | "quantile";
  nBins?: number;
  extraTests?: StatTestName[];
}

interface ProfileFlags {
  reference: string;
  out: string;
  columnMapping?: string;
  exactLimit?: number;
  sketchSize?: number;
  quantileBins?: number;
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("expected a number.");
  return n;
}

function share(value: string): number {
  const n = finiteNumber(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError("expected a share in (0, 1].");
  return n;
}

function testList(value: string): StatTestName[] {
  const names = value.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!(STAT_TEST_NAMES as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown test '${n}'; expected ${STAT_TEST_NAMES.join(", ")}.`);
  }
  return names as StatTestName[];
}

/** Runs `fn`; a FlywheelError about the input becomes a usage error (exit code 2). */
async function asUsage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isFlywheelError(e) && e.status < 500) throw new UsageError(e.message);
    throw e;
  }
}

/** The command-line options layered over the mapping file's drift options. */
function driftOptions(mapping: ColumnMapping, flags: DriftFlags): ColumnMapping {
  const drift: DriftOptions = { ...(mapping.drift ?? {}) };
  if (flags.test !== undefined) drift.test = flags.test;
  if (flags.threshold !== undefined) drift.threshold = flags.threshold;
  if (flags.driftShare !== undefined) drift.driftShare = flags.driftShare;
  if (flags.binning !== undefined) drift.binning = flags.binning;
  if (flags.nBins !== undefined) drift.nBins = flags.nBins;
  if (flags.extraTests !== undefined) drift.extraTests = flags.extraTests;
  return parseColumnMapping({ ...mapping, drift }, "options");
}

function isProfile(path: string): boolean {
  return extname(path).toLowerCase() === ".json";
}

/** The kind each reference column is read as: its type's, or categorical where the mapping says so. */
async function readKinds(path: string, mapping: ColumnMapping): Promise<Map<string, ColumnKind>> {
  const kinds = new Map<string, ColumnKind>();
  for (const c of await describeFile(path)) {
    const k = kindOfType(c.type);
    if (k !== undefined) kinds.set(c.name, k);
  }
  for (const c of mapping.categoricalFeatures ?? []) kinds.set(c, "categorical");
  if (mapping.task === "classification" && mapping.target !== undefined) kinds.set(mapping.target, "categorical");
  return kinds;
}

async function loadProfile(path: string): Promise<ReferenceProfile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new UsageError(`${path}: cannot be read as a reference profile: ${(e as Error).message}`);
  }
  return parseProfile(raw);
}

/** Reads the reference and current files with the kinds the reference's plan needs. */
async function runDrift(flags: DriftFlags, mapping: ColumnMapping): Promise<DriftReport> {
  if (isProfile(flags.reference)) {
    const profile = await loadProfile(flags.reference);
    const names = profile.columns.map((c) => c.name);
    const kinds = new Map(profile.columns.map((c) => [c.name, c.kind]));
    const current = await readDataset(flags.current, { columns: names, kinds });
    return compareWithProfile(profile, current, mapping.drift ?? {});
  }
  const kinds = await readKinds(flags.reference, mapping);
  const [reference, current] = await Promise.all([readDataset(flags.reference, { kinds }), readDataset(flags.current, { kinds })]);
  return compareDatasets(reference, current, mapping);
}

function pOrD(c: ColumnDrift): string {
  const r = c.result;
  if (r === undefined) return "-";
  const v = r.score;
  const s = Number.isFinite(v) && v !== 0 && Math.abs(v) < 1e-4 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  return `${r.pvalue !== undefined ? "p" : "d"}=${s}${r.approximate ? " ≈" : ""}`;
}

function compact(v: number | undefined): string {
  if (v === undefined) return "-";
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/** The drift table and the dataset verdict as text. */
export function formatDriftReport(report: DriftReport, referenceName: string, currentName: string): string {
  const rows = report.columns.map((c) => [
    c.column,
    c.role,
    c.kind,
    c.result?.test ?? "-",
    compact(c.result?.statistic),
    pOrD(c),
    compact(c.result?.threshold),
    c.status === "ok" ? (c.drifted ? "DRIFT" : "ok") : c.status.replace(/_/g, " "),
    c.current === undefined ? pct(c.reference.missingShare) : `${pct(c.reference.missingShare)} → ${pct(c.current.missingShare)}`,
  ]);
  const table = formatTable(
    [
      "COLUMN",
      "ROLE",
      "TYPE",
      "TEST",
      { header: "STATISTIC", align: "right" },
      { header: "P-VALUE/DISTANCE", align: "right" },
      { header: "THRESHOLD", align: "right" },
      "VERDICT",
      "MISSING",
    ],
    rows,
  );
  const d = report.dataset;
  const lines = [
    `Reference: ${referenceName} (${report.referenceRows.toLocaleString("en-US")} rows)   Current: ${currentName} (${report.currentRows.toLocaleString("en-US")} rows)`,
    "",
    table.trimEnd(),
    "",
    `Dataset drift: ${d.drift ? "YES" : "no"} — ${d.drifted} of ${d.tested} tested columns drifted (${pct(d.share)}; threshold ${pct(d.driftShareThreshold)})`,
  ];
  for (const c of report.columns) if (c.reason !== undefined) lines.push(`  ${c.column}: ${c.reason}`);
  for (const s of report.skipped) lines.push(`  skipped ${s.column}: ${s.reason}`);
  return lines.join("\n");
}

/** Registers `flywheel monitor`; returns the command. */
export function registerMonitorCommand(program: Command): Command {
  const monitor = new FlywheelCommand("monitor").description("Monitoring: drift between datasets, monitors run by the server, reports");
  monitor.copyInheritedSettings(program);
  program.addCommand(monitor);

  monitor
    .command("drift")
    .description(
      "Compare a current dataset with a reference (Parquet or CSV, or a reference profile .json) column by column; exit code 0 whether or not drift is found",
    )
    .requiredOption("--reference <file>", "the reference data (.parquet/.csv) or a reference profile (.json from `monitor profile`)")
    .requiredOption("--current <file>", "the current data (.parquet/.csv)")
    .option("--column-mapping <file>", "column mapping and drift options (.json, .yaml or .yml)")
    .option("--json", "print the report as JSON")
    .option("--html <file>", "also write a self-contained HTML report (binned summaries only, no rows)")
    .addOption(new Option("--test <name>", "the test for every column it fits (default: Evidently's choice per column)").choices([...STAT_TEST_NAMES]))
    .option("--threshold <number>", "the drift threshold for every column's test (default: each test's own)", finiteNumber)
    .option("--drift-share <share>", "dataset drift when this share of tested columns drifts (default 0.5)", share)
    .addOption(new Option("--binning <scheme>", "bins for PSI/KL/JS/Hellinger/TVD: sturges (Evidently) or quantile (reference quantiles)").choices(["sturges", "quantile"]))
    .option("--n-bins <n>", "number of bins for the binned tests", parsePositiveInt)
    .option("--extra-tests <a,b>", "tests reported beside the verdict test, e.g. ks,psi", testList)
    .action(
      runCli(async (flags: DriftFlags) => {
        const mapping = await asUsage(async () => driftOptions(flags.columnMapping === undefined ? {} : await readColumnMapping(flags.columnMapping), flags));
        const report = await asUsage(() => runDrift(flags, mapping));
        if (flags.html !== undefined) {
          const html = renderDriftHtml(report, { referenceName: basename(flags.reference), currentName: basename(flags.current) });
          try {
            await writeFile(flags.html, html);
          } catch (e) {
            throw new UsageError(`${flags.html}: cannot write the HTML report: ${(e as Error).message}`);
          }
        }
        if (flags.json === true) printJson(report);
        else printLine(formatDriftReport(report, basename(flags.reference), basename(flags.current)));
        if (flags.html !== undefined && flags.json !== true) note(`HTML report: ${flags.html}`);
      }),
    );

  monitor
    .command("profile")
    .description("Compute a reference profile once and store it as JSON, for `monitor drift --reference profile.json`")
    .requiredOption("--reference <file>", "the reference data (.parquet/.csv)")
    .requiredOption("--out <file>", "where to write the profile (.json)")
    .option("--column-mapping <file>", "column mapping (.json, .yaml or .yml)")
    .option("--exact-limit <n>", "keep values exactly up to this many distinct values per column (default 100000)", parsePositiveInt)
    .option("--sketch-size <n>", "quantiles kept per column above the limit (default 10000)", parsePositiveInt)
    .option("--quantile-bins <n>", "reference-quantile bins counted on the full data (default 10)", parsePositiveInt)
    .action(
      runCli(async (flags: ProfileFlags) => {
        const mapping = await asUsage(async () => (flags.columnMapping === undefined ? {} : await readColumnMapping(flags.columnMapping)));
        const profile = await asUsage(async () => {
          const reference = await readDataset(flags.reference, { kinds: await readKinds(flags.reference, mapping) });
          return buildProfile(reference, mapping, {
            ...(flags.exactLimit === undefined ? {} : { exactLimit: flags.exactLimit }),
            ...(flags.sketchSize === undefined ? {} : { sketchSize: flags.sketchSize }),
            ...(flags.quantileBins === undefined ? {} : { quantileBins: flags.quantileBins }),
          });
        });
        const text = JSON.stringify(profile);
        try {
          await writeFile(flags.out, text);
        } catch (e) {
          throw new UsageError(`${flags.out}: cannot write the profile: ${(e as Error).message}`);
        }
        const approx = Object.entries(profile.data).filter(([, c]) => c.kind === "numerical" && !c.exact).map(([n]) => n);
        printLine(
          `Wrote the reference profile of ${profile.columns.length} columns (${profile.rows.toLocaleString("en-US")} rows, ${(text.length / 1024).toFixed(0)} KiB) to ${flags.out}` +
            (approx.length === 0 ? "" : `; sketched (approximate for ECDF tests): ${approx.join(", ")}`),
        );
      }),
    );
  // Monitors kept and run by the server, and reports over a model's inference log.
  registerMonitorServerCommands(monitor);
  return monitor;
}
