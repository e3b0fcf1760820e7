/**
 * `models:/` URIs as MLflow writes them: `models:/<name>/<version>`, `models:/<name>/<stage>`,
 * `models:/<name>/latest` and `models:/<name>@<alias>`.
 */
import { FlywheelError } from "../core/errors.js";
import { STAGES, type Stage } from "../storage/metadata/registry-store.js";

export type ModelRef =
  | { name: string; kind: "version"; version: string }
  | { name: string; kind: "alias"; alias: string }
  | { name: string; kind: "stage"; stage: Stage }
  | { name: string; kind: "latest" };

function invalid(uri: string, why: string): FlywheelError {
  return new FlywheelError("FW_REGISTRY_INVALID_MODEL_URI", `Invalid model URI '${uri}': ${why}`);
}

/** Canonical stage name for any casing ("production" -> "Production"), or undefined. */
export function parseStage(value: string): Stage | undefined {
  return STAGES.find((s) => s.toLowerCase() === value.toLowerCase());
}

export function parseModelUri(uri: string): ModelRef {
  if (!uri.startsWith("models:/")) throw invalid(uri, "expected models:/<name>/<version>, models:/<name>/<stage>, models:/<name>/latest or models:/<name>@<alias>");
  const rest = uri.slice("models:/".length).replace(/^\/+/, "");
  const slash = rest.lastIndexOf("/");
  if (slash === -1) {
    const at = rest.lastIndexOf("@");
    if (at <= 0 || at === rest.length - 1) throw invalid(uri, "a model URI names a version, a stage, 'latest' or an alias");
    return { name: rest.slice(0, at), kind: "alias", alias: rest.slice(at + 1) };
  }
  const name = rest.slice(0, slash);
  const tail = rest.slice(slash + 1);
  if (name === "" || tail === "") throw invalid(uri, "the model name and the version part must not be empty");
  if (/^[1-9]\d*$/.test(tail)) return { name, kind: "version", version: tail };
  if (tail.toLowerCase() === "latest") return { name, kind: "latest" };
  const stage = parseStage(tail);
  if (stage !== undefined) return { name, kind: "stage", stage };
  throw invalid(uri, `'${tail}' is not a version number, a stage (${STAGES.join(", ")}) or 'latest'`);
}

/** Accepts `models:/...` or the shorthand `name@alias` / `name/version` used by the CLI. */
export function parseModelRef(value: string): ModelRef {
  if (value.startsWith("models:/")) return parseModelUri(value);
  return parseModelUri(`models:/${value}`);
}
