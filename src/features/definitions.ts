/**
 * Feature-store definitions, as Feast has them: entities, sources (file, push, request), feature
 * views, on-demand feature views and feature services.
 *
 * Users write them as TypeScript modules with the `define*` functions (objects may refer to each
 * other directly, e.g. `entities: [driver]`) or as YAML (objects refer to each other by name).
 * Either way they are normalized into a `FeatureRepo`: plain JSON, every reference a name, every
 * list sorted by name. That is what `flywheel features apply` stores, versioned, in the metadata
 * store, and what plans are diffed against.
 *
 * @example
 * export const driver = defineEntity({ name: "driver", joinKeys: ["driver_id"], valueType: "Int64" });
 * export const stats = defineFeatureView({
 *   name: "driver_stats", entities: [driver], ttl: "1d",
 *   source: defineFileSource({ name: "driver_stats_src", path: "data/driver_stats.parquet", timestampField: "event_timestamp" }),
 *   schema: [{ name: "conv_rate", dtype: "Float32" }, { name: "trips", dtype: "Int64" }],
 * });
 */

/** Feast's scalar types, and lists of them as `Array(<type>)`. */
export const SCALAR_TYPES = ["Int32", "Int64", "Float32", "Float64", "String", "Bytes", "Bool", "UnixTimestamp"] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
export type ValueType = ScalarType | `Array(${ScalarType})`;

export interface Field {
  name: string;
  dtype: ValueType;
  description?: string;
  tags?: Record<string, string>;
}

interface Described {
  description?: string;
  tags?: Record<string, string>;
  owner?: string;
}

export interface EntityDef extends Described {
  kind: "entity";
  name: string;
  /** The columns that identify the entity in sources and requests (Feast: `join_keys`). */
  joinKeys: string[];
  valueType: ScalarType;
}

export type FileFormat = "parquet" | "csv";

export interface FileSourceDef extends Described {
  kind: "file_source";
  name: string;
  /** A Parquet or CSV file (or a glob of them); relative paths are resolved against the definition file. */
  path: string;
  format: FileFormat;
  timestampField: string;
  createdTimestampColumn?: string;
  /** Source column → feature view column. */
  fieldMapping?: Record<string, string>;
}

export interface PushSourceDef extends Described {
  kind: "push_source";
  name: string;
  /** The file source that holds the history of what is pushed (Feast: `batch_source`). */
  batchSource: string;
}

export interface RequestSourceDef extends Described {
  kind: "request_source";
  name: string;
  /** Fields the caller sends with each request, for on-demand views. */
  schema: Field[];
}

export type SourceDef = FileSourceDef | PushSourceDef | RequestSourceDef;

export interface FeatureViewDef extends Described {
  kind: "feature_view";
  name: string;
  entities: string[];
  /** The features (entity join-key columns, when listed, are not features). */
  schema: Field[];
  /** 0: no limit. */
  ttlSeconds: number;
  /** A file source or a push source. */
  source: string;
  /** Materialized to the online store (default true). */
  online: boolean;
}

export interface OnDemandFeatureViewDef extends Described {
  kind: "on_demand_feature_view";
  name: string;
  /** Feature views and request sources whose values the transformation reads. */
  sources: string[];
  /** The features the transformation returns. */
  schema: Field[];
  /**
   * The transformation's source text: a self-contained JavaScript function from one row (an object
   * of the source features, by name, and request fields) to an object of the output features. It
   * runs the same way for historical retrieval and online reads, in an isolated context without
   * access to modules, the file system or the network.
   */
  transform: string;
}

export interface FeatureServiceProjection {
  view: string;
  /** The view's features to include; all of them when absent. */
  features?: string[];
}

export interface FeatureServiceDef extends Described {
  kind: "feature_service";
  name: string;
  features: FeatureServiceProjection[];
}

export type Definition = EntityDef | SourceDef | FeatureViewDef | OnDemandFeatureViewDef | FeatureServiceDef;
export type DefinitionKind = Definition["kind"];

/** Every object of a project, normalized: plain JSON, references by name, lists sorted by name. */
export interface FeatureRepo {
  entities: EntityDef[];
  sources: SourceDef[];
  featureViews: FeatureViewDef[];
  onDemandFeatureViews: OnDemandFeatureViewDef[];
  featureServices: FeatureServiceDef[];
}

export const EMPTY_REPO: FeatureRepo = { entities: [], sources: [], featureViews: [], onDemandFeatureViews: [], featureServices: [] };

/** How each kind is named in messages. */
export const KIND_LABEL: Record<DefinitionKind, string> = {
  entity: "entity",
  file_source: "file source",
  push_source: "push source",
  request_source: "request source",
  feature_view: "feature view",
  on_demand_feature_view: "on-demand feature view",
  feature_service: "feature service",
};

// ---------------------------------------------------------------------------------------------
// The TypeScript authoring functions. They only tag their argument with its kind; checking and
// normalizing happen when the objects are collected (see `load.ts` and `validate.ts`).

/** Another object, by name or as the object itself (a `define*` result). */
type Ref<K extends DefinitionKind> = string | { kind: K; name: string };
type Authoring<T extends Definition, Omitted extends keyof T = never> = Omit<T, "kind" | Omitted>;

export type EntityInput = Authoring<EntityDef, "valueType"> & { valueType?: ScalarType };
export type FileSourceInput = Authoring<FileSourceDef, "format"> & { format?: FileFormat };
export type PushSourceInput = Authoring<PushSourceDef, "batchSource"> & { batchSource: Ref<"file_source"> };
export type RequestSourceInput = Authoring<RequestSourceDef>;
/** A duration: seconds as a number, or a string such as "86400s", "2h", "1d 12h", "30m". */
export type Duration = number | string;
export type FeatureViewInput = Authoring<FeatureViewDef, "entities" | "ttlSeconds" | "source" | "online"> & {
  entities: Ref<"entity">[];
  ttl?: Duration;
  source: Ref<"file_source"> | Ref<"push_source">;
  online?: boolean;
};
/** A row a transformation sees: source features and request fields by name (numbers, strings, booleans, lists, null). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- feature values are typed by the view's schema, not statically
export type OnDemandRow = Record<string, any>;
export type OnDemandFeatureViewInput = Authoring<OnDemandFeatureViewDef, "sources" | "transform"> & {
  sources: (Ref<"feature_view"> | Ref<"request_source">)[];
  transform: ((row: OnDemandRow) => OnDemandRow) | string;
};
export type FeatureServiceInput = Authoring<FeatureServiceDef, "features"> & {
  features: (Ref<"feature_view"> | Ref<"on_demand_feature_view"> | FeatureServiceProjection)[];
};

/** What the `define*` functions return: the input, tagged with its kind. */
export type Authored<K extends DefinitionKind, I> = I & { kind: K };

export function defineEntity(input: EntityInput): Authored<"entity", EntityInput> {
  return { ...input, kind: "entity" };
}
export function defineFileSource(input: FileSourceInput): Authored<"file_source", FileSourceInput> {
  return { ...input, kind: "file_source" };
}
export function definePushSource(input: PushSourceInput): Authored<"push_source", PushSourceInput> {
  return { ...input, kind: "push_source" };
}
export function defineRequestSource(input: RequestSourceInput): Authored<"request_source", RequestSourceInput> {
  return { ...input, kind: "request_source" };
}
export function defineFeatureView(input: FeatureViewInput): Authored<"feature_view", FeatureViewInput> {
  return { ...input, kind: "feature_view" };
}
export function defineOnDemandFeatureView(input: OnDemandFeatureViewInput): Authored<"on_demand_feature_view", OnDemandFeatureViewInput> {
  return { ...input, kind: "on_demand_feature_view" };
}
export function defineFeatureService(input: FeatureServiceInput): Authored<"feature_service", FeatureServiceInput> {
  return { ...input, kind: "feature_service" };
}
