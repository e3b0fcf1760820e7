/** `flywheel experiments ...`: list and manage experiments on a tracking server. */
import type { Command } from "commander";
import { FlywheelApiError, isNotFound } from "../client/errors.js";
import type { FlywheelClient } from "../client/http-client.js";
import type { WireExperiment } from "../client/wire-types.js";
import {
  FlywheelCommand,
  cell,
  clientFrom,
  collect,
  collectKeyValue,
  collectPages,
  formatFields,
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
import type { CommonFlags, ViewFlag } from "./output.js";

/**
 * Finds an experiment by id or by name. An all-digit argument is tried as an id first, anything
 * else as a name first; when that finds nothing the other lookup is tried.
 */
export async function resolveExperiment(client: FlywheelClient, idOrName: string): Promise<WireExperiment> {
  const byId = async () => (await client.experiments.get(idOrName)).experiment;
  const byName = async () => (await client.experiments.getByName(idOrName)).experiment;
  const [first, second] = /^\d+$/.test(idOrName) ? [byId, byName] : [byName, byId];
  try {
    return await first();
  } catch (e) {
    if (!isNotFound(e) && !(e instanceof FlywheelApiError && e.errorCode === "INVALID_PARAMETER_VALUE")) throw e;
  }
  try {
    return await second();
  } catch (e) {
    if (!(e instanceof FlywheelApiError) || (e.status !== 404 && e.status !== 400)) throw e;
    throw new FlywheelApiError({
      status: 404,
      errorCode: "RESOURCE_DOES_NOT_EXIST",
      message: `No experiment has the id or name '${idOrName}'`,
      method: e.method,
      url: e.url,
    });
  }
}

function experimentRows(experiments: WireExperiment[], withStage: boolean): string {
  const columns = ["ID", "NAME", ...(withStage ? ["LIFECYCLE"] : []), "CREATED", "ARTIFACT LOCATION"];
  const rows = experiments.map((e) => [
    e.experiment_id,
    cell(e.name),
    ...(withStage ? [e.lifecycle_stage] : []),
    formatTime(e.creation_time),
    e.artifact_location,
  ]);
  return formatTable(columns, rows);
}

function showExperiment(e: WireExperiment): void {
  printLine(`Experiment ${e.experiment_id}`);
  printBlock(
    formatFields([
      ["  ID", e.experiment_id],
      ["  Name", cell(e.name)],
      ["  Lifecycle", e.lifecycle_stage],
      ["  Artifact location", e.artifact_location],
      ["  Created", formatTime(e.creation_time)],
      ["  Last updated", formatTime(e.last_update_time)],
    ]),
  );
  const tags = [...(e.tags ?? [])].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  printLine();
  if (tags.length === 0) {
    printLine("Tags: none");
    return;
  }
  printLine("Tags:");
  printBlock(indent(formatTable(["KEY", "VALUE"], tags.map((t) => [cell(t.key), cell(t.value)]))));
}

interface ListFlags extends CommonFlags {
  view: ViewFlag;
  filter?: string;
  orderBy?: string[];
  maxResults: number;
}

interface CreateFlags extends CommonFlags {
  artifactLocation?: string;
  tag?: [string, string][];
}

export function registerExperimentsCommand(program: Command): void {
  const experiments = new FlywheelCommand("experiments").description("List and manage experiments on a tracking server");
  experiments.copyInheritedSettings(program);
  program.addCommand(experiments);

  withCommonOptions(experiments.command("list").alias("search").description("List experiments"))
    .addOption(viewOption())
    .option("--filter <filter>", `search filter, e.g. "name LIKE 'churn%'" or "tags.team = 'ml'"`)
    .option("--order-by <clause>", `sort clause, e.g. "name ASC" or "creation_time DESC" (repeatable)`, collect)
    .option("--max-results <n>", "how many experiments to show (pages are followed)", parsePositiveInt, 1000)
    .action(
      runCli(async (flags: ListFlags) => {
        const client = clientFrom(flags);
        const result = await collectPages(flags.maxResults, async (maxResults, pageToken) => {
          const page = await client.experiments.search({
            max_results: maxResults,
            view_type: toViewType(flags.view),
            ...(pageToken === undefined ? {} : { page_token: pageToken }),
            ...(flags.filter === undefined ? {} : { filter: flags.filter }),
            ...(flags.orderBy === undefined ? {} : { order_by: flags.orderBy }),
          });
          return { items: page.experiments, next: page.next_page_token };
        });
        if (flags.json) {
          printJson({
            experiments: result.items,
            ...(result.nextPageToken === undefined ? {} : { next_page_token: result.nextPageToken }),
          });
          return;
        }
        if (result.items.length === 0) {
          printLine("No experiments found.");
          return;
        }
        printBlock(experimentRows(result.items, flags.view !== "active"));
        if (result.more) note(`(showing the first ${result.items.length}; use --max-results to see more)`);
      }),
    );

  withCommonOptions(experiments.command("create").description("Create an experiment"))
    .argument("<name>", "experiment name")
    .option("--artifact-location <uri>", "where the experiment's artifacts are stored (default: chosen by the server)")
    .option("--tag <key=value>", "experiment tag (repeatable)", collectKeyValue)
    .action(
      runCli(async (name: string, flags: CreateFlags) => {
        const client = clientFrom(flags);
        const res = await client.experiments.create({
          name,
          ...(flags.artifactLocation === undefined ? {} : { artifact_location: flags.artifactLocation }),
          ...(flags.tag === undefined ? {} : { tags: flags.tag.map(([key, value]) => ({ key, value })) }),
        });
        if (flags.json) printJson(res);
        else printLine(`Created experiment '${name}' with id ${res.experiment_id}`);
      }),
    );

  withCommonOptions(experiments.command("show").description("Show an experiment and its tags"))
    .argument("<id-or-name>", "experiment id or name")
    .action(
      runCli(async (idOrName: string, flags: CommonFlags) => {
        const experiment = await resolveExperiment(clientFrom(flags), idOrName);
        if (flags.json) printJson({ experiment });
        else showExperiment(experiment);
      }),
    );

  withCommonOptions(experiments.command("rename").description("Rename an experiment"))
    .argument("<id>", "experiment id")
    .argument("<new-name>", "new name")
    .action(
      runCli(async (id: string, newName: string, flags: CommonFlags) => {
        await clientFrom(flags).experiments.update({ experiment_id: id, new_name: newName });
        printDone(flags.json, `Renamed experiment ${id} to '${newName}'`);
      }),
    );

  withCommonOptions(experiments.command("delete").description("Delete an experiment (and its runs); it can be restored"))
    .argument("<id>", "experiment id")
    .action(
      runCli(async (id: string, flags: CommonFlags) => {
        await clientFrom(flags).experiments.delete(id);
        printDone(flags.json, `Deleted experiment ${id} (undo with: flywheel experiments restore ${id})`);
      }),
    );

  withCommonOptions(experiments.command("restore").description("Restore a deleted experiment (and its runs)"))
    .argument("<id>", "experiment id")
    .action(
      runCli(async (id: string, flags: CommonFlags) => {
        await clientFrom(flags).experiments.restore(id);
        printDone(flags.json, `Restored experiment ${id}`);
      }),
    );

  withCommonOptions(experiments.command("tag").description("Set a tag on an experiment"))
    .argument("<id>", "experiment id")
    .argument("<key>", "tag key")
    .argument("<value>", "tag value")
    .action(
      runCli(async (id: string, key: string, value: string, flags: CommonFlags) => {
        await clientFrom(flags).experiments.setExperimentTag({ experiment_id: id, key, value });
        printDone(flags.json, `Set tag ${key}=${value} on experiment ${id}`);
      }),
    );
}
