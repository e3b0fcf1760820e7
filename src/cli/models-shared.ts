/**
 * What the `flywheel models` registry subcommands share: `--user` and the requester, the registry
 * client, model references, the `--stage` option and small formatters.
 */
import { userInfo } from "node:os";
import { InvalidArgumentError } from "commander";
import type { Command } from "commander";
import { FlywheelClient, normalizeUser } from "../client/http-client.js";
import { isFlywheelError } from "../core/errors.js";
import { parseModelRef, parseStage } from "../registry/model-uri.js";
import type { ModelRef } from "../registry/model-uri.js";
import { UsageError, cell, clientFrom, withCommonOptions } from "./output.js";
import type { CommonFlags } from "./output.js";

export interface RegistryFlags extends CommonFlags {
  user?: string;
}

/** `--user`: a non-empty name that fits in an HTTP header. */
function userOption(value: string): string {
  let user: string;
  try {
    user = normalizeUser(value);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
  if (user === "") throw new InvalidArgumentError("expected a user name.");
  return user;
}

/** The requester when --user is not given: env FLYWHEEL_USER, else the OS user, else nobody. */
export function defaultUser(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.FLYWHEEL_USER?.trim();
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return "";
  }
}

/** Adds `--tracking-uri`, `--json` and `--user` to a registry subcommand. */
export function withRegistryOptions(cmd: Command): Command {
  return withCommonOptions(cmd).option("--user <name>", "who is asking, sent as X-Flywheel-User (default: env FLYWHEEL_USER, else the OS user name)", userOption);
}

/** A client for `--tracking-uri` that identifies itself as `--user`. */
export function registryClient(flags: RegistryFlags): FlywheelClient {
  const { baseUrl } = clientFrom(flags);
  const user = flags.user ?? defaultUser();
  try {
    return new FlywheelClient({ baseUrl, user });
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)} (pass --user NAME)`);
  }
}

/** `name/version`, `name@alias`, `name/latest`, `name/<stage>` or any `models:/` URI. */
export function parseRef(value: string): ModelRef {
  try {
    return parseModelRef(value);
  } catch (e) {
    if (isFlywheelError(e)) throw new UsageError(e.message);
    throw e;
  }
}

export const modelUri = (value: string): string => (value.startsWith("models:/") ? value : `models:/${value}`);

/** The name and version a reference names now: `NAME/VERSION` as is, anything else resolved by the server. */
export async function versionOf(client: FlywheelClient, value: string): Promise<{ name: string; version: string }> {
  const ref = parseRef(value);
  if (ref.kind === "version") return { name: ref.name, version: ref.version };
  const { model_version: mv } = await client.registry.resolve(modelUri(value));
  return { name: mv.name, version: mv.version };
}

/** `--stage`: any casing of None, Staging, Production, Archived. */
export function stageOption(value: string): string {
  const stage = parseStage(value);
  if (stage === undefined) throw new InvalidArgumentError("expected None, Staging, Production or Archived.");
  return stage;
}

/** A cell, or `-` when there is nothing to show. */
export const orDash = (s: string | null | undefined): string => (s === undefined || s === null || s === "" ? "-" : cell(s));
