/**
 * Loads feature definitions from files: TypeScript or JavaScript modules (every exported
 * definition object, or list of them, is collected; TypeScript is bundled with esbuild first,
 * packages left to Node's resolution) and YAML files (sections `entities`, `sources`,
 * `feature_views`, `on_demand_feature_views`, `feature_services`, keys in snake_case).
 * A directory is searched recursively, skipping `node_modules`, hidden folders, tests and
 * declaration files.
 */
import { randomUUID } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";
import { FlywheelError } from "../core/errors.js";
import { KIND_LABEL, type DefinitionKind, type FeatureRepo } from "./definitions.js";
import { normalizeDefinitions } from "./normalize.js";
import { validateRepo } from "./validate.js";

const MODULE_EXT = new Set([".ts", ".mts", ".js", ".mjs"]);
const YAML_EXT = new Set([".yaml", ".yml"]);

export interface AuthoredObject {
  value: unknown;
  /** Where it came from, for messages: `repo/driver.ts: export driverStats`. */
  where: string;
}

/** The definition files a path names (itself, or those below a directory), sorted. */
export function definitionFiles(path: string): string[] {
  const abs = resolve(path);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Definitions path '${path}' does not exist`, { details: { field: "path" } });
  }
  if (st.isFile()) {
    const ext = extname(abs).toLowerCase();
    if (!MODULE_EXT.has(ext) && !YAML_EXT.has(ext)) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Definitions file '${path}' must end in .ts, .mts, .js, .mjs, .yaml or .yml`, {
        details: { field: "path" },
      });
    }
    return [abs];
  }
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".") || name === "node_modules") continue;
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (isDefinitionFile(name)) out.push(p);
    }
  };
  walk(abs);
  return out;
}

function isDefinitionFile(name: string): boolean {
  if (/\.(test|spec)\.[cm]?[jt]s$/.test(name) || name.endsWith(".d.ts")) return false;
  const ext = extname(name).toLowerCase();
  return MODULE_EXT.has(ext) || YAML_EXT.has(ext);
}

/** Reads every definition in `paths` into a normalized, validated repo. */
export async function loadRepo(paths: readonly string[]): Promise<FeatureRepo> {
  const objects: AuthoredObject[] = [];
  let baseDir = process.cwd();
  for (const p of paths) {
    for (const file of definitionFiles(p)) {
      baseDir = dirname(file);
      const found = YAML_EXT.has(extname(file).toLowerCase()) ? readYamlDefinitions(file) : await readModuleDefinitions(file);
      // Relative source paths are resolved per file, so each object is normalized with its own base.
      objects.push(...found.map((o) => ({ ...o, baseDir })));
    }
  }
  return repoFromObjects(objects);
}

/** Normalizes objects that may come from files in different folders, then validates the whole. */
export function repoFromObjects(objects: readonly (AuthoredObject & { baseDir?: string })[]): FeatureRepo {
  const fixed = objects.map((o) => ({ value: absolutizePaths(o.value, o.baseDir ?? process.cwd()), where: o.where }));
  const repo = normalizeDefinitions(fixed, { baseDir: process.cwd() });
  validateRepo(repo);
  return repo;
}

/** Resolves relative file-source paths (also inline ones) against the file they were written in. */
function absolutizePaths(value: unknown, baseDir: string): unknown {
  if (Array.isArray(value)) return value.map((v) => absolutizePaths(v, baseDir));
  if (typeof value !== "object" || value === null) return value;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === "fieldMapping" || k === "tags") out[k] = v;
    else if (k === "path" && obj.kind === "file_source" && typeof v === "string" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) out[k] = resolve(baseDir, v);
    else out[k] = typeof v === "function" ? v : absolutizePaths(v, baseDir);
  }
  return out;
}

function isDefinitionObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && typeof (v as { kind?: unknown }).kind === "string" && (v as { kind: string }).kind in KIND_LABEL;
}

async function readModuleDefinitions(file: string): Promise<AuthoredObject[]> {
  let url = pathToFileURL(file).href;
  let temp: string | undefined;
  if (/\.m?ts$/i.test(file)) {
    const { build } = await import("esbuild");
    let code: string;
    try {
      const result = await build({
        entryPoints: [file],
        bundle: true,
        format: "esm",
        platform: "node",
        target: "node20",
        packages: "external",
        write: false,
        logLevel: "silent",
      });
      code = result.outputFiles[0]?.text ?? "";
    } catch (e) {
      const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
      const first = errors[0];
      const where = first?.location ? `${first.location.file}:${first.location.line}: ` : "";
      throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${file}: does not compile: ${where}${first?.text ?? (e as Error).message}`);
    }
    // Written beside the source so that its package imports resolve as they would from there.
    temp = join(dirname(file), `.flywheel-${basename(file).replace(/\W/g, "_")}-${randomUUID()}.mjs`);
    await writeFile(temp, code);
    url = pathToFileURL(temp).href;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${file}: failed to load: ${(e as Error).message}`);
  } finally {
    if (temp !== undefined) await rm(temp, { force: true });
  }
  const out: AuthoredObject[] = [];
  for (const [name, value] of Object.entries(mod)) {
    if (isDefinitionObject(value)) out.push({ value, where: `${file}: export ${name}` });
    else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (isDefinitionObject(v)) out.push({ value: v, where: `${file}: export ${name}[${i}]` });
      });
    }
  }
  return out;
}

const YAML_SECTIONS: Record<string, DefinitionKind | "source"> = {
  entities: "entity",
  sources: "source",
  feature_views: "feature_view",
  on_demand_feature_views: "on_demand_feature_view",
  feature_services: "feature_service",
};

const SNAKE_KEYS: Record<string, string> = {
  join_keys: "joinKeys",
  value_type: "valueType",
  timestamp_field: "timestampField",
  created_timestamp_column: "createdTimestampColumn",
  field_mapping: "fieldMapping",
  batch_source: "batchSource",
};

const SOURCE_KINDS: Record<string, DefinitionKind> = {
  file: "file_source",
  file_source: "file_source",
  push: "push_source",
  push_source: "push_source",
  request: "request_source",
  request_source: "request_source",
};

/** snake_case keys to the camelCase of the TypeScript form; user data (tags, mappings) untouched. */
function camelize(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = SNAKE_KEYS[k] ?? k;
    out[key] = key === "batchSource" ? camelize(v) : v;
  }
  return out;
}

export function readYamlDefinitions(file: string): AuthoredObject[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${file}: not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${file}: the top level must be a mapping of sections (${Object.keys(YAML_SECTIONS).join(", ")})`);
  }
  const out: AuthoredObject[] = [];
  for (const [section, items] of Object.entries(doc as Record<string, unknown>)) {
    const kind = YAML_SECTIONS[section];
    if (kind === undefined) {
      throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${file}: unknown section '${section}' (known: ${Object.keys(YAML_SECTIONS).join(", ")})`);
    }
    if (!Array.isArray(items)) throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${file}: section '${section}' must be a list`);
    items.forEach((item, i) => {
      const where = `${file}: ${section}[${i}]`;
      const obj = camelize(item);
      if (typeof obj !== "object" || obj === null) {
        out.push({ value: obj, where });
        return;
      }
      const rec = { ...(obj as Record<string, unknown>) };
      if (kind === "source") {
        const given = rec.kind ?? rec.type;
        delete rec.type;
        const resolved = typeof given === "string" ? SOURCE_KINDS[given] : undefined;
        if (resolved === undefined) {
          throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${where}: kind: must be file, push or request (got ${JSON.stringify(given)})`);
        }
        rec.kind = resolved;
      } else {
        if (rec.kind !== undefined && rec.kind !== kind) {
          throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${where}: kind: '${String(rec.kind)}' does not belong in section '${section}'`);
        }
        rec.kind = kind;
      }
      if (kind === "feature_service" && Array.isArray(rec.features)) {
        // `- driver_stats: [conv_rate]` is shorthand for `{ view: driver_stats, features: [conv_rate] }`.
        rec.features = rec.features.map((f: unknown) => {
          if (typeof f === "object" && f !== null && !Array.isArray(f) && !("view" in f)) {
            const entries = Object.entries(f);
            if (entries.length === 1) {
              const [view, features] = entries[0] as [string, unknown];
              return { view, features };
            }
          }
          return f;
        });
      }
      out.push({ value: rec, where });
    });
  }
  return out;
}
