/** `flywheel runs ...`: search, inspect and manage runs on a tracking server. */
import type { Command } from "commander";
import type { WireMetric, WireRun } from "../client/wire-types.js";
import { resolveExperiment } from "./experiments.js";
import {
  FlywheelCommand,
  cell,
  clientFrom,
  collect,
  collectPages,
  formatCompact,
  formatDuration,
  formatFields,
  formatNumber,
  formatTable,
  formatTime,
  indent,
  note,
  parsePositiveInt,
  printBlock,
  printDone,
  printJson,
  printLine,
  runCli,
  toViewType,
  viewOption,
  withCommonOptions,
} from "./output.js";
import type { Column, CommonFlags, ViewFlag } from "./output.js";

/** Most metric columns a runs table shows. */
export const MAX_METRIC_COLUMNS = 6;

const byKey = <T extends { key: string }>(a: T, b: T): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The metric key an order-by clause sorts on (`metrics.auc DESC`, ``metrics.`val loss` ASC``), if any. */
export function orderByMetric(clause: string): string | undefined {
  const m = /^\s*metrics?\.(?:`([^`]+)`|"([^"]+)"|([^\s]+))/i.exec(clause);
  return m === null ? undefined : (m[1] ?? m[2] ?? m[3]);
}

/**
 * The metric columns of a runs table: metrics named in order-by first, then the metrics most
 * runs have, then alphabetical; at most `max`.
 */
export function pickMetricColumns(
  runs: WireRun[],
  orderBy: string[] = [],
  max = MAX_METRIC_COLUMNS,
): { shown: string[]; hidden: number } {
  const counts = new Map<string, number>();
  for (const r of runs) for (const m of r.data.metrics ?? []) counts.set(m.key, (counts.get(m.key) ?? 0) + 1);
  const preferred = orderBy.map(orderByMetric).filter((k): k is string => k !== undefined && counts.has(k));
  const rest = [...counts.keys()]
    .filter((k) => !preferred.includes(k))
    .sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
  const all = [...new Set([...preferred, ...rest])];
  return { shown: all.slice(0, max), hidden: Math.max(0, all.length - max) };
}

/** The runs table: id, name, status, start time (experiment when several) and metric columns. */
export function formatRunsTable(runs: WireRun[], metricKeys: string[], withExperiment = false): string {
  const columns: Column[] = [
    { header: "RUN ID" },
    ...(withExperiment ? [{ header: "EXPERIMENT" }] : []),
    { header: "NAME" },
    { header: "STATUS" },
    { header: "START TIME" },
    ...metricKeys.map((k) => ({ header: cell(k), align: "right" as const })),
  ];
  const rows = runs.map((r) => {
    const latest = new Map((r.data.metrics ?? []).map((m) => [m.key, m.value]));
    return [
      r.info.run_id,
      ...(withExperiment ? [r.info.experiment_id] : []),
      cell(r.info.run_name),
      r.info.status,
      formatTime(r.info.start_time),
      ...metricKeys.map((k) => {
        const v = latest.get(k);
        return v === undefined ? "-" : formatCompact(v);
      }),
    ];
  });
  return formatTable(columns, rows);
}

function showRun(run: WireRun): void {
  const i = run.info;
  printLine(`Run ${i.run_id}`);
  printBlock(
    formatFields([
      ["  Name", cell(i.run_name)],
      ["  Experiment", i.experiment_id],
      ["  Status", i.status],
      ["  Lifecycle", i.lifecycle_stage],
      ["  User", cell(i.user_id)],
      ["  Start time", formatTime(i.start_time)],
      ["  End time", formatTime(i.end_time)],
      ["  Duration", formatDuration(i.start_time, i.end_time)],
      ["  Artifact URI", i.artifact_uri],
    ]),
  );
  const params = [...(run.data.params ?? [])].sort(byKey);
  const metrics = [...(run.data.metrics ?? [])].sort(byKey);
  const tags = [...(run.data.tags ?? [])].sort(byKey);
  printLine();
  if (params.length === 0) printLine("Params: none");
  else {
    printLine("Params:");
    printBlock(indent(formatTable(["KEY", "VALUE"], params.map((p) => [cell(p.key), cell(p.value)]))));
  }
  printLine();
  if (metrics.length === 0) printLine("Metrics: none");
  else {
    printLine("Metrics (latest):");
    printBlock(
      indent(
        formatTable(
          ["KEY", { header: "VALUE", align: "right" }, { header: "STEP", align: "right" }, "TIMESTAMP"],
          metrics.map((m) => [cell(m.key), formatNumber(m.value), String(m.step), formatTime(m.timestamp)]),
        ),
      ),
    );
  }
  printLine();
  if (tags.length === 0) printLine("Tags: none");
  else {
    printLine("Tags:");
    printBlock(indent(formatTable(["KEY", "VALUE"], tags.map((t) => [cell(t.key), cell(t.value)]))));
  }
  const inputs = run.inputs.dataset_inputs ?? [];
  if (inputs.length > 0) {
    printLine();
    printLine("Datasets:");
    const context = (tags: readonly { key: string; value: string }[] | undefined) => tags?.find((t) => t.key === "mlflow.data.context")?.value;
    printBlock(indent(formatTable(["NAME", "DIGEST", "CONTEXT", "SOURCE"], inputs.map((d) => [cell(d.dataset.name), cell(d.dataset.digest), cell(context(d.tags) ?? ""), cell(d.dataset.source)]))));
  }
}

interface SearchFlags extends CommonFlags {
  experiment: string[];
  filter?: string;
  orderBy?: string[];
  maxResults: number;
  view: ViewFlag;
}

function addSearchCommand(runs: Command, name: "list" | "search", description: string): void {
  withCommonOptions(runs.command(name).description(description))
    .requiredOption("-e, --experiment <id-or-name>", "experiment id or name (repeatable)", collect)
    .option("--filter <filter>", `search filter, e.g. "metrics.auc > 0.9 and params.lr = '0.1'"`)
    .option("--order-by <clause>", `sort clause, e.g. "metrics.auc DESC" (repeatable; default: newest first)`, collect)
    .option("--max-results <n>", "how many runs to show (pages are followed)", parsePositiveInt, 100)
    .addOption(viewOption())
    .action(
      runCli(async (flags: SearchFlags) => {
        const client = clientFrom(flags);
        const experiments = await Promise.all(flags.experiment.map((e) => resolveExperiment(client, e)));
        const experimentIds = [...new Set(experiments.map((e) => e.experiment_id))];
        const result = await collectPages(flags.maxResults, async (maxResults, pageToken) => {
          const page = await client.runs.search({
            experiment_ids: experimentIds,
            max_results: maxResults,
            run_view_type: toViewType(flags.view),
            ...(pageToken === undefined ? {} : { page_token: pageToken }),
            ...(flags.filter === undefined ? {} : { filter: flags.filter }),
            ...(flags.orderBy === undefined ? {} : { order_by: flags.orderBy }),
          });
          return { items: page.runs, next: page.next_page_token };
        });
        if (flags.json) {
          printJson({
            runs: result.items,
            ...(result.nextPageToken === undefined ? {} : { next_page_token: result.nextPageToken }),
          });
          return;
        }
        if (result.items.length === 0) {
          printLine("No runs found.");
          return;
        }
        const { shown, hidden } = pickMetricColumns(result.items, flags.orderBy);
        printBlock(formatRunsTable(result.items, shown, experimentIds.length > 1));
        if (hidden > 0) note(`(${hidden} more metric${hidden === 1 ? "" : "s"} not shown; see 'flywheel runs show RUN_ID' or --json)`);
        if (result.more) note(`(showing the first ${result.items.length} runs; use --max-results to see more)`);
      }),
    );
}

export function registerRunsCommand(program: Command): void {
  const runs = new FlywheelCommand("runs").description("Search, inspect and manage runs on a tracking server");
  runs.copyInheritedSettings(program);
  program.addCommand(runs);

  addSearchCommand(runs, "list", "List the runs of experiments (newest first)");
  addSearchCommand(runs, "search", "Search runs with a filter and sort order");

  withCommonOptions(runs.command("show").description("Show a run: info, params, latest metrics and tags"))
    .argument("<run-id>", "run id")
    .action(
      runCli(async (runId: string, flags: CommonFlags) => {
        const { run } = await clientFrom(flags).runs.get(runId);
        if (flags.json) printJson({ run });
        else showRun(run);
      }),
    );

  withCommonOptions(runs.command("delete").description("Delete a run (it can be restored)"))
    .argument("<run-id>", "run id")
    .action(
      runCli(async (runId: string, flags: CommonFlags) => {
        await clientFrom(flags).runs.delete(runId);
        printDone(flags.json, `Deleted run ${runId} (undo with: flywheel runs restore ${runId})`);
      }),
    );

  withCommonOptions(runs.command("restore").description("Restore a deleted run"))
    .argument("<run-id>", "run id")
    .action(
      runCli(async (runId: string, flags: CommonFlags) => {
        await clientFrom(flags).runs.restore(runId);
        printDone(flags.json, `Restored run ${runId}`);
      }),
    );

  withCommonOptions(runs.command("history").description("Show every logged value of one metric of a run"))
    .argument("<run-id>", "run id")
    .argument("<metric-key>", "metric key")
    .action(
      runCli(async (runId: string, metricKey: string, flags: CommonFlags) => {
        const client = clientFrom(flags);
        const metrics: WireMetric[] = [];
        for await (const m of client.metricHistory(runId, metricKey)) metrics.push(m);
        if (flags.json) {
          printJson({ metrics });
          return;
        }
        if (metrics.length === 0) {
          printLine(`Run ${runId} has no values for metric '${metricKey}'.`);
          return;
        }
        printBlock(
          formatTable(
            [{ header: "STEP", align: "right" }, "TIMESTAMP", { header: "VALUE", align: "right" }],
            metrics.map((m) => [String(m.step), formatTime(m.timestamp), formatNumber(m.value)]),
          ),
        );
      }),
    );
}
