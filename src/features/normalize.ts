/**
 * Turns authored definitions (objects from `define*` calls, or YAML documents) into a normalized
 * `FeatureRepo`, checking each object's own fields. Every problem is collected, then reported
 * at once, each naming the object and the field: `feature view 'driver_stats': ttl: ...`.
 *
 * Objects given inline (a source inside a feature view, an entity inside `entities`) are
 * collected as objects of their own and replaced by their names; the same name given twice must
 * mean the same object.
 */
import { isAbsolute, resolve } from "node:path";
import { FlywheelError } from "../core/errors.js";
import {
  KIND_LABEL,
  SCALAR_TYPES,
  type Definition,
  type DefinitionKind,
  type EntityDef,
  type FeatureRepo,
  type FeatureServiceDef,
  type FeatureServiceProjection,
  type FeatureViewDef,
  type Field,
  type FileSourceDef,
  type OnDemandFeatureViewDef,
  type PushSourceDef,
  type RequestSourceDef,
  type ScalarType,
  type ValueType,
} from "./definitions.js";

/** Letters, digits and `_`, `.`, `-`; not starting with `__` (reserved); at most 255 characters. */
export const NAME_RE = /^(?!__)[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export class DefinitionErrors {
  readonly messages: string[] = [];
  add(where: string, field: string, rule: string): void {
    this.messages.push(`${where}: ${field}: ${rule}`);
  }
  throwIfAny(): void {
    if (this.messages.length === 0) return;
    const head = this.messages.length === 1 ? "Invalid feature definition" : `${this.messages.length} invalid feature definitions`;
    throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${head}: ${this.messages.join("; ")}`, {
      details: { errors: [...this.messages] },
    });
  }
}

export interface NormalizeOptions {
  /** Relative file-source paths are resolved against this directory. */
  baseDir: string;
}

const KINDS = Object.keys(KIND_LABEL) as DefinitionKind[];
const SCALARS = new Set<string>(SCALAR_TYPES);

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "function") return "a function";
  return typeof v === "object" ? "a mapping" : String(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses a duration: seconds as a number or digits, or units such as "90s", "15m", "2h", "1d 12h", "1w". */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) return undefined;
    total += Number(m[1]) * (unit[m[2] as string] as number);
    pos = re.lastIndex;
  }
  return total;
}

/** Collects objects by kind and name, inline ones included. */
class Collector {
  readonly byKey = new Map<string, Definition>();
  constructor(
    readonly errors: DefinitionErrors,
    readonly options: NormalizeOptions,
  ) {}

  add(raw: unknown, where: string): string | undefined {
    if (!isRecord(raw)) {
      this.errors.add(where, "definition", `must be a mapping (got ${describe(raw)})`);
      return undefined;
    }
    const kind = raw.kind;
    if (typeof kind !== "string" || !KINDS.includes(kind as DefinitionKind)) {
      this.errors.add(where, "kind", `must be one of ${KINDS.join(", ")} (got ${describe(kind)})`);
      return undefined;
    }
    const name = raw.name;
    const label = KIND_LABEL[kind as DefinitionKind];
    if (typeof name !== "string" || !NAME_RE.test(name) || name.length > 255) {
      this.errors.add(`${label} ${typeof name === "string" ? `'${name}'` : "(unnamed)"}`, "name", "must be letters, digits, '_', '.' or '-', not starting with '__', at most 255 characters");
      return undefined;
    }
    const def = this.normalize(kind as DefinitionKind, name, raw);
    if (def === undefined) return name;
    const key = `${def.kind}/${name}`;
    const existing = this.byKey.get(key);
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(def)) {
      this.errors.add(`${label} '${name}'`, "name", "is defined twice with different contents");
    }
    this.byKey.set(key, def);
    return name;
  }

  /** A reference: a name, or an inline object of one of `kinds` (collected). */
  ref(raw: unknown, kinds: DefinitionKind[], where: string, field: string): string | undefined {
    if (typeof raw === "string") {
      if (raw === "") this.errors.add(where, field, "must not be empty");
      return raw === "" ? undefined : raw;
    }
    if (isRecord(raw) && typeof raw.kind === "string") {
      if (!kinds.includes(raw.kind as DefinitionKind)) {
        this.errors.add(where, field, `must be a ${kinds.map((k) => KIND_LABEL[k]).join(" or ")} (got a ${KIND_LABEL[raw.kind as DefinitionKind] ?? String(raw.kind)})`);
        return undefined;
      }
      return this.add(raw, `${where}: ${field}`);
    }
    this.errors.add(where, field, `must be the name of a ${kinds.map((k) => KIND_LABEL[k]).join(" or ")}, or the object (got ${describe(raw)})`);
    return undefined;
  }

  private normalize(kind: DefinitionKind, name: string, raw: Record<string, unknown>): Definition | undefined {
    const where = `${KIND_LABEL[kind]} '${name}'`;
    const r = new Reader(raw, where, this.errors);
    const common = r.described();
    switch (kind) {
      case "entity": {
        const joinKeys = r.nameList("joinKeys", { min: 1 }) ?? [];
        const valueType = (r.optionalString("valueType") ?? "String") as ScalarType;
        if (!SCALARS.has(valueType)) this.errors.add(where, "valueType", `must be one of ${SCALAR_TYPES.join(", ")} (got ${describe(valueType)})`);
        r.done(["kind", "name", "joinKeys", "valueType", "description", "tags", "owner"]);
        return { kind, name, joinKeys, valueType, ...common } satisfies EntityDef;
      }
      case "file_source": {
        const path = r.string("path");
        const timestampField = r.string("timestampField");
        const created = r.optionalString("createdTimestampColumn");
        const mapping = r.stringMap("fieldMapping");
        let format = r.optionalString("format");
        if (format === undefined && path !== undefined) format = /\.csv(\.gz)?$/i.test(path) ? "csv" : "parquet";
        if (format !== undefined && format !== "parquet" && format !== "csv") this.errors.add(where, "format", `must be parquet or csv (got ${describe(format)})`);
        let resolved = path ?? "";
        if (path !== undefined) {
          if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) this.errors.add(where, "path", "must be a local file path (URLs are not supported)");
          else if (path.includes("\u0000")) this.errors.add(where, "path", "must not contain a NUL character");
          else resolved = isAbsolute(path) ? path : resolve(this.options.baseDir, path);
        }
        r.done(["kind", "name", "path", "format", "timestampField", "createdTimestampColumn", "fieldMapping", "description", "tags", "owner"]);
        return {
          kind,
          name,
          path: resolved,
          format: (format ?? "parquet") as FileSourceDef["format"],
          timestampField: timestampField ?? "",
          ...(created === undefined ? {} : { createdTimestampColumn: created }),
          ...(mapping === undefined ? {} : { fieldMapping: mapping }),
          ...common,
        } satisfies FileSourceDef;
      }
      case "push_source": {
        const batchSource = this.ref(raw.batchSource, ["file_source"], where, "batchSource") ?? "";
        r.done(["kind", "name", "batchSource", "description", "tags", "owner"]);
        return { kind, name, batchSource, ...common } satisfies PushSourceDef;
      }
      case "request_source": {
        const schema = r.fields("schema", { min: 1 }) ?? [];
        r.done(["kind", "name", "schema", "description", "tags", "owner"]);
        return { kind, name, schema, ...common } satisfies RequestSourceDef;
      }
      case "feature_view": {
        const entitiesRaw = raw.entities;
        let entities: string[] = [];
        if (!Array.isArray(entitiesRaw)) this.errors.add(where, "entities", `must be a list of entities (got ${describe(entitiesRaw)})`);
        else entities = entitiesRaw.map((e, i) => this.ref(e, ["entity"], where, `entities[${i}]`)).filter((e): e is string => e !== undefined);
        const source = this.ref(raw.source, ["file_source", "push_source"], where, "source") ?? "";
        const schema = r.fields("schema", { min: 0 }) ?? [];
        // `ttl` when authored; `ttlSeconds` in the normalized form (re-normalizing is a no-op).
        let ttlSeconds = 0;
        const ttlKey = raw.ttl === undefined && raw.ttlSeconds !== undefined ? "ttlSeconds" : "ttl";
        const ttlRaw = raw[ttlKey];
        if (raw.ttl !== undefined && raw.ttlSeconds !== undefined) this.errors.add(where, "ttl", "give ttl or ttlSeconds, not both");
        else if (ttlRaw !== undefined && ttlRaw !== null) {
          const ttl = ttlKey === "ttlSeconds" ? (typeof ttlRaw === "number" && ttlRaw >= 0 ? ttlRaw : undefined) : parseDuration(ttlRaw);
          if (ttl === undefined) this.errors.add(where, ttlKey, `must be a duration in seconds or like "2h", "1d", "1d 12h" (got ${describe(ttlRaw)})`);
          else ttlSeconds = ttl;
        }
        const online = r.optionalBool("online") ?? true;
        r.done(["kind", "name", "entities", "source", "schema", "ttl", "ttlSeconds", "online", "description", "tags", "owner"]);
        return { kind, name, entities, schema, ttlSeconds, source, online, ...common } satisfies FeatureViewDef;
      }
      case "on_demand_feature_view": {
        const sourcesRaw = raw.sources;
        let sources: string[] = [];
        if (!Array.isArray(sourcesRaw) || sourcesRaw.length === 0) this.errors.add(where, "sources", `must be a non-empty list of feature views or request sources (got ${describe(sourcesRaw)})`);
        else sources = sourcesRaw.map((s, i) => this.ref(s, ["feature_view", "request_source"], where, `sources[${i}]`)).filter((s): s is string => s !== undefined);
        const schema = r.fields("schema", { min: 1 }) ?? [];
        let transform = "";
        if (typeof raw.transform === "function") transform = raw.transform.toString();
        else if (typeof raw.transform === "string" && raw.transform.trim() !== "") transform = raw.transform.trim();
        else this.errors.add(where, "transform", `must be a function, or its source text (got ${describe(raw.transform)})`);
        r.done(["kind", "name", "sources", "schema", "transform", "description", "tags", "owner"]);
        return { kind, name, sources, schema, transform, ...common } satisfies OnDemandFeatureViewDef;
      }
      case "feature_service": {
        const featuresRaw = raw.features;
        const features: FeatureServiceProjection[] = [];
        if (!Array.isArray(featuresRaw) || featuresRaw.length === 0) {
          this.errors.add(where, "features", `must be a non-empty list of views or { view, features } projections (got ${describe(featuresRaw)})`);
        } else {
          featuresRaw.forEach((f, i) => {
            const p = this.projection(f, where, `features[${i}]`);
            if (p !== undefined) features.push(p);
          });
        }
        r.done(["kind", "name", "features", "description", "tags", "owner"]);
        return { kind, name, features, ...common } satisfies FeatureServiceDef;
      }
    }
  }

  private projection(raw: unknown, where: string, field: string): FeatureServiceProjection | undefined {
    if (isRecord(raw) && raw.kind === undefined && "view" in raw) {
      const view = this.ref(raw.view, ["feature_view", "on_demand_feature_view"], where, `${field}.view`);
      if (view === undefined) return undefined;
      if (raw.features === undefined) return { view };
      if (!Array.isArray(raw.features) || raw.features.length === 0 || !raw.features.every((x) => typeof x === "string")) {
        this.errors.add(where, `${field}.features`, `must be a non-empty list of feature names (got ${describe(raw.features)})`);
        return undefined;
      }
      return { view, features: [...(raw.features as string[])] };
    }
    const view = this.ref(raw, ["feature_view", "on_demand_feature_view"], where, field);
    return view === undefined ? undefined : { view };
  }
}

/** Reads typed fields of one raw object, recording errors against the object. */
class Reader {
  constructor(
    private readonly raw: Record<string, unknown>,
    private readonly where: string,
    private readonly errors: DefinitionErrors,
  ) {}

  string(key: string): string | undefined {
    const v = this.raw[key];
    if (typeof v !== "string" || v === "") {
      this.errors.add(this.where, key, `is required and must be a non-empty string (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  optionalString(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || v === "") {
      this.errors.add(this.where, key, `must be a non-empty string (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  optionalBool(key: string): boolean | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.errors.add(this.where, key, `must be true or false (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  stringMap(key: string): Record<string, string> | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (!isRecord(v) || !Object.values(v).every((x) => typeof x === "string")) {
      this.errors.add(this.where, key, `must be a mapping of strings (got ${describe(v)})`);
      return undefined;
    }
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as Record<string, string>;
  }

  nameList(key: string, { min }: { min: number }): string[] | undefined {
    const v = this.raw[key];
    if (!Array.isArray(v) || v.length < min || !v.every((x) => typeof x === "string" && NAME_RE.test(x))) {
      this.errors.add(this.where, key, `must be a list of at least ${min} names of letters, digits, '_', '.' or '-' (got ${describe(v)})`);
      return undefined;
    }
    if (new Set(v).size !== v.length) this.errors.add(this.where, key, "must not repeat a name");
    return [...(v as string[])];
  }

  fields(key: string, { min }: { min: number }): Field[] | undefined {
    const v = this.raw[key];
    if (v === undefined && min === 0) return [];
    if (!Array.isArray(v) || v.length < min) {
      this.errors.add(this.where, key, `must be a list of at least ${min} { name, dtype } fields (got ${describe(v)})`);
      return undefined;
    }
    const out: Field[] = [];
    const seen = new Set<string>();
    v.forEach((f, i) => {
      const at = `${key}[${i}]`;
      if (!isRecord(f)) {
        this.errors.add(this.where, at, `must be a { name, dtype } mapping (got ${describe(f)})`);
        return;
      }
      const name = f.name;
      if (typeof name !== "string" || !NAME_RE.test(name)) {
        this.errors.add(this.where, `${at}.name`, `must be letters, digits, '_', '.' or '-', not starting with '__' (got ${describe(name)})`);
        return;
      }
      if (seen.has(name)) this.errors.add(this.where, `${at}.name`, `'${name}' is listed twice`);
      seen.add(name);
      const dtype = f.dtype;
      if (typeof dtype !== "string" || !isValueType(dtype)) {
        this.errors.add(this.where, `${at}.dtype`, `must be one of ${SCALAR_TYPES.join(", ")} or Array(<one of them>) (got ${describe(dtype)})`);
        return;
      }
      const field: Field = { name, dtype };
      if (typeof f.description === "string") field.description = f.description;
      out.push(field);
    });
    return out;
  }

  described(): { description?: string; tags?: Record<string, string>; owner?: string } {
    const description = this.optionalString("description");
    const owner = this.optionalString("owner");
    const tags = this.stringMap("tags");
    return {
      ...(description === undefined ? {} : { description }),
      ...(tags === undefined ? {} : { tags }),
      ...(owner === undefined ? {} : { owner }),
    };
  }

  /** Unknown keys are errors, so a typo (`timestamp_feild`) is not silently ignored. */
  done(known: string[]): void {
    for (const key of Object.keys(this.raw)) {
      if (!known.includes(key)) this.errors.add(this.where, key, `is not a known field (known: ${known.filter((k) => k !== "kind").join(", ")})`);
    }
  }
}

export function isValueType(s: string): s is ValueType {
  if (SCALARS.has(s)) return true;
  const m = /^Array\((\w+)\)$/.exec(s);
  return m !== null && SCALARS.has(m[1] as string);
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Normalizes authored objects into a repo. Throws FW_FEATURES_DEFINITION_INVALID listing every
 * problem found in the objects' own fields (cross-object checks are `validateRepo`'s).
 */
export function normalizeDefinitions(objects: readonly { value: unknown; where: string }[], options: NormalizeOptions): FeatureRepo {
  const errors = new DefinitionErrors();
  const c = new Collector(errors, options);
  for (const o of objects) c.add(o.value, o.where);
  errors.throwIfAny();
  const repo: FeatureRepo = { entities: [], sources: [], featureViews: [], onDemandFeatureViews: [], featureServices: [] };
  const names = new Map<string, string>();
  for (const def of c.byKey.values()) {
    // Feature views and on-demand views share one namespace, as do the three source kinds.
    const space = def.kind.endsWith("source") ? "source" : def.kind.endsWith("feature_view") ? "view" : def.kind;
    const other = names.get(`${space}/${def.name}`);
    if (other !== undefined && other !== def.kind) {
      errors.add(`${KIND_LABEL[def.kind]} '${def.name}'`, "name", `is also the name of a ${KIND_LABEL[other as DefinitionKind]}`);
    }
    names.set(`${space}/${def.name}`, def.kind);
    switch (def.kind) {
      case "entity":
        repo.entities.push(def);
        break;
      case "file_source":
      case "push_source":
      case "request_source":
        repo.sources.push(def);
        break;
      case "feature_view":
        repo.featureViews.push(def);
        break;
      case "on_demand_feature_view":
        repo.onDemandFeatureViews.push(def);
        break;
      case "feature_service":
        repo.featureServices.push(def);
        break;
    }
  }
  errors.throwIfAny();
  repo.entities.sort(byName);
  repo.sources.sort(byName);
  repo.featureViews.sort(byName);
  repo.onDemandFeatureViews.sort(byName);
  repo.featureServices.sort(byName);
  return repo;
}
