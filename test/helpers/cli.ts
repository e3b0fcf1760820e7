/** Runs the `flywheel` CLI in-process for tests: commander's and the commands' output captured, the exit code read back. */
import { Command, CommanderError } from "commander";
import { io } from "../../src/cli/output.js";

export interface CliResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface CliHarness {
  /** Which command groups the program has, e.g. `registerModelsCommand`. */
  register: ReadonlyArray<(program: Command) => unknown>;
  /** The server a run talks to unless its args name a `--tracking-uri`; read at each run, as servers start in beforeAll/beforeEach. */
  trackingUri: () => string;
}

/** `io` as the tests found it, put back after each run. */
const original = { ...io };

/**
 * A `flywheel(...args)` function: each call builds a fresh program with `h.register`, parses
 * `flywheel <args> --tracking-uri <server>` (just `flywheel <args>` when they name a
 * `--tracking-uri`), and answers what went to stdout and stderr (through commander and through
 * `io`) and the exit code (process.exitCode, or a CommanderError's). `io` and process.exitCode
 * are restored afterwards.
 */
export function cliHarness(h: CliHarness): (...args: string[]) => Promise<CliResult> {
  return async (...args) => {
    let stdout = "";
    let stderr = "";
    io.out = (s) => {
      stdout += s;
    };
    io.err = (s) => {
      stderr += s;
    };
    const program = new Command()
      .name("flywheel")
      .exitOverride()
      .configureOutput({
        writeOut: (s) => {
          stdout += s;
        },
        writeErr: (s) => {
          stderr += s;
        },
      });
    for (const register of h.register) register(program);
    const withUri = args.includes("--tracking-uri") ? args : [...args, "--tracking-uri", h.trackingUri()];
    process.exitCode = undefined;
    let exitCode: number;
    try {
      await program.parseAsync(["node", "flywheel", ...withUri]);
      exitCode = Number(process.exitCode ?? 0);
    } catch (e) {
      if (!(e instanceof CommanderError)) throw e;
      exitCode = e.exitCode;
    } finally {
      process.exitCode = undefined;
      Object.assign(io, original);
    }
    return { stdout, stderr, exitCode };
  };
}

/** The cells of each table line (columns are separated by two or more spaces). */
export function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => l.trim().split(/\s{2,}/));
}
