#!/usr/bin/env node
/** The `flywheel` command: one file per noun. */
import { Command } from "commander";
import { isFlywheelError } from "../core/errors.js";
import { VERSION } from "../core/version.js";
import { registerExperimentsCommand } from "./experiments.js";
import { registerFeaturesCommand } from "./features.js";
import { registerModelsCommand } from "./models.js";
import { registerMonitorCommand } from "./monitor.js";
import { registerPredictCommand } from "./predict.js";
import { registerRunsCommand } from "./runs.js";
import { registerScoreStreamCommand } from "./score-stream.js";
import { registerServerCommand } from "./server.js";

const program = new Command()
  .name("flywheel")
  .description("Flywheel: the ML lifecycle in one package")
  .version(VERSION);

registerServerCommand(program);
registerExperimentsCommand(program);
registerRunsCommand(program);
registerModelsCommand(program);
registerFeaturesCommand(program);
registerPredictCommand(program);
registerScoreStreamCommand(program);
registerMonitorCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (isFlywheelError(e)) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(e.status >= 500 ? 1 : 2);
  }
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
