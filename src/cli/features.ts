/**
 * `flywheel features`: definitions (plan, apply, list, history) and materialization go through the
 * server; historical retrieval runs here, in DuckDB over the local files, with the definitions
 * the server has applied.
 */
import { extname, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig, offlineDirOf } from "../core/config.js";
import type { FeatureRepo, FeatureViewDef } from "../features/definitions.js";
import { historicalWithOnDemand } from "../features/historical-store.js";
import { loadRepo } from "../features/load.js";
import { formatChange, type Change } from "../features/plan.js";
import { appendedFiles } from "../features/push.js";
import { OfflineDb } from "../storage/offline/duckdb.js";
import { registryClient, withRegistryOptions, type RegistryFlags } from "./models-shared.js";
import { UsageError, formatTable, formatTime, io, printJson, printLine, runCli } from "./output.js";

interface FeaturesFlags extends RegistryFlags {
  views?: string;
}

function changesOf(v: unknown): Change[] {
  return Array.isArray(v) ? (v as Change[]) : [];
}

function printChanges(changes: Change[]): void {
  if (changes.length === 0) printLine("No changes.");
  for (const c of changes) printLine(formatChange(c));
}

function viewList(flag: string | undefined): string[] | undefined {
  if (flag === undefined) return undefined;
  const views = flag.split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (views.length === 0) throw new UsageError("--views needs at least one feature view name");
  return views;
}

/** Renders a progress bar on a terminal, or one line per update otherwise. */
function progressPrinter(): { update(view: string, done: number, total: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let open = false;
  return {
    update(view, done, total) {
      const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const text = `${view} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} rows (${pct}%)`;
      if (tty) {
        io.err(`\r${text}`);
        open = true;
        if (done === total) {
          io.err("\n");
          open = false;
        }
      } else io.err(`${text}\n`);
    },
    end() {
      if (open) io.err("\n");
    },
  };
}

export function registerFeaturesCommand(program: Command): void {
  const features = program.command("features").description("Feature store: definitions, materialization, historical retrieval");

  withRegistryOptions(
    features.command("plan").description("Show what applying the definitions in PATHS (files or folders, default .) would change").argument("[paths...]"),
  ).action(
    runCli(async (paths: string[], flags: RegistryFlags) => {
      const repo = await loadRepo(paths.length === 0 ? ["."] : paths);
      const res = await registryClient(flags).request("POST", "/api/v1/features/plan", { body: { definitions: repo } });
      if (flags.json === true) return printJson(res);
      printLine(`Project '${String(res.project)}', applied version ${String(res.version)}:`);
      printChanges(changesOf(res.changes));
    }),
  );

  withRegistryOptions(
    features.command("apply").description("Store the definitions in PATHS (files or folders, default .) as the next version").argument("[paths...]"),
  ).action(
    runCli(async (paths: string[], flags: RegistryFlags) => {
      const repo = await loadRepo(paths.length === 0 ? ["."] : paths);
      const res = await registryClient(flags).request("POST", "/api/v1/features/apply", { body: { definitions: repo } });
      if (flags.json === true) return printJson(res);
      printChanges(changesOf(res.changes));
      const changed = res.version !== res.previous_version;
      printLine(changed ? `Applied version ${String(res.version)} of project '${String(res.project)}'.` : `Nothing to apply: version ${String(res.version)} is current.`);
    }),
  );

  withRegistryOptions(features.command("list").description("The applied entities, sources, views and services")).action(
    runCli(async (flags: RegistryFlags) => {
      const res = await registryClient(flags).request("GET", "/api/v1/features/registry");
      if (flags.json === true) return printJson(res);
      const repo = res.definitions as FeatureRepo;
      printLine(`Project '${String(res.project)}', version ${String(res.version)}`);
      const rows: string[][] = [
        ...repo.entities.map((e) => ["entity", e.name, `join keys ${e.joinKeys.join(", ")} (${e.valueType})`]),
        ...repo.sources.map((s) => [s.kind.replace("_", " "), s.name, s.kind === "file_source" ? s.path : s.kind === "push_source" ? `batch source ${s.batchSource}` : s.schema.map((f) => f.name).join(", ")]),
        ...repo.featureViews.map((v) => [
          "feature view",
          v.name,
          `${v.schema.map((f) => `${f.name}:${f.dtype}`).join(", ")}; entities ${v.entities.join(", ")}; ttl ${v.ttlSeconds}s${v.online ? "" : "; offline only"}`,
        ]),
        ...repo.onDemandFeatureViews.map((v) => ["on-demand view", v.name, `${v.schema.map((f) => `${f.name}:${f.dtype}`).join(", ")} from ${v.sources.join(", ")}`]),
        ...repo.featureServices.map((s) => ["feature service", s.name, s.features.map((p) => (p.features === undefined ? `${p.view}:*` : p.features.map((f) => `${p.view}:${f}`).join(", "))).join(", ")]),
      ];
      printLine(formatTable(["KIND", "NAME", "DETAILS"], rows));
    }),
  );

  withRegistryOptions(features.command("history").description("Applied versions, newest first")).action(
    runCli(async (flags: RegistryFlags) => {
      const res = await registryClient(flags).request("GET", "/api/v1/features/history");
      if (flags.json === true) return printJson(res);
      const versions = (res.versions ?? []) as { version: number; applied_by: string; applied_time: number; changes: Change[] }[];
      printLine(formatTable(["VERSION", "APPLIED", "BY", "CHANGES"], versions.map((v) => [String(v.version), formatTime(v.applied_time), v.applied_by, v.changes.map(formatChange).join("; ")])));
    }),
  );

  const materialize = async (body: object, flags: FeaturesFlags) => {
    const res = await registryClient(flags).postStreaming("/api/v1/features/materialize", body);
    const progress = progressPrinter();
    let buffer = "";
    let result: unknown;
    const decoder = new TextDecoder();
    const handle = (line: string) => {
      if (line.trim() === "") return;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.progress !== undefined) {
        const p = msg.progress as { feature_view: string; done: number; total: number };
        if (flags.json !== true) progress.update(p.feature_view, p.done, p.total);
      } else if (msg.error_code !== undefined) {
        progress.end();
        throw new UsageError(`${String(msg.error_code)}: ${String(msg.message)}`);
      } else result = msg;
    };
    if (res.body !== null) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          handle(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      }
    }
    handle(buffer);
    progress.end();
    if (flags.json === true) return printJson(result);
    const done = ((result as { materialized?: unknown[] } | undefined)?.materialized ?? []) as { feature_view: string; start_ts: string; end_ts: string; rows: number }[];
    if (done.length === 0) printLine("Nothing to materialize.");
    for (const m of done) printLine(`${m.feature_view}: ${m.rows} rows from ${m.start_ts} to ${m.end_ts}`);
  };

  withRegistryOptions(
    features
      .command("materialize")
      .description("Write the latest row per entity in [START, END) of each online view to the online store")
      .argument("<start>", "ISO-8601 timestamp (naive: UTC)")
      .argument("<end>", "ISO-8601 timestamp (naive: UTC)")
      .option("--views <names>", "comma-separated feature views (default: every online view)"),
  ).action(
    runCli(async (start: string, end: string, flags: FeaturesFlags) => {
      const views = viewList(flags.views);
      await materialize({ start_ts: start, end_ts: end, ...(views === undefined ? {} : { feature_views: views }) }, flags);
    }),
  );

  withRegistryOptions(
    features
      .command("materialize-incremental")
      .description("Continue each online view from its last materialization (first time: END - ttl) up to END")
      .argument("<end>", "ISO-8601 timestamp (naive: UTC)")
      .option("--views <names>", "comma-separated feature views (default: every online view)"),
  ).action(
    runCli(async (end: string, flags: FeaturesFlags) => {
      const views = viewList(flags.views);
      await materialize({ end_ts: end, incremental: true, ...(views === undefined ? {} : { feature_views: views }) }, flags);
    }),
  );

  withRegistryOptions(
    features
      .command("historical")
      .description("Point-in-time join of an entity file with features, written to Parquet (runs locally in DuckDB)")
      .requiredOption("--entities <file>", "entity rows: Parquet or CSV with join keys and an event timestamp")
      .option("--features <refs>", "comma-separated view:feature references")
      .option("--feature-service <name>", "every feature of a feature service")
      .requiredOption("--out <file>", "the Parquet file to write")
      .option("--timestamp-field <name>", "the entity file's timestamp column", "event_timestamp")
      .option("--full-feature-names", "name columns <view>__<feature>")
      .option("--filter-by-created-timestamp", "also drop feature rows created after the entity timestamp")
      .option("--offline-dir <dir>", "where offline pushes were appended (default: the configured offline dir)"),
  ).action(
    runCli(async (flags: RegistryFlags & {
      entities: string;
      features?: string;
      featureService?: string;
      out: string;
      timestampField: string;
      fullFeatureNames?: boolean;
      filterByCreatedTimestamp?: boolean;
      offlineDir?: string;
    }) => {
      if ((flags.features === undefined) === (flags.featureService === undefined)) {
        throw new UsageError("give either --features view:feature,... or --feature-service NAME");
      }
      const res = await registryClient(flags).request("GET", "/api/v1/features/registry");
      const repo = res.definitions as FeatureRepo;
      const project = String(res.project);
      const offlineDir = flags.offlineDir !== undefined ? resolve(flags.offlineDir) : offlineDirOf(loadConfig());
      const appended = (view: FeatureViewDef): string[] => appendedFiles(offlineDir, project, repo, view);
      const format = extname(flags.entities).toLowerCase() === ".csv" ? "csv" : "parquet";
      const started = Date.now();
      const db = await OfflineDb.open();
      try {
        const result = await historicalWithOnDemand(
          db,
          repo,
          {
            entities: { path: resolve(flags.entities), format, timestampField: flags.timestampField },
            ...(flags.features !== undefined ? { features: flags.features.split(",").map((f) => f.trim()).filter((f) => f !== "") } : {}),
            ...(flags.featureService !== undefined ? { featureService: flags.featureService } : {}),
            fullFeatureNames: flags.fullFeatureNames === true,
            filterByCreatedTimestamp: flags.filterByCreatedTimestamp === true,
            out: resolve(flags.out),
          },
          appended,
        );
        if (flags.json === true) return printJson({ ...result, out: resolve(flags.out), seconds: (Date.now() - started) / 1000 });
        printLine(`Wrote ${result.rows} rows to ${resolve(flags.out)} in ${((Date.now() - started) / 1000).toFixed(2)} s`);
        printLine(`Columns: ${result.columns.join(", ")}`);
      } finally {
        db.close();
      }
    }),
  );
}
