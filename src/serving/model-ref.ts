/** The model a serving path names: `<name>`, `<name>@<alias>`, optionally with `/versions/<v>`. */
import type { ModelRef } from "../registry/model-uri.js";
import { badRequest } from "./errors.js";

/**
 * `iris` (the latest version), `iris` + version `3`, or `iris@champion` (looked up on every call,
 * so a moved alias takes effect at once).
 */
export function modelRefOf(model: string, version?: string): ModelRef {
  if (model === "") throw badRequest("the model name must not be empty");
  const at = model.lastIndexOf("@");
  if (at !== -1) {
    const name = model.slice(0, at);
    const alias = model.slice(at + 1);
    if (name === "" || alias === "") throw badRequest(`model '${model}': expected <name> or <name>@<alias>`);
    if (version !== undefined) throw badRequest(`model '${model}': give an alias or a version, not both`);
    return { name, kind: "alias", alias };
  }
  if (version === undefined) return { name: model, kind: "latest" };
  if (!/^[1-9]\d{0,17}$/.test(version)) throw badRequest(`model '${model}': version must be a positive integer, got '${version}'`);
  return { name: model, kind: "version", version };
}
