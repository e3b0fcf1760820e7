/**
 * `flywheel models ...`: log ONNX models to runs as MLflow model packages, and work the model
 * registry: register versions, list and show them, move aliases and stages through the model's
 * gates, approve promotions, set policies, print lineage and the audit log.
 */
import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "commander";
import type { Command } from "commander";
import { ActiveRun } from "../client/tracking.js";
import type { LoggedModel } from "../client/tracking.js";
import { FieldError } from "../models/fields.js";
import { DEFAULT_ARTIFACT_PATH } from "../models/log-model.js";
import type { FlywheelModelMetadata } from "../models/metadata.js";
import { modelToDict } from "../models/mlmodel.js";
import { describeSpec, parseSignatureJson } from "../models/signature.js";
import type { Signature, SignatureSpec } from "../models/signature.js";
import { addApproveCommand, addAuditCommand, addPolicyCommand, addPromoteCommand } from "./models-governance.js";
import { addLineageCommand } from "./models-lineage.js";
import { addAliasCommand, addListCommand, addRegisterCommand, addShowCommand, addVersionsCommand } from "./models-registry.js";
import { FlywheelCommand, UsageError, clientFrom, formatFields, printBlock, printJson, printLine, runCli, withCommonOptions } from "./output.js";
import type { CommonFlags } from "./output.js";

/** `a, b ,c` is `["a", "b", "c"]`; an empty name is refused. */
export function parseFeatureList(value: string): string[] {
  const names = value.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw new InvalidArgumentError("expected comma-separated feature names, e.g. 'age,plan,tenure'.");
  return names;
}

/** `--signature`: `auto`, or a JSON file holding MLflow's `signature.to_dict()` (or the SDK's Signature). */
async function signatureOption(value: string): Promise<"auto" | Signature> {
  if (value === "auto") return "auto";
  let text: string;
  try {
    text = await readFile(value, "utf8");
  } catch (e) {
    throw new UsageError(`--signature: cannot read '${value}': ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return parseSignatureJson(text);
  } catch (e) {
    if (e instanceof FieldError) throw new UsageError(`--signature ${value}: ${e.message}`);
    throw e;
  }
}

const specList = (specs: SignatureSpec[] | undefined): string => (specs === undefined ? "-" : specs.map(describeSpec).join("; "));

function showLogged(runId: string, logged: LoggedModel): void {
  const m = logged.mlmodel;
  const fields: [string, string][] = [
    ["  Artifact path", logged.artifactPath],
    ["  Model URI", logged.modelUri],
    ["  Source", logged.source],
    ["  Inputs", specList(m.signature?.inputs)],
    ["  Outputs", specList(m.signature?.outputs)],
  ];
  if (m.flywheel?.featureService !== undefined) fields.push(["  Feature service", m.flywheel.featureService]);
  if (m.flywheel?.features !== undefined) fields.push(["  Features", m.flywheel.features.join(", ")]);
  printLine(`Logged model to run ${runId}`);
  printBlock(formatFields(fields));
}

interface LogFlags extends CommonFlags {
  runId: string;
  onnx: string;
  artifactPath: string;
  signature: string;
  features?: string[];
  featureService?: string;
}

function addLogCommand(models: Command): void {
  withCommonOptions(models.command("log").description("Log an ONNX model to a run as an MLflow model package (MLmodel + model.onnx)"))
    .requiredOption("--run-id <id>", "run to log the model to")
    .requiredOption("--onnx <file>", "the ONNX model file")
    .option("--artifact-path <path>", "directory of the package in the run's artifacts", DEFAULT_ARTIFACT_PATH)
    .option("--signature <auto|file.json>", "read the signature from the ONNX graph, or from a JSON file (MLflow's signature.to_dict())", "auto")
    .option("--features <a,b,c>", "the ordered features the model was trained on", parseFeatureList)
    .option("--feature-service <name>", "the feature service that provides the features")
    .action(
      runCli(async (flags: LogFlags) => {
        const client = clientFrom(flags);
        const signature = await signatureOption(flags.signature);
        const { run } = await client.runs.get(flags.runId);
        if (run.info.lifecycle_stage === "deleted") {
          throw new UsageError(`Run ${flags.runId} is deleted: restore it first (flywheel runs restore ${flags.runId})`);
        }
        const metadata: FlywheelModelMetadata = {
          ...(flags.features === undefined ? {} : { features: flags.features }),
          ...(flags.featureService === undefined ? {} : { featureService: flags.featureService }),
        };
        // The same path as the SDK's run.logModel, on the existing run (no background flushing: interval 0).
        const logged = await new ActiveRun(client, run.info, 0).logModel({
          onnx: flags.onnx,
          artifactPath: flags.artifactPath,
          signature,
          ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
        });
        if (flags.json) {
          printJson({
            run_id: flags.runId,
            artifact_path: logged.artifactPath,
            model_uri: logged.modelUri,
            source: logged.source,
            mlmodel: modelToDict(logged.mlmodel),
          });
        } else {
          showLogged(flags.runId, logged);
        }
      }),
    );
}

/** Registers `flywheel models` and its subcommands; returns the `models` command. */
export function registerModelsCommand(program: Command): Command {
  const models = new FlywheelCommand("models").description("Log models, and manage the model registry");
  models.copyInheritedSettings(program);
  program.addCommand(models);
  addLogCommand(models);
  addListCommand(models);
  addVersionsCommand(models);
  addShowCommand(models);
  addRegisterCommand(models);
  addAliasCommand(models);
  addPromoteCommand(models);
  addApproveCommand(models);
  addPolicyCommand(models);
  addLineageCommand(models);
  addAuditCommand(models);
  return models;
}
