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
import { DefinitionErrors, NAME_RE, Reader, describe, isRecord } from "./definition-reader.js";

export { DefinitionErrors, NAME_RE };
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
  type FileSourceDef,
  type OnDemandFeatureViewDef,
  type PushSourceDef,
  type RequestSourceDef,
  type ScalarType,
} from "./definitions.js";

export interface NormalizeOptions {
  /** Relative file-source paths are resolved against this directory. */
  baseDir: string;
}

const KINDS = Object.keys(KIND_LABEL) as DefinitionKind[];
const SCALARS = new Set<string>(SCALAR_TYPES);

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
