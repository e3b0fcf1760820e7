/**
 * `flywheel predict`: scores a Parquet, CSV or NDJSON file with a registered model. The server
 * named by --tracking-uri resolves the reference and serves the package (MLmodel + model.onnx)
 * through its artifact API; ONNX Runtime runs in this process.
 */
import { InvalidArgumentError } from "commander";
import type { Command } from "commander";
import { artifactProxyPrefix } from "../client/active-run.js";
import type { FlywheelClient } from "../client/http-client.js";
import { isFlywheelError } from "../core/errors.js";
import { onnxFlavorOf, parseMlmodel, type ModelPackage } from "../models/mlmodel.js";
import { TABLE_FORMATS, parseTableFormat } from "../serving/batch-formats.js";
import { DEFAULT_BATCH_SIZE, openScoringModel, scoreFile, type BatchScoringResult, type TableFormat } from "../serving/batch-scoring.js";
import { modelUri, parseRef } from "./models-shared.js";
import { FlywheelCommand, UsageError, clientFrom, io, parsePositiveInt, printJson, printLine, runCli, withCommonOptions } from "./output.js";
import type { CommonFlags } from "./output.js";
import { ProgressLine } from "./progress.js";

interface PredictFlags extends CommonFlags {
  model: string;
  input: string;
  output: string;
  format?: TableFormat;
  inputFormat?: TableFormat;
  batchSize: number;
  intraOpThreads?: number;
  columns?: string[];
  outputs?: string[];
  prefix?: string;
  progress?: boolean;
}

function formatOption(value: string): TableFormat {
  const format = parseTableFormat(value);
  if (format === undefined) throw new InvalidArgumentError(`expected ${TABLE_FORMATS.join(", ")}.`);
  return format;
}

/** `a, b ,c` is `["a", "b", "c"]`; an empty name is refused. */
function nameList(value: string): string[] {
  const names = value.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw new InvalidArgumentError("expected comma-separated names, e.g. 'age,plan,tenure'.");
  return names;
}

/** The package a resolved version points at: its MLmodel, parsed, and its ONNX graph. */
async function downloadPackage(client: FlywheelClient, artifactUri: string, what: string): Promise<{ pkg: ModelPackage; onnx: Buffer }> {
  const prefix = artifactProxyPrefix(artifactUri);
  const file = (name: string) => (prefix === "" ? name : `${prefix}/${name}`);
  let pkg: ModelPackage;
  try {
    pkg = parseMlmodel((await client.downloadArtifact(file("MLmodel"))).toString("utf8"));
    return { pkg, onnx: await client.downloadArtifact(file(onnxFlavorOf(pkg).data)) };
  } catch (e) {
    throw new Error(`${what}: cannot load its package from ${artifactUri}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function summary(result: BatchScoringResult, name: string, version: string, seconds: number): string {
  const rate = seconds > 0 ? `, ${Math.round(result.rows / seconds).toLocaleString("en-US")} rows/s` : "";
  return `Scored ${result.rows.toLocaleString("en-US")} rows with ${name} version ${version} in ${seconds.toFixed(1)}s${rate}: ${result.output}`;
}

/** Registers `flywheel predict`; returns the command. */
export function registerPredictCommand(program: Command): Command {
  const cmd = new FlywheelCommand("predict").description(
    "Score a Parquet, CSV or NDJSON file with a registered model, in bounded memory: the input's columns, then the predictions, model_name and model_version",
  );
  cmd.copyInheritedSettings(program);
  program.addCommand(cmd);
  withCommonOptions(cmd)
    .requiredOption("--model <ref>", "the model: NAME@ALIAS, NAME/VERSION, NAME/latest, NAME/STAGE or a models:/ URI")
    .requiredOption("--input <file>", "the table to score (.parquet, .csv, .ndjson/.jsonl; a glob for several files)")
    .requiredOption("--output <file>", "where to write the scored table; written whole or not at all")
    .option("--format <format>", `output format, ${TABLE_FORMATS.join("|")} (default: from the output's extension)`, formatOption)
    .option("--input-format <format>", `input format, ${TABLE_FORMATS.join("|")} (default: from the input's extension)`, formatOption)
    .option("--batch-size <rows>", "rows per ONNX Runtime call", parsePositiveInt, DEFAULT_BATCH_SIZE)
    .option("--intra-op-threads <n>", "threads ONNX Runtime uses inside one operator (default 1)", parsePositiveInt)
    .option("--columns <a,b,c>", "the columns that feed the model, in order (default: the package's features, else the model's input names, else every numeric column)", nameList)
    .option("--outputs <a,b>", "the model outputs to write (default: all)", nameList)
    .option("--prefix <text>", "put before the name of every added column, e.g. pred_")
    .option("--progress", "draw the progress line even when stderr is not a terminal")
    .option("--no-progress", "never draw the progress line")
    .action(
      runCli(async (flags: PredictFlags) => {
        parseRef(flags.model);
        const client = clientFrom(flags);
        const uri = modelUri(flags.model);
        const { model_version: mv, artifact_uri: artifactUri } = await client.registry.resolve(uri);
        const what = `model '${mv.name}' version ${mv.version}`;
        if (mv.status !== "READY") throw new UsageError(`${what} cannot be used: its status is ${mv.status}`);
        const { pkg, onnx } = await downloadPackage(client, artifactUri, what);
        const model = await openScoringModel({ name: mv.name, version: mv.version, package: pkg, onnx }, flags.intraOpThreads === undefined ? {} : { intraOpNumThreads: flags.intraOpThreads });
        const show = flags.progress ?? process.stderr.isTTY === true;
        const line = show ? new ProgressLine((text) => io.err(text)) : undefined;
        const started = performance.now();
        // Ctrl-C stops the run cleanly: the temporary files go, and no output appears.
        const stop = new AbortController();
        const onSigint = () => stop.abort();
        process.once("SIGINT", onSigint);
        let result: BatchScoringResult;
        try {
          result = await scoreFile(model, {
            input: flags.input,
            output: flags.output,
            ...(flags.inputFormat === undefined ? {} : { inputFormat: flags.inputFormat }),
            ...(flags.format === undefined ? {} : { outputFormat: flags.format }),
            batchSize: flags.batchSize,
            ...(flags.columns === undefined ? {} : { columns: flags.columns }),
            ...(flags.outputs === undefined ? {} : { outputs: flags.outputs }),
            ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }),
            modelUri: uri,
            ...(line === undefined ? {} : { onProgress: line.update }),
            signal: stop.signal,
          });
        } catch (e) {
          // Bad input (a missing file or column, a wrong type...) is a usage error: exit code 2.
          if (isFlywheelError(e) && e.status < 500) throw new UsageError(e.message);
          throw e;
        } finally {
          process.off("SIGINT", onSigint);
          line?.end();
          await model.release();
        }
        const seconds = (performance.now() - started) / 1000;
        if (flags.json) {
          printJson({
            rows: result.rows,
            output: result.output,
            input_format: result.inputFormat,
            output_format: result.outputFormat,
            input_rule: result.rule,
            input_columns: result.inputColumns,
            added_columns: result.addedColumns,
            model_name: mv.name,
            model_version: mv.version,
            model_uri: uri,
            seconds,
          });
        } else {
          printLine(summary(result, mv.name, mv.version, seconds));
        }
      }),
    );
  return cmd;
}
