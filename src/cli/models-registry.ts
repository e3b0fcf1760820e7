/** `flywheel models list|versions|show|register|alias`: browse the model registry and add to it. */
import { Option } from "commander";
import type { Command } from "commander";
import { FlywheelApiError } from "../client/errors.js";
import type { WireModelVersion, WireRegisteredModel, WireTag } from "../client/wire-types.js";
import { modelUri, orDash, parseRef, registryClient, withRegistryOptions } from "./models-shared.js";
import type { RegistryFlags } from "./models-shared.js";
import {
  UsageError,
  cell,
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
} from "./output.js";
import type { Column } from "./output.js";

/** A quoted string literal of the search grammar. */
const quoted = (s: string): string => `'${s.replace(/'/g, "''")}'`;

const STAGE_ORDER = ["Production", "Staging", "None", "Archived"];

const byKey = (a: WireTag, b: WireTag): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

function printTags(tags: WireTag[]): void {
  printLine();
  if (tags.length === 0) {
    printLine("Tags: none");
    return;
  }
  printLine("Tags:");
  printBlock(indent(formatTable(["KEY", "VALUE"], [...tags].sort(byKey).map((t) => [cell(t.key), cell(t.value)]))));
}

/** The versions table; a STATUS MESSAGE column when a registration failed. */
export function formatVersionsTable(versions: WireModelVersion[]): string {
  const failed = versions.some((v) => v.status === "FAILED_REGISTRATION");
  const columns: Column[] = [
    { header: "VERSION", align: "right" },
    { header: "STAGE" },
    { header: "STATUS" },
    { header: "ALIASES" },
    { header: "RUN ID" },
    { header: "CREATED" },
    ...(failed ? [{ header: "STATUS MESSAGE" }] : []),
  ];
  const rows = versions.map((v) => [
    v.version,
    v.current_stage,
    v.status,
    orDash(v.aliases.join(", ")),
    orDash(v.run_id),
    formatTime(v.creation_timestamp),
    ...(failed ? [orDash(v.status === "FAILED_REGISTRATION" ? v.status_message : undefined)] : []),
  ]);
  return formatTable(columns, rows);
}

/** `Production: 3, Staging: 2, None: 4`. */
function latestPerStage(m: WireRegisteredModel): string {
  const rank = (stage: string) => STAGE_ORDER.indexOf(stage);
  const latest = [...m.latest_versions].sort((a, b) => rank(a.current_stage) - rank(b.current_stage));
  return latest.map((v) => `${v.current_stage}: ${v.version}`).join(", ");
}

const aliasList = (m: WireRegisteredModel): string => m.aliases.map((a) => `${a.alias}=${a.version}`).join(", ");

export function formatModelsTable(models: WireRegisteredModel[]): string {
  return formatTable(
    ["NAME", "LATEST VERSIONS", "ALIASES", "UPDATED"],
    models.map((m) => [cell(m.name), orDash(latestPerStage(m)), orDash(aliasList(m)), formatTime(m.last_updated_timestamp)]),
  );
}

function showRegisteredModel(m: WireRegisteredModel): void {
  printLine(`Registered model ${cell(m.name)}`);
  printBlock(
    formatFields([
      ["  Description", orDash(m.description)],
      ["  Aliases", orDash(aliasList(m))],
      ["  User", orDash(m.user_id)],
      ["  Created", formatTime(m.creation_timestamp)],
      ["  Last updated", formatTime(m.last_updated_timestamp)],
    ]),
  );
  printLine();
  if (m.latest_versions.length === 0) printLine("Latest versions: none");
  else {
    printLine("Latest versions (per stage):");
    printBlock(indent(formatVersionsTable(m.latest_versions)));
  }
  printTags(m.tags);
}

function showVersion(v: WireModelVersion, downloadUri: string): void {
  const fields: [string, string][] = [
    ["  Stage", v.current_stage],
    ["  Status", v.status],
  ];
  if (v.status_message !== undefined) fields.push(["  Status message", cell(v.status_message)]);
  fields.push(
    ["  Aliases", orDash(v.aliases.join(", "))],
    ["  Source", cell(v.source)],
    ["  Download URI", cell(downloadUri)],
    ["  Run ID", orDash(v.run_id)],
  );
  if (v.run_link !== undefined) fields.push(["  Run link", cell(v.run_link)]);
  fields.push(
    ["  Description", orDash(v.description)],
    ["  User", orDash(v.user_id)],
    ["  Created", formatTime(v.creation_timestamp)],
    ["  Last updated", formatTime(v.last_updated_timestamp)],
  );
  printLine(`Model version ${cell(v.name)}/${v.version}`);
  printBlock(formatFields(fields));
  printTags(v.tags);
}

interface ListFlags extends RegistryFlags {
  filter?: string;
  orderBy?: string[];
  maxResults: number;
}

export function addListCommand(models: Command): void {
  withRegistryOptions(models.command("list").description("List registered models: latest version per stage, aliases"))
    .option("--filter <filter>", `search filter, e.g. "name LIKE 'churn%'" or "tags.team = 'ml'"`)
    .option("--order-by <clause>", `sort clause, e.g. "name ASC" or "last_updated_timestamp DESC" (repeatable)`, collect)
    .option("--max-results <n>", "how many models to show (pages are followed)", parsePositiveInt, 100)
    .action(
      runCli(async (flags: ListFlags) => {
        const client = registryClient(flags);
        const result = await collectPages(flags.maxResults, async (maxResults, pageToken) => {
          const page = await client.registry.searchRegisteredModels({
            max_results: maxResults,
            ...(pageToken === undefined ? {} : { page_token: pageToken }),
            ...(flags.filter === undefined ? {} : { filter: flags.filter }),
            ...(flags.orderBy === undefined ? {} : { order_by: flags.orderBy }),
          });
          return { items: page.registered_models, next: page.next_page_token };
        });
        if (flags.json) {
          printJson({ registered_models: result.items, ...(result.nextPageToken === undefined ? {} : { next_page_token: result.nextPageToken }) });
          return;
        }
        if (result.items.length === 0) {
          printLine("No registered models found.");
          return;
        }
        printBlock(formatModelsTable(result.items));
        if (result.more) note(`(showing the first ${result.items.length}; use --max-results to see more)`);
      }),
    );
}

interface VersionsFlags extends RegistryFlags {
  maxResults: number;
}

export function addVersionsCommand(models: Command): void {
  withRegistryOptions(models.command("versions").description("List the versions of a registered model (newest first)"))
    .argument("<name>", "registered model name")
    .option("--max-results <n>", "how many versions to show (pages are followed)", parsePositiveInt, 100)
    .action(
      runCli(async (name: string, flags: VersionsFlags) => {
        const client = registryClient(flags);
        const result = await collectPages(flags.maxResults, async (maxResults, pageToken) => {
          const page = await client.registry.searchModelVersions({
            filter: `name = ${quoted(name)}`,
            max_results: maxResults,
            ...(pageToken === undefined ? {} : { page_token: pageToken }),
          });
          return { items: page.model_versions, next: page.next_page_token };
        });
        // An empty answer is either a model without versions or no model at all: ask, so the latter fails.
        if (result.items.length === 0) await client.registry.getRegisteredModel(name);
        if (flags.json) {
          printJson({ model_versions: result.items, ...(result.nextPageToken === undefined ? {} : { next_page_token: result.nextPageToken }) });
          return;
        }
        if (result.items.length === 0) {
          printLine(`Registered model '${name}' has no versions.`);
          return;
        }
        printBlock(formatVersionsTable(result.items));
        if (result.more) note(`(showing the newest ${result.items.length}; use --max-results to see more)`);
      }),
    );
}

export function addShowCommand(models: Command): void {
  withRegistryOptions(models.command("show").description("Show a registered model (NAME) or a version (NAME/VERSION, NAME@ALIAS, any models:/ URI)"))
    .argument("<model>", "NAME, NAME/VERSION, NAME@ALIAS, NAME/latest, NAME/<stage> or models:/...")
    .action(
      runCli(async (value: string, flags: RegistryFlags) => {
        const client = registryClient(flags);
        if (!value.startsWith("models:/") && !value.includes("/") && !value.includes("@")) {
          const { registered_model } = await client.registry.getRegisteredModel(value);
          if (flags.json) printJson({ registered_model });
          else showRegisteredModel(registered_model);
          return;
        }
        parseRef(value);
        const resolved = await client.registry.resolve(modelUri(value));
        if (flags.json) printJson(resolved);
        else showVersion(resolved.model_version, resolved.artifact_uri);
      }),
    );
}

interface RegisterFlags extends RegistryFlags {
  source: string;
  runId?: string;
  description?: string;
  tag?: [string, string][];
}

export function addRegisterCommand(models: Command): void {
  withRegistryOptions(models.command("register").description("Register a model package as a new version (creating the registered model when missing)"))
    .argument("<name>", "registered model name")
    .requiredOption("--source <uri>", "the package: runs:/<run_id>/<path>, mlflow-artifacts:/... (e.g. the Model URI 'models log' printed)")
    .option("--run-id <id>", "the run that produced the package")
    .option("--description <text>", "description of the version")
    .option("--tag <key=value>", "version tag (repeatable)", collectKeyValue)
    .action(
      runCli(async (name: string, flags: RegisterFlags) => {
        const client = registryClient(flags);
        let created = true;
        try {
          await client.registry.createRegisteredModel({ name });
        } catch (e) {
          if (!(e instanceof FlywheelApiError && e.errorCode === "RESOURCE_ALREADY_EXISTS")) throw e;
          created = false;
        }
        const { model_version: mv } = await client.registry.createModelVersion({
          name,
          source: flags.source,
          ...(flags.runId === undefined ? {} : { run_id: flags.runId }),
          ...(flags.description === undefined ? {} : { description: flags.description }),
          ...(flags.tag === undefined ? {} : { tags: flags.tag.map(([key, value]) => ({ key, value })) }),
        });
        if (flags.json) printJson({ model_version: mv });
        else {
          if (created) printLine(`Created registered model '${name}'`);
          printLine(`Registered ${name} version ${mv.version}: ${mv.status}`);
        }
        if (mv.status === "FAILED_REGISTRATION") {
          note(`error: the package of ${name} version ${mv.version} failed its check: ${mv.status_message ?? "no reason given"}`);
          process.exitCode = 1;
        }
      }),
    );
}

interface AliasFlags extends RegistryFlags {
  reason?: string;
  delete?: boolean;
}

export function addAliasCommand(models: Command): void {
  withRegistryOptions(models.command("alias").description("Point an alias at a version (through the gates when it is protected), or delete it"))
    .argument("<name>", "registered model name")
    .argument("<alias>", "alias, e.g. champion")
    .argument("[version]", "version the alias points at")
    .option("--reason <text>", "why, for the audit log")
    .addOption(new Option("--delete", "delete the alias").conflicts("reason"))
    .action(
      runCli(async (name: string, alias: string, version: string | undefined, flags: AliasFlags) => {
        if (flags.delete === true) {
          if (version !== undefined) throw new UsageError("--delete takes no VERSION");
          await registryClient(flags).registry.deleteRegisteredModelAlias(name, alias);
          printDone(flags.json, `Deleted alias '${alias}' of ${name}`);
          return;
        }
        if (version === undefined) throw new UsageError("give the VERSION the alias points at, or --delete");
        const { model_version: mv } = await registryClient(flags).registry.promote(name, version, { alias, ...(flags.reason === undefined ? {} : { reason: flags.reason }) });
        if (flags.json) printJson({ model_version: mv });
        else printLine(`Alias '${alias}' of ${name} now points at version ${mv.version}`);
      }),
    );
}
