/**
 * Shared pieces of the client-side CLI commands: the error wrapper, table formatting, the common
 * `--tracking-uri`/`--json` options, option parsers and paging.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import type { ErrorOptions } from "commander";
import { FlywheelApiError, FlywheelConnectionError } from "../client/errors.js";
import { FlywheelClient } from "../client/http-client.js";
import { resolveTrackingUri } from "../client/tracking.js";
import type { ViewType } from "../client/wire-types.js";

/** A mistake in how the command was called; exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Commander's own parse errors that mean "bad usage" (exit code 2 rather than 1). */
const USAGE_CODES = new Set([
  "commander.missingArgument",
  "commander.optionMissingArgument",
  "commander.missingMandatoryOptionValue",
  "commander.conflictingOption",
  "commander.unknownOption",
  "commander.excessArguments",
  "commander.unknownCommand",
  "commander.invalidArgument",
]);

/**
 * A Command whose parse errors (missing argument, unknown option, invalid value, ...) exit with
 * code 2; its subcommands are FlywheelCommands too.
 */
export class FlywheelCommand extends Command {
  override createCommand(name?: string): Command {
    return new FlywheelCommand(name);
  }

  override error(message: string, errorOptions?: ErrorOptions): never {
    const code = errorOptions?.code;
    const usage = code !== undefined && USAGE_CODES.has(code);
    return super.error(message, { ...errorOptions, exitCode: usage ? 2 : (errorOptions?.exitCode ?? 1) });
  }
}

/** Writes to stdout/stderr; tests replace it. */
export const io = {
  out(text: string): void {
    process.stdout.write(text);
  },
  err(text: string): void {
    process.stderr.write(text);
  },
};

export function printLine(text = ""): void {
  io.out(`${text}\n`);
}

/** Writes a block of text (e.g. a formatted table), ending it with exactly one newline. */
export function printBlock(text: string): void {
  io.out(text.endsWith("\n") ? text : `${text}\n`);
}

/** Indents every non-empty line. */
export function indent(text: string, by = "  "): string {
  return text
    .split("\n")
    .map((l) => (l === "" ? l : by + l))
    .join("\n");
}

export function printJson(value: unknown): void {
  io.out(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

/** Acknowledges a command that returns nothing: `{}` with --json, else the sentence. */
export function printDone(json: boolean | undefined, message: string): void {
  if (json === true) printJson({});
  else printLine(message);
}

/** Non-finite numbers as MLflow spells them ("NaN", "Infinity"), instead of JSON's null. */
function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  return v;
}

/** Exit code for an error thrown by a command action. */
export function exitCodeFor(e: unknown): number {
  return e instanceof UsageError ? 2 : 1;
}

/**
 * Wraps a command action: any error is printed as `error: <message>` on stderr (no stack trace,
 * except for unexpected errors when FLYWHEEL_DEBUG is set) and sets the exit code, 2 for a
 * UsageError and 1 otherwise.
 */
export function runCli<A extends unknown[]>(action: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (e) {
      const known = e instanceof FlywheelApiError || e instanceof FlywheelConnectionError || e instanceof UsageError;
      const message = e instanceof Error ? e.message : String(e);
      io.err(`error: ${message}\n`);
      if (!known && e instanceof Error && e.stack !== undefined && isDebug()) io.err(`${e.stack}\n`);
      process.exitCode = exitCodeFor(e);
    }
  };
}

function isDebug(): boolean {
  const v = process.env.FLYWHEEL_DEBUG;
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
}

// ---- Common options ----

export interface CommonFlags {
  trackingUri?: string;
  json?: boolean;
}

/** Adds `--tracking-uri` and `--json` to a subcommand. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option(
      "--tracking-uri <url>",
      "tracking server (default: env FLYWHEEL_TRACKING_URI or MLFLOW_TRACKING_URI, else http://127.0.0.1:5000)",
    )
    .option("--json", "print the raw JSON answer instead of a table");
}

/** A client for the `--tracking-uri` flag (or the environment, or the default). */
export function clientFrom(flags: CommonFlags, env: NodeJS.ProcessEnv = process.env): FlywheelClient {
  const uri = resolveTrackingUri(flags.trackingUri, env);
  try {
    return new FlywheelClient({ baseUrl: uri });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

// ---- Option parsers ----

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("expected a positive integer.");
  }
  return n;
}

/** Accumulates a repeatable option into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses `k=v` (the value may contain '='); accumulates into an array of pairs. */
export function collectKeyValue(value: string, previous: [string, string][] | undefined): [string, string][] {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got '${value}'.`);
  return [...(previous ?? []), [value.slice(0, eq), value.slice(eq + 1)]];
}

export type ViewFlag = "active" | "deleted" | "all";

export function viewOption(): Option {
  return new Option("--view <view>", "which lifecycle stages to show").choices(["active", "deleted", "all"]).default("active");
}

export function toViewType(view: ViewFlag | undefined): ViewType {
  if (view === "deleted") return "DELETED_ONLY";
  if (view === "all") return "ALL";
  return "ACTIVE_ONLY";
}

// ---- Formatting ----

export type Align = "left" | "right";

export interface Column {
  header: string;
  align?: Align;
}

/** Lays rows out in columns as wide as their widest cell, separated by two spaces. */
export function formatTable(columns: (Column | string)[], rows: string[][]): string {
  const cols: Column[] = columns.map((c) => (typeof c === "string" ? { header: c } : c));
  const widths = cols.map((c, i) => Math.max(displayWidth(c.header), ...rows.map((r) => displayWidth(r[i] ?? ""))));
  const line = (cells: string[], isHeader: boolean): string =>
    cols
      .map((c, i) => {
        const cell = cells[i] ?? "";
        const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(cell)));
        return c.align === "right" && !isHeader ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(cols.map((c) => c.header), true), ...rows.map((r) => line(r, false))].join("\n") + "\n";
}

/** Key/value lines with the keys padded to one width. */
export function formatFields(fields: [string, string][]): string {
  const width = Math.max(0, ...fields.map(([k]) => displayWidth(k) + 1));
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`.trimEnd()).join("\n") + "\n";
}

/** Width of a cell, counted in code points (so a surrogate pair counts once). */
function displayWidth(s: string): number {
  return [...s].length;
}

/** Makes a cell one line: newlines and tabs become visible escapes. */
export function cell(value: string): string {
  return value.replace(/\r?\n/g, "\\n").replace(/\t/g, "\\t");
}

/** Epoch milliseconds as an ISO string; "-" when absent. */
export function formatTime(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms) || ms <= 0) return "-";
  return new Date(ms).toISOString();
}

/** A metric value, full precision. */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "Infinity";
  if (v === Number.NEGATIVE_INFINITY) return "-Infinity";
  return String(v);
}

/** A metric value for a table column: at most 6 significant digits. */
export function formatCompact(v: number): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return formatNumber(v);
  return String(Number(v.toPrecision(6)));
}

/** Duration between two epoch-millisecond times, e.g. "1h02m", "3m05s", "4.2s". */
export function formatDuration(startMs: number, endMs: number | undefined): string {
  if (endMs === undefined || !Number.isFinite(endMs) || endMs < startMs || startMs <= 0) return "-";
  const s = (endMs - startMs) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

// ---- Paging ----

/** Largest page asked of the server when following pages. */
export const PAGE_SIZE = 1000;

/**
 * Collects up to `limit` items by following page tokens. `more` is true when the server has
 * items beyond the limit.
 */
export async function collectPages<T>(
  limit: number,
  fetchPage: (maxResults: number, pageToken: string | undefined) => Promise<{ items: T[]; next?: string | undefined }>,
): Promise<{ items: T[]; more: boolean; nextPageToken: string | undefined }> {
  const items: T[] = [];
  let token: string | undefined = undefined;
  for (;;) {
    const want = Math.min(limit - items.length, PAGE_SIZE);
    const page = await fetchPage(want, token);
    items.push(...page.items);
    const next = page.next;
    if (items.length >= limit) {
      const more = next !== undefined || items.length > limit;
      return { items: items.slice(0, limit), more, nextPageToken: items.length > limit ? undefined : next };
    }
    if (next === undefined || next === token) return { items, more: false, nextPageToken: undefined };
    token = next;
  }
}

/** Prints a note on stderr (kept out of stdout so piped output stays clean). */
export function note(text: string): void {
  io.err(`${text}\n`);
}
