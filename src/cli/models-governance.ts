/** `flywheel models promote|approve|policy|audit`: move versions through the model's gates, and the audit log. */
import { Option } from "commander";
import type { Command } from "commander";
import type { PromotionTarget, WireAuditEvent, WireModelPolicy } from "../client/wire-types.js";
import { orDash, registryClient, stageOption, versionOf, withRegistryOptions } from "./models-shared.js";
import type { RegistryFlags } from "./models-shared.js";
import { UsageError, cell, collect, formatFields, formatTable, formatTime, note, parsePositiveInt, printBlock, printJson, printLine, runCli } from "./output.js";

interface TargetFlags extends RegistryFlags {
  alias?: string;
  stage?: string;
  reason?: string;
}

/** `--alias A | --stage S` and `--reason`. */
function withTargetOptions(cmd: Command): Command {
  return cmd
    .option("--alias <alias>", "the alias to move to the version")
    .addOption(new Option("--stage <stage>", "the stage to move the version to (None, Staging, Production, Archived)").argParser(stageOption).conflicts("alias"))
    .option("--reason <text>", "why, for the audit log");
}

function targetOf(flags: TargetFlags): PromotionTarget {
  if (flags.alias !== undefined) return { alias: flags.alias };
  if (flags.stage !== undefined) return { stage: flags.stage };
  throw new UsageError("give --alias ALIAS or --stage STAGE");
}

const describeTarget = (t: PromotionTarget): string => (t.alias !== undefined ? `alias '${t.alias}'` : `stage ${t.stage}`);

interface PromoteFlags extends TargetFlags {
  archiveExisting?: boolean;
}

export function addPromoteCommand(models: Command): void {
  withTargetOptions(withRegistryOptions(models.command("promote").description("Move an alias to a version or a version to a stage, through the model's gates")))
    .argument("<version>", "NAME/VERSION (or NAME@ALIAS, any models:/ URI)")
    .addOption(new Option("--archive-existing", "with --stage: archive the model's other versions in that stage").conflicts("alias"))
    .action(
      runCli(async (value: string, flags: PromoteFlags) => {
        const to = targetOf(flags);
        const client = registryClient(flags);
        const { name, version } = await versionOf(client, value);
        const { model_version: mv } = await client.registry.promote(name, version, {
          ...to,
          ...(flags.reason === undefined ? {} : { reason: flags.reason }),
          ...(flags.archiveExisting === true ? { archive_existing_versions: true } : {}),
        });
        if (flags.json) printJson({ model_version: mv });
        else printLine(`Promoted ${name} version ${mv.version} to ${describeTarget(to)}${flags.archiveExisting === true ? " (other versions in that stage archived)" : ""}`);
      }),
    );
}

export function addApproveCommand(models: Command): void {
  withTargetOptions(withRegistryOptions(models.command("approve").description("Approve a promotion (it counts when another user promotes)")))
    .argument("<version>", "NAME/VERSION (or NAME@ALIAS, any models:/ URI)")
    .action(
      runCli(async (value: string, flags: TargetFlags) => {
        const to = targetOf(flags);
        const client = registryClient(flags);
        const { name, version } = await versionOf(client, value);
        await client.registry.approve(name, version, { ...to, ...(flags.reason === undefined ? {} : { reason: flags.reason }) });
        if (flags.json) printJson({ name, version, approver: client.user ?? "", ...to });
        else printLine(`Approved ${name} version ${version} for ${describeTarget(to)} as ${client.user ?? "(anonymous)"}`);
      }),
    );
}

interface PolicyFlags extends RegistryFlags {
  gate?: string[];
  clearGates?: boolean;
  protect?: string[];
  clearProtected?: boolean;
  requireApproval?: boolean;
  reason?: string;
}

function showPolicy(name: string, p: WireModelPolicy): void {
  printLine(`Policy of ${cell(name)}`);
  printBlock(
    formatFields([
      ["  Protected aliases", orDash(p.protected_aliases.join(", "))],
      ["  Require approval", p.require_approval ? "yes (by a user other than the requester)" : "no"],
      ["  Updated", p.updated_time > 0 ? `${formatTime(p.updated_time)} by ${orDash(p.updated_by)}` : "never (the default policy)"],
    ]),
  );
  if (p.gates.length === 0) printLine("  Gates: none");
  else {
    printLine("  Gates (each must pass on the version's run):");
    for (const g of p.gates) printLine(`    ${cell(g)}`);
  }
}

export function addPolicyCommand(models: Command): void {
  withRegistryOptions(models.command("policy").description("Show or change a model's promotion policy (protected aliases, gates, approval)"))
    .argument("<name>", "registered model name")
    .option("--gate <condition>", `a gate in the run search grammar, e.g. "metrics.auc >= 0.9" (repeatable; replaces the gates)`, collect)
    .addOption(new Option("--clear-gates", "remove every gate").conflicts("gate"))
    .option("--protect <alias>", "a protected alias (repeatable; replaces the list)", collect)
    .addOption(new Option("--clear-protected", "protect no alias").conflicts("protect"))
    .option("--require-approval", "require an approval by another user for protected promotions")
    .option("--no-require-approval", "require no approval")
    .option("--reason <text>", "why, for the audit log")
    .action(
      runCli(async (name: string, flags: PolicyFlags) => {
        const client = registryClient(flags);
        const gates = flags.clearGates === true ? [] : flags.gate;
        const protectedAliases = flags.clearProtected === true ? [] : flags.protect;
        const change = gates !== undefined || protectedAliases !== undefined || flags.requireApproval !== undefined;
        if (!change && flags.reason !== undefined) throw new UsageError("--reason goes with a change (--gate, --protect, --require-approval, ...)");
        const { policy } = change
          ? await client.registry.setPolicy(name, {
              ...(gates === undefined ? {} : { gates }),
              ...(protectedAliases === undefined ? {} : { protected_aliases: protectedAliases }),
              ...(flags.requireApproval === undefined ? {} : { require_approval: flags.requireApproval }),
              ...(flags.reason === undefined ? {} : { reason: flags.reason }),
            })
          : await client.registry.getPolicy(name);
        if (flags.json) printJson({ policy });
        else showPolicy(name, policy);
      }),
    );
}

// ---- audit ----

export function formatAuditTable(events: WireAuditEvent[]): string {
  return formatTable(
    ["TIME", "MODEL", "VERSION", "ACTION", "FROM", "TO", "ACTOR", "REASON"],
    events.map((e) => [formatTime(e.time), cell(e.model), orDash(e.version), e.action, orDash(e.from), orDash(e.to), orDash(e.actor), orDash(e.reason)]),
  );
}

interface AuditFlags extends RegistryFlags {
  limit: number;
}

export function addAuditCommand(models: Command): void {
  withRegistryOptions(models.command("audit").description("Show the registry's audit log (one model's, or every model's), most recent last"))
    .argument("[name]", "registered model name (default: every model)")
    .option("--limit <n>", "how many of the most recent events to show", parsePositiveInt, 50)
    .action(
      runCli(async (name: string | undefined, flags: AuditFlags) => {
        const client = registryClient(flags);
        if (name !== undefined) await client.registry.getRegisteredModel(name);
        // The log is read oldest first; keep the newest `limit` events.
        const events: WireAuditEvent[] = [];
        let total = 0;
        for await (const e of client.registry.auditEvents(name === undefined ? {} : { name })) {
          total++;
          events.push(e);
          if (events.length > flags.limit) events.shift();
        }
        if (flags.json) {
          printJson({ events });
          return;
        }
        if (events.length === 0) {
          printLine(name === undefined ? "The audit log is empty." : `No audit events for '${name}'.`);
          return;
        }
        printBlock(formatAuditTable(events));
        if (total > events.length) note(`(showing the last ${events.length} of ${total} events; use --limit to see more)`);
      }),
    );
}
